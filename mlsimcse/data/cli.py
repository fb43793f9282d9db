"""``mlsimcse data ...``: build training datasets from recipes."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlsimcse.choices import FORMS
from mlsimcse.cli_types import add_command
from mlsimcse.data.dataset_files import FORMATS
from mlsimcse.shipped import RECIPES, shipped_files


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command group to the main CLI."""
    data = subparsers.add_parser(
        "data",
        help="build training datasets from data recipes",
        description="Turn corpora into training examples with declarative data recipes (YAML; the shipped "
                    f"ones by short name: {', '.join(shipped_files(RECIPES))}).",
    )
    commands = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    build = add_command(commands, "build", run, "run a recipe and write examples + manifest.json to a folder")
    build.add_argument("recipe", type=Path,
                       help="recipe YAML, or a shipped recipe's short name, e.g. sup-xnli-crosslingual")
    build.add_argument("--out", type=Path, required=True, help="output folder (written atomically)")
    build.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="root of the local corpora and evaluation sets (default: $MLSIMCSE_DATA_ROOT or ../shared/data)",
    )
    build.add_argument("--format", choices=sorted(FORMATS), default="jsonl",
                       help="examples file format; only jsonl can be streamed by the sampler (default: jsonl)")
    build.add_argument("--form", choices=FORMS, default="local",
                       help="read each source's local files or its Hugging Face Hub form; sources without "
                            "that form are skipped and listed in the manifest (default: local)")
    build.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")


def run(args: argparse.Namespace) -> int:
    """Run a data recipe: read its sources (local files under the data root, or the Hugging Face Hub), undo
    tokenisation, filter, de-duplicate, drop sentences found in the evaluation sets, and write the examples
    (grouped by objective and language, ready for streaming) plus a manifest with rows per source and language,
    dropped rows by reason, decontamination counts and input sha256s."""
    from mlsimcse.data.build import build_dataset

    manifest = build_dataset(args.recipe, args.out, data_root=args.data_root, fmt=args.format, form=args.form,
                             overwrite=args.overwrite)
    print(f"wrote {manifest['output']['rows']} examples to {args.out / manifest['output']['file']}")
    for key, count in manifest["examples_by_language"].items():
        print(f"  {key}: {count}")
    removed = manifest["decontamination"]["removed"]
    print(f"decontamination removed {removed} examples; skipped sources: {manifest['skipped_sources'] or 'none'}")
    return 0
