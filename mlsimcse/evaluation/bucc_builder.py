"""Build a BUCC-format mining benchmark from any line-aligned parallel corpus.

The official BUCC 2018 data covers four language pairs; anyone mining another pair needs a yardstick. Hiding
gold translation pairs among distractors from the same corpus — sentences whose translation is *not* on the
other side — makes one: same topic and register, so only translation-level similarity finds the gold
pairs. Rows whose source or target text already occurred are skipped, so every gold pair is unambiguous.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from mlsimcse.errors import InputError
from mlsimcse.evaluation.loaders.bucc import pair_languages
from mlsimcse.evaluation.loaders.origin import display_name
from mlsimcse.evaluation.loaders.parallel import read_parallel_files
from mlsimcse.io_utils import atomic_path, check_output_path, refuse_existing_output, sha256_file, write_json

SPLIT_SIZE_PATTERN = re.compile(r"^([A-Za-z0-9_]+)=(\d+):(\d+)$")


@dataclass(frozen=True)
class SplitSize:
    """A split to build: its name, how many gold pairs, and how many distractors (split across both sides)."""

    name: str
    gold_pairs: int
    distractors: int

    @property
    def source_distractors(self) -> int:
        return (self.distractors + 1) // 2

    @property
    def target_distractors(self) -> int:
        return self.distractors // 2

    @property
    def rows_needed(self) -> int:
        return self.gold_pairs + self.distractors


def parse_split_size(text: str) -> SplitSize:
    """``NAME=GOLD_PAIRS:DISTRACTORS``, e.g. ``training=1000:5000``."""
    match = SPLIT_SIZE_PATTERN.match(text)
    if not match:
        raise InputError(f"split {text!r} is not NAME=GOLD_PAIRS:DISTRACTORS (e.g. training=1000:5000)")
    size = SplitSize(match.group(1), int(match.group(2)), int(match.group(3)))
    if size.gold_pairs < 1:
        raise InputError(f"split {text!r} needs at least one gold pair")
    return size


def build_bucc_benchmark(
    sources: Sequence[Path],
    targets: Sequence[Path],
    folder: Path,
    splits: Sequence[SplitSize],
    *,
    seed: int = 0,
    overwrite: bool = False,
) -> dict[str, object]:
    """Write ``folder`` (named SRC-TGT) with one BUCC split per entry of ``splits``; return its manifest.

    ``sources[i]`` and ``targets[i]`` are line-aligned files; all pairs of files are pooled first. Splits
    draw disjoint rows, so no sentence is in two splits.
    """
    source_language, target_language = pair_languages(folder)
    if len(sources) != len(targets) or not sources:
        raise InputError("give as many source files as target files (at least one of each)")
    if len({split.name for split in splits}) != len(splits) or not splits:
        raise InputError("give at least one split, each with a distinct name")
    check_output_path(folder, inputs=[*sources, *targets], is_dir=True)
    if not overwrite:
        refuse_existing_output(folder, "output folder exists and is not empty (pass --overwrite to replace it)")
    rows, skipped = _usable_rows(sources, targets)
    needed = sum(split.rows_needed for split in splits)
    if needed > len(rows):
        raise InputError(f"the splits need {needed} distinct rows but the corpus has only {len(rows)} usable rows")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(rows))
    manifest: dict[str, object] = {
        "pair": f"{source_language}-{target_language}",
        "seed": seed,
        "inputs": [{"source": _file_record(s), "target": _file_record(t)} for s, t in zip(sources, targets)],
        "usable_rows": len(rows),
        "rows_skipped": skipped,
        "splits": [asdict(split) for split in splits],
    }
    with atomic_path(folder, is_dir=True) as staging:
        start = 0
        for split in splits:
            taken = [rows[i] for i in order[start : start + split.rows_needed]]
            start += split.rows_needed
            _write_split(staging, split, taken, source_language, target_language, rng)
        write_json(staging / "manifest.json", manifest)
    return manifest


def _file_record(path: Path) -> dict[str, str]:
    return {"path": display_name(Path(path)), "sha256": sha256_file(path)}


def _usable_rows(sources: Sequence[Path], targets: Sequence[Path]) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """Pooled (source, target) rows, minus rows that repeat an earlier text or hold a tab."""
    rows: list[tuple[str, str]] = []
    seen_sources: set[str] = set()
    seen_targets: set[str] = set()
    skipped = {"repeated_text": 0, "tab_in_text": 0}
    for source_path, target_path in zip(sources, targets):
        parallel = read_parallel_files(Path(source_path), Path(target_path))
        for source, target in zip(parallel.sources, parallel.targets):
            if "\t" in source or "\t" in target:
                skipped["tab_in_text"] += 1
            elif source in seen_sources or target in seen_targets:
                skipped["repeated_text"] += 1
            else:
                seen_sources.add(source)
                seen_targets.add(target)
                rows.append((source, target))
    return rows, skipped


def _write_split(
    folder: Path,
    split: SplitSize,
    rows: list[tuple[str, str]],
    source_language: str,
    target_language: str,
    rng: np.random.Generator,
) -> None:
    """Gold rows give both sides; the next rows give source-only, then target-only distractors."""
    gold_end = split.gold_pairs
    source_end = gold_end + split.source_distractors
    source_rows = list(range(source_end))
    target_rows = list(range(gold_end)) + list(range(source_end, len(rows)))
    source_ids = _shuffled_ids(source_rows, source_language, rng)
    target_ids = _shuffled_ids(target_rows, target_language, rng)
    prefix = folder / f"{source_language}-{target_language}.{split.name}"
    _write_id_file(Path(f"{prefix}.{source_language}"), source_ids, [row[0] for row in rows])
    _write_id_file(Path(f"{prefix}.{target_language}"), target_ids, [row[1] for row in rows])
    gold_lines = sorted(f"{source_ids[row]}\t{target_ids[row]}\n" for row in range(gold_end))
    Path(f"{prefix}.gold").write_text("".join(gold_lines), encoding="utf-8")


def _shuffled_ids(row_numbers: list[int], language: str, rng: np.random.Generator) -> dict[int, str]:
    """Row -> id, numbered in a random order so neither ids nor line order reveal the alignment."""
    positions = rng.permutation(len(row_numbers))
    return {row: f"{language}-{position:08d}" for row, position in zip(row_numbers, positions)}


def _write_id_file(path: Path, ids: dict[int, str], texts: list[str]) -> None:
    lines = sorted((sentence_id, texts[row]) for row, sentence_id in ids.items())
    path.write_text("".join(f"{sentence_id}\t{text}\n" for sentence_id, text in lines), encoding="utf-8")
