"""BUCC 2018 bitext-mining data: two sets of (id, sentence) and the gold id pairs between them.

The layout is the shared task's own, so the official BUCC files and benchmarks built from any parallel
corpus (``mlsimcse make-bucc``) read the same way: a folder named ``xx-yy`` holding ``xx-yy.SPLIT.xx`` and
``xx-yy.SPLIT.yy`` as ``id<TAB>sentence`` lines, and ``xx-yy.SPLIT.gold`` as ``xx-id<TAB>yy-id`` lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mlsimcse.errors import InputError
from mlsimcse.evaluation.loaders.origin import DataOrigin
from mlsimcse.evaluation.loaders.text_files import require_text, split_fields
from mlsimcse.text_lines import read_lines

PAIR_PATTERN = re.compile(r"^([A-Za-z]{2,3})-([A-Za-z]{2,3})$")


@dataclass(frozen=True)
class BitextSplit:
    """Sentences on both sides with their ids, and the gold (source id, target id) pairs."""

    source_ids: list[str]
    source_sentences: list[str]
    target_ids: list[str]
    target_sentences: list[str]
    gold: frozenset[tuple[str, str]]
    origin: DataOrigin

    def sentences(self) -> list[str]:
        return self.source_sentences + self.target_sentences


def pair_languages(folder: Path) -> tuple[str, str]:
    """(source, target) languages from a folder named like ``fr-en``."""
    match = PAIR_PATTERN.match(Path(folder).name)
    if not match:
        raise InputError("a BUCC folder must be named SRC-TGT, e.g. fr-en", path=folder)
    return match.group(1), match.group(2)


def bucc_split_paths(folder: Path, split: str) -> tuple[Path, Path, Path]:
    source, target = pair_languages(folder)
    prefix = Path(folder) / f"{source}-{target}.{split}"
    return Path(f"{prefix}.{source}"), Path(f"{prefix}.{target}"), Path(f"{prefix}.gold")


def read_bucc_split(folder: Path, split: str) -> BitextSplit:
    """One split of a BUCC folder, checked: unique ids, and gold pairs that name existing ids."""
    if not Path(folder).is_dir():
        raise InputError("BUCC folder not found", path=folder)
    source_path, target_path, gold_path = bucc_split_paths(folder, split)
    source_ids, source_sentences = _read_id_sentences(source_path)
    target_ids, target_sentences = _read_id_sentences(target_path)
    known_source, known_target = set(source_ids), set(target_ids)
    gold: set[tuple[str, str]] = set()
    for line_no, line in enumerate(read_lines(gold_path), start=1):
        source_id, target_id = split_fields(line, 2, path=gold_path, line_no=line_no, what="source id, target id")
        if source_id not in known_source:
            absent = f"source id {source_id!r}, absent from {source_path.name}"
            raise InputError(f"gold names {absent}", path=gold_path, line=line_no)
        if target_id not in known_target:
            absent = f"target id {target_id!r}, absent from {target_path.name}"
            raise InputError(f"gold names {absent}", path=gold_path, line=line_no)
        gold.add((source_id, target_id))
    if not gold:
        raise InputError("no gold pairs", path=gold_path)
    return BitextSplit(
        source_ids,
        source_sentences,
        target_ids,
        target_sentences,
        frozenset(gold),
        DataOrigin.from_files([source_path, target_path, gold_path]),
    )


def _read_id_sentences(path: Path) -> tuple[list[str], list[str]]:
    ids: list[str] = []
    sentences: list[str] = []
    seen: set[str] = set()
    for line_no, line in enumerate(read_lines(path), start=1):
        sentence_id, sentence = split_fields(line, 2, path=path, line_no=line_no, what="id, sentence")
        if not sentence_id or sentence_id in seen:
            raise InputError(f"empty or repeated id {sentence_id!r}", path=path, line=line_no)
        seen.add(sentence_id)
        ids.append(sentence_id)
        sentences.append(require_text(sentence, what="sentence", path=path, line=line_no))
    if not ids:
        raise InputError("no sentences", path=path)
    return ids, sentences
