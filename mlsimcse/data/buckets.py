"""Split example sources into buckets of one objective and one language that can be read chunk by chunk.

The sampler draws every batch from a single bucket kind (one objective, optionally one language) and
weights languages by their size, so it needs examples grouped by (objective, language) and the size of
each group before it starts. An in-memory source is grouped directly; a JSONL file streamed from disk is
indexed once (byte ranges of each group, a few integers per run of equal keys) and then read in chunks,
so memory stays flat however large the file is.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Protocol

from mlsimcse.errors import InputError
from mlsimcse.progress import progress_bar
from mlsimcse.records import Example

UNKNOWN_LANGUAGE = "und"
"""ISO 639-2 'undetermined', for examples that carry no language tags."""


def language_key(example: Example) -> str:
    """The language a batch is homogeneous in: the pair for translations and cross-lingual scored pairs, else the
    first text's language."""
    if not example.langs:
        return UNKNOWN_LANGUAGE
    if example.objective == "parallel" or (example.objective == "scored" and len(set(example.langs)) > 1):
        return "-".join(example.langs)
    return example.langs[0]


class ChunkReader(Protocol):
    """Reads a bucket's examples in order, a bounded chunk at a time, from an opaque integer offset."""

    start: int

    def read_chunk(self, offset: int, limit: int) -> tuple[list[Example], int | None]:
        """Up to ``limit`` examples from ``offset`` and the offset after them (None at the bucket's end)."""
        ...


@dataclass(frozen=True)
class Bucket:
    """All examples of one objective and language within one source."""

    objective: str
    language: str
    rows: int
    reader: ChunkReader

    @property
    def key(self) -> str:
        return f"{self.objective}/{self.language}"


class ListReader:
    """Chunks of an in-memory list; the offset is a list index."""

    start = 0

    def __init__(self, examples: list[Example]):
        self._examples = examples

    def read_chunk(self, offset: int, limit: int) -> tuple[list[Example], int | None]:
        end = min(offset + limit, len(self._examples))
        return self._examples[offset:end], (end if end < len(self._examples) else None)


class JsonlRangeReader:
    """Chunks of the lines in a set of byte ranges of one JSONL file; the offset is a byte position."""

    def __init__(self, path: str, ranges: list[tuple[int, int]]):
        self._path = path
        self._ranges = ranges
        self.start = ranges[0][0]

    def read_chunk(self, offset: int, limit: int) -> tuple[list[Example], int | None]:
        chunk: list[Example] = []
        range_index = self._range_containing(offset)
        with open(self._path, "rb") as handle:
            handle.seek(offset)
            while len(chunk) < limit:
                if offset >= self._ranges[range_index][1]:
                    range_index += 1
                    if range_index == len(self._ranges):
                        return chunk, None
                    offset = self._ranges[range_index][0]
                    handle.seek(offset)
                    continue
                line = handle.readline()
                if line.strip():
                    chunk.append(_example_from_jsonl(line, self._path, f"byte {offset}"))
                offset += len(line)
        at_end = offset >= self._ranges[-1][1]
        return chunk, (None if at_end else offset)

    def _range_containing(self, offset: int) -> int:
        for index, (start, end) in enumerate(self._ranges):
            if start <= offset < end:
                return index
        raise ValueError(f"offset {offset} lies outside every range of {self._path}")


def buckets_from_examples(examples: Iterable[Example]) -> list[Bucket]:
    """Group an in-memory collection by (objective, language), keeping first-seen order."""
    groups: dict[tuple[str, str], list[Example]] = defaultdict(list)
    for example in examples:
        groups[(example.objective, language_key(example))].append(example)
    if not groups:
        raise InputError("the source holds no examples")
    return [Bucket(obj, lang, len(rows), ListReader(rows)) for (obj, lang), rows in groups.items()]


def index_jsonl(path: str) -> list[Bucket]:
    """One validating pass over a JSONL file that records the byte ranges of each (objective, language).

    Files written by ``mlsimcse data build`` are grouped, so each bucket is one range; an ungrouped file
    still works but costs one range per run of equal keys.
    """
    ranges: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    rows: dict[tuple[str, str], int] = defaultdict(int)
    offset = 0
    with open(path, "rb") as handle, progress_bar(
        total=os.path.getsize(path), unit="B", unit_scale=True, desc=f"index {os.path.basename(path)}", leave=False
    ) as progress:
        for line_no, line in enumerate(handle, start=1):
            end = offset + len(line)
            if line.strip():
                example = _example_from_jsonl(line, path, line_no)
                key = (example.objective, language_key(example))
                runs = ranges[key]
                if runs and runs[-1][1] == offset:
                    runs[-1] = (runs[-1][0], end)
                else:
                    runs.append((offset, end))
                rows[key] += 1
            progress.update(len(line))
            offset = end
    if not ranges:
        raise InputError("no examples in file", path=path)
    return [Bucket(obj, lang, rows[(obj, lang)], JsonlRangeReader(path, runs)) for (obj, lang), runs in ranges.items()]


def _example_from_jsonl(line: bytes, path: str, where: int | str) -> Example:
    line_no = where if isinstance(where, int) else None
    suffix = "" if line_no is not None else f" at {where}"
    try:
        row = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 ({err.reason}){suffix}", path=path, line=line_no) from None
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON ({err.msg}){suffix}", path=path, line=line_no) from None
    if not isinstance(row, dict):
        raise InputError(f"expected a JSON object per line{suffix}", path=path, line=line_no)
    try:
        return Example.from_dict(row)
    except InputError as err:
        raise InputError(f"{err.reason}{suffix}", path=path, line=line_no) from None
