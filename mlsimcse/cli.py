"""The ``mlsimcse`` command: one entry point, a subcommand per job.

Each sub-package registers its own subcommands; this module only assembles them and turns bad input
(:class:`~mlsimcse.errors.InputError`) into a one-line message and exit code 2 instead of a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from mlsimcse import __version__
from mlsimcse.errors import InputError

COMMAND_MODULES = (
    "mlsimcse.training.cli",      # train, encode
    "mlsimcse.data.cli",          # data build
    "mlsimcse.evaluation.cli",    # eval
    "mlsimcse.mining.cli",        # mine
    "mlsimcse.export",            # export
    "mlsimcse.quickstart",        # quickstart
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlsimcse",
        description="Train, evaluate and use multilingual sentence encoders with contrastive learning "
                    "(SimCSE: dropout pairs, NLI triplets, translation pairs, distillation).",
        epilog="Run `mlsimcse COMMAND --help` for the options of one command.")
    parser.add_argument("--version", action="version", version=f"mlsimcse {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
