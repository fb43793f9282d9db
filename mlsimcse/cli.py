"""The ``mlsimcse`` command: one entry point, a subcommand per job.

Each sub-package registers its own subcommands; this module only assembles them, sets up logging for the command
that runs (:mod:`mlsimcse.cli_logging`: what goes to stdout and what to stderr, ``-v``/``-q``), and turns bad
input (:class:`~mlsimcse.errors.InputError`) into a one-line message and exit code 2 instead of a traceback.

Every start of ``mlsimcse`` builds every command's parser, so the command modules import nothing heavy at the
top (torch, transformers, numpy ... are imported by the command that runs): ``--help`` and ``--version`` take
a fraction of a second (benchmarks/bench_cli_startup.py).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from mlsimcse import __version__
from mlsimcse.cli_logging import CommandParser, add_verbosity_options, command_logging
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
        epilog="Run `mlsimcse COMMAND --help` for the options of one command. Results go to stdout; messages, "
               "warnings and progress to stderr (-v for more, -q for warnings only). Progress is a live bar in a "
               "terminal and a log line every 30 s elsewhere; MLSIMCSE_PROGRESS=bar, lines or off chooses.")
    parser.add_argument("--version", action="version", version=f"mlsimcse {__version__}")
    add_verbosity_options(parser, default="normal")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
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
        with command_logging(args.verbosity):
            return int(args.func(args) or 0)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
