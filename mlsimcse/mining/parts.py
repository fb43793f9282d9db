"""Splitting mining across jobs: the ``i/N`` part notation and the files a search part leaves behind.

When a corpus outgrows one machine, the source side is cut into N contiguous parts; job i searches its
part against the whole target side (forward neighbours, complete for its rows) and the whole target side
against its part (backward neighbours, a partial top-k over that part only). A merge job then takes the
top-k of the partial backward lists, which equals the top-k over the whole source side, and scores pairs
exactly as a single-machine run would. Part files carry the corpus hashes so a merge of parts from
different inputs is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mlsimcse.errors import InputError
from mlsimcse.io_utils import atomic_path
from mlsimcse.mining.knn import Neighbours, merge_neighbours

PART_FORMAT = "mlsimcse-mining-part/1"


@dataclass(frozen=True)
class Part:
    """Part ``index`` (0-based) of ``count`` equal parts."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise InputError(f"part {self.index}/{self.count} is out of range: need 0 <= i < N")

    @classmethod
    def parse(cls, text: str) -> "Part":
        """``"i/N"``, 0-based, as a job array index gives it (``3/16`` is the fourth of sixteen)."""
        index, slash, count = text.partition("/")
        if not slash or not index.strip().isdigit() or not count.strip().isdigit():
            raise InputError(f"part must look like i/N (for example 0/4), got {text!r}")
        return cls(int(index), int(count))

    def rows(self, n_rows: int) -> tuple[int, int]:
        """This part's contiguous ``[start, stop)`` share of ``n_rows`` rows."""
        return n_rows * self.index // self.count, n_rows * (self.index + 1) // self.count

    def owns_shard(self, shard: int) -> bool:
        """Round-robin ownership of embedding shards, so parts of an embedding job get equal work."""
        return shard % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True)
class SearchPart:
    """What one search job found: forward neighbours of its source rows, backward neighbours over them."""

    part: Part
    src_rows: tuple[int, int]
    forward: Neighbours
    backward: Neighbours
    meta: dict[str, Any]


def save_search_part(path: str | Path, found: SearchPart) -> None:
    meta = {**found.meta, "format": PART_FORMAT, "part": str(found.part), "src_rows": list(found.src_rows)}
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, forward_sims=found.forward.sims, forward_ids=found.forward.ids,
                 backward_sims=found.backward.sims, backward_ids=found.backward.ids, meta=json.dumps(meta))


def load_search_part(path: str | Path) -> SearchPart:
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != PART_FORMAT:
                raise InputError(f"not a mining part file (format {meta.get('format')!r})", path=path)
            return SearchPart(Part.parse(meta["part"]), tuple(meta["src_rows"]),
                              Neighbours(data["forward_sims"], data["forward_ids"]),
                              Neighbours(data["backward_sims"], data["backward_ids"]), meta)
    except FileNotFoundError:
        raise InputError("part file not found", path=path) from None
    except (OSError, ValueError, KeyError) as err:
        raise InputError(f"not a readable mining part file ({err})", path=path) from None


def combine_parts(parts: Sequence[SearchPart], n_src: int) -> tuple[Neighbours, Neighbours]:
    """Whole-corpus forward and backward neighbours from the parts of one split of ``n_src`` source rows."""
    count = parts[0].part.count
    ordered = sorted(parts, key=lambda found: found.part.index)
    if [found.part for found in ordered] != [Part(i, count) for i in range(count)]:
        got = ", ".join(str(found.part) for found in ordered)
        raise InputError(f"need each part 0/{count} .. {count - 1}/{count} exactly once, got: {got}")
    if [found.src_rows for found in ordered] != [found.part.rows(n_src) for found in ordered]:
        raise InputError(f"the parts do not split {n_src} source sentences the way their numbers say")
    forward = Neighbours(np.concatenate([found.forward.sims for found in ordered]),
                         np.concatenate([found.forward.ids for found in ordered]))
    backward = merge_neighbours([found.backward for found in ordered], int(ordered[0].meta["k"]))
    return forward, backward
