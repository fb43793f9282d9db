"""Exact kNN search with plain torch, for installs without faiss.

Queries and database are both walked in ``chunk_size`` tiles; each tile's similarities are reduced to a
top-k at once and merged into the running top-k of its query chunk, so memory holds one tile, never the
N×M matrix. On CPU the database is converted tile by tile from its (float16) source; on an accelerator it
is uploaded once, because re-sending it for every query chunk would dominate the run time.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from mlsimcse.errors import InputError
from mlsimcse.mining.knn import Neighbours, RowSource, SearchConfig, float32_rows
from mlsimcse.progress import progress_bar
from mlsimcse.row_chunks import row_chunks


def torch_knn(queries: RowSource, database: RowSource, k: int, config: SearchConfig, *,
              desc: str = "search") -> Neighbours:
    device = _device(config.device)
    tiles = row_chunks(len(database), config.chunk_size)
    database_tile = _tile_reader(database, tiles, device)
    sims = np.empty((len(queries), k), dtype=np.float32)
    ids = np.empty((len(queries), k), dtype=np.int64)
    for start, stop in progress_bar(row_chunks(len(queries), config.chunk_size), desc=desc, unit="chunk",
                                    enabled=config.progress):
        query = torch.from_numpy(float32_rows(queries, start, stop)).to(device)
        best_sims = torch.empty((stop - start, 0), device=device)
        best_ids = torch.empty((stop - start, 0), dtype=torch.long, device=device)
        for tile_number, (tile_start, tile_stop) in enumerate(tiles):
            tile_sims, tile_ids = torch.topk(query @ database_tile(tile_number).T, min(k, tile_stop - tile_start))
            best_sims = torch.cat([best_sims, tile_sims], dim=1)
            best_ids = torch.cat([best_ids, tile_ids + tile_start], dim=1)
            best_sims, keep = torch.topk(best_sims, min(k, best_sims.shape[1]))
            best_ids = torch.gather(best_ids, 1, keep)
        sims[start:stop] = best_sims.cpu().numpy()
        ids[start:stop] = best_ids.cpu().numpy()
    return Neighbours(sims, ids)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise InputError(f"unknown torch device {name!r}") from None


def _tile_reader(database: RowSource, tiles: list[tuple[int, int]],
                 device: torch.device) -> Callable[[int], torch.Tensor]:
    """Tile number -> float32 tensor on ``device``: read on demand on CPU, uploaded once elsewhere."""
    if device.type == "cpu":
        return lambda number: torch.from_numpy(float32_rows(database, *tiles[number]))
    uploaded = [torch.from_numpy(float32_rows(database, *tile)).to(device) for tile in tiles]
    return uploaded.__getitem__
