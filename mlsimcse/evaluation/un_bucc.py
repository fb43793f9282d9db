"""UN bitext mining benchmarks (``un-bucc:LANG``): built from the UN v1.0 testset on first use, then cached.

The testset (4,000 rows aligned across six languages, formal UN register) is among the evaluation sets every
training recipe removes, so mining its pairs judges a recipe on data it was neither trained nor chosen on.
Building the benchmark the way ``mlsimcse make-bucc`` does (gold pairs hidden among distractors of the same
corpus), with one fixed seed and fixed split sizes, means every machine scores the same benchmark without
anyone running make-bucc by hand. The built folder lives in the cache (:func:`mlsimcse.paths.cache_root`,
never the data root, which may be read-only), named by the input files' sha256 and the build settings, so a
changed file or setting builds a new folder and a folder found there is always the one wanted.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

from mlsimcse.errors import InputError
from mlsimcse.eval_files import UN_TESTSET, local_path
from mlsimcse.evaluation.bucc_builder import SplitSize, build_bucc_benchmark
from mlsimcse.io_utils import sha256_file
from mlsimcse.mining.cache import cache_key
from mlsimcse.paths import cache_root

logger = logging.getLogger(__name__)

UN_BUCC_SEED = 0
UN_BUCC_TUNE = SplitSize("dev", gold_pairs=100, distractors=400)
UN_BUCC_REPORT = SplitSize("test", gold_pairs=300, distractors=1200)
"""2,000 of the testset's about 3,990 usable rows: the threshold is tuned on ``dev`` (100 gold pairs, 300
sentences a side) and F1 reported on ``test`` (300 gold pairs, 900 sentences a side), disjoint rows. Sized so the
five pairs encode in a few minutes on two CPU cores (UN sentences are long, and in Arabic or Russian an English
WordPiece vocabulary cuts them into about 120-150 tokens); one pair's F1 then has a standard error of about 3 points."""

BUILD_FORMAT = 1
"""Part of the cache key: raise it when the builder's output for the same inputs and settings changes."""


def un_bucc_description() -> str:
    """The build settings in words, for the task's protocol."""
    return (
        f"benchmark built by make-bucc from the testset with seed {UN_BUCC_SEED}: split {UN_BUCC_TUNE.name} hides "
        f"{UN_BUCC_TUNE.gold_pairs} gold pairs among {UN_BUCC_TUNE.distractors} distractors, split "
        f"{UN_BUCC_REPORT.name} {UN_BUCC_REPORT.gold_pairs} among {UN_BUCC_REPORT.distractors}"
    )


def un_testset_paths(language: str) -> tuple[Path, Path]:
    """The testset file of ``language`` and the English one, under the data root."""
    return local_path(UN_TESTSET, language=language), local_path(UN_TESTSET, language="en")


def un_bucc_folder(language: str) -> Path:
    """The built benchmark folder ``LANG-en`` for ``language``, building it first when it is not in the cache."""
    source, target = un_testset_paths(language)
    for path in (source, target):
        if not path.is_file():
            raise InputError("UN v1.0 testset file not found (the un-bucc tasks are built from it)", path=path)
    identity = {
        "format": BUILD_FORMAT,
        "seed": UN_BUCC_SEED,
        "splits": [asdict(UN_BUCC_TUNE), asdict(UN_BUCC_REPORT)],
        "inputs_sha256": [sha256_file(source), sha256_file(target)],
    }
    folder = cache_root() / "bucc-un" / cache_key(identity) / f"{language}-en"
    if not (folder / "manifest.json").is_file():  # the builder moves a folder into place only once complete
        logger.info("building the un-bucc %s-en benchmark from %s into %s", language, source.parent, folder)
        build_bucc_benchmark(
            [source], [target], folder, (UN_BUCC_TUNE, UN_BUCC_REPORT), seed=UN_BUCC_SEED, overwrite=True
        )
    return folder
