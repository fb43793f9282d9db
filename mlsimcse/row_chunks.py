"""Cutting ``n`` rows into blocks, the one way every command walks a large matrix or file piece by piece."""

from __future__ import annotations


def row_chunks(n_rows: int, chunk_size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges covering ``n_rows`` rows, ``chunk_size`` at a time.

    A list, not a generator: callers index it (cache shards) and count it (progress bars).
    """
    return [(start, min(start + chunk_size, n_rows)) for start in range(0, n_rows, chunk_size)]
