"""On-disk float16 embedding shards: reused across runs, safe against interrupted runs.

Encoding is the slowest stage of mining, so embeddings are kept and reused: a second run over the same file
with the same model reads them back instead of encoding again. The cache folder is named by a key hashing
the model identity and the file's sha256, so a changed file or model gets a fresh folder. The unique
sentences are cut into fixed-size shards, each written atomically as its own ``.npy`` file — a killed run
leaves only whole shards and the next run encodes just the missing ones. ``manifest.json`` is written last,
once every shard exists; it records the dimension so a model swapped behind the same name is caught.
Each shard's size and sha256 are recorded beside it when it is written (``shard-NNNNN.sum.json``) and checked
once per run before it is reused, so a shard replaced or damaged on disk — even by one of the same shape — is
encoded again instead of silently giving other pairs. Hashing costs about a second per GB of shards, against
the minutes to hours it took to encode them.
Storing float16 halves the disk and page-cache footprint at a precision loss (about 1e-3 in cosine) far
below what separates translations from non-translations.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from mlsimcse.errors import InputError
from mlsimcse.io_utils import atomic_path, remove_stale_temporaries, sha256_file, write_json
from mlsimcse.row_chunks import row_chunks
from mlsimcse.paths import cache_root

logger = logging.getLogger(__name__)

SHARD_ROWS = 32768
MANIFEST = "manifest.json"
STORED_DTYPE = np.float16


def default_cache_root() -> Path:
    """``$MLSIMCSE_CACHE_DIR/embeddings``, else ``$XDG_CACHE_HOME/mlsimcse/embeddings`` (``~/.cache``)."""
    return cache_root() / "embeddings"


def cache_key(identity: dict[str, Any]) -> str:
    """A short stable name for a cache folder: hash of the canonical JSON of what defines its contents."""
    canonical = json.dumps(identity, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:24]


class DiskEmbeddingCache:
    """The on-disk shard folder of one (model, file) pair: which shards exist, writing them, opening the result.

    Not :class:`mlsimcse.evaluation.cache.EmbeddingCache`, which keeps one model's vectors in memory for an
    evaluation; this one survives the process, so a killed or repeated mining run re-encodes nothing done.
    """

    def __init__(self, folder: Path, *, rows: int, dim: int, shard_rows: int, identity: dict[str, Any]):
        if shard_rows < 1:
            raise InputError(f"shard rows must be at least 1, got {shard_rows}")
        self.folder = folder
        self.rows = rows
        self.dim = dim
        self.shard_rows = shard_rows
        self.identity = identity
        self.shards = row_chunks(rows, shard_rows)
        self._verified: dict[int, tuple[int, int, int]] = {}  # shard -> file signature its checksum matched
        self._check_manifest()

    @classmethod
    def open(cls, root: str | Path, *, rows: int, dim: int, identity: dict[str, Any],
             shard_rows: int = SHARD_ROWS) -> "DiskEmbeddingCache":
        """The cache for ``identity`` under ``root`` (created empty when new)."""
        identity = {**identity, "shard_rows": shard_rows, "rows": rows}
        folder = Path(root) / cache_key(identity)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InputError("the embedding cache must be a folder, and this is a file", path=root) from None
        return cls(folder, rows=rows, dim=dim, shard_rows=shard_rows, identity=identity)

    def shard_path(self, shard: int) -> Path:
        return self.folder / f"shard-{shard:05d}.npy"

    def checksum_path(self, shard: int) -> Path:
        return self.folder / f"shard-{shard:05d}.sum.json"

    def missing_shards(self) -> list[int]:
        """Shards not on disk yet, or on disk with the wrong row count (a file left by other settings)."""
        return [shard for shard in range(len(self.shards)) if not self._shard_ok(shard)]

    def write_shard(self, shard: int, vectors: np.ndarray) -> None:
        start, stop = self.shards[shard]
        if vectors.shape != (stop - start, self.dim):
            raise ValueError(f"shard {shard} needs shape {(stop - start, self.dim)}, got {vectors.shape}")
        path = self.shard_path(shard)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, vectors.astype(STORED_DTYPE))
            record = {"bytes": tmp.stat().st_size, "sha256": sha256_file(tmp)}
        write_json(self.checksum_path(shard), record)
        self._verified[shard] = _signature(path)

    def finish(self) -> "ShardedEmbeddings":
        """Seal a cache whose shards are all written (manifest last) and open it for reading."""
        missing = self.missing_shards()
        if missing:
            raise InputError(f"{len(missing)} of {len(self.shards)} embedding shards are not encoded yet "
                             f"(first: {self.shard_path(missing[0]).name})", path=self.folder)
        if not (self.folder / MANIFEST).is_file():
            write_json(self.folder / MANIFEST, {"identity": self.identity, "rows": self.rows, "dim": self.dim,
                                                "dtype": np.dtype(STORED_DTYPE).name,
                                                "shard_rows": self.shard_rows, "shards": len(self.shards)})
            for target in {leftover.name[1:].split(".tmp-")[0] for leftover in self.folder.glob(".shard-*.tmp-*")}:
                remove_stale_temporaries(self.folder / target, unrecognised=True)
        return ShardedEmbeddings([self.shard_path(s) for s in range(len(self.shards))], self.shard_rows,
                                 self.rows, self.dim)

    def _check_manifest(self) -> None:
        manifest = self.folder / MANIFEST
        if manifest.is_file():
            self._check_dim(int(json.loads(manifest.read_text(encoding="utf-8"))["dim"]))

    def _shard_ok(self, shard: int) -> bool:
        path = self.shard_path(shard)
        if not path.is_file() or not self._checksum_ok(shard):
            return False
        try:
            stored = np.load(path, mmap_mode="r")
        except (ValueError, OSError, EOFError):
            return False
        self._check_dim(stored.shape[1] if stored.ndim == 2 else -1)
        start, stop = self.shards[shard]
        return stored.shape[0] == stop - start and stored.dtype == STORED_DTYPE

    def _checksum_ok(self, shard: int) -> bool:
        """Whether the shard's bytes are the ones recorded when it was written (hashed once per file version)."""
        path = self.shard_path(shard)
        signature = _signature(path)
        if self._verified.get(shard) == signature:
            return True
        try:
            record = json.loads(self.checksum_path(shard).read_text(encoding="utf-8"))
            matches = record["bytes"] == signature[0] and record["sha256"] == sha256_file(path)
        except (OSError, ValueError, KeyError, TypeError):
            matches = False
        if not matches:
            logger.warning("%s does not match the size and sha256 recorded when it was written (or has no record): "
                           "encoding it again", path)
            return False
        self._verified[shard] = signature
        return True

    def _check_dim(self, stored_dim: int) -> None:
        if stored_dim != self.dim:
            raise InputError(f"cached embeddings have dimension {stored_dim} but the model produces {self.dim}: "
                             "the model changed behind the same name; delete this folder or use another "
                             "--cache-dir", path=self.folder)


def _signature(path: Path) -> tuple[int, int, int]:
    """Size, modification time and inode: what changes whenever a file is rewritten or replaced."""
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


class ShardedEmbeddings:
    """The shards of a complete cache read as one ``[rows, dim]`` float16 array, by slices of rows.

    Shards are memory-mapped, so only the rows a search chunk touches are read from disk.
    """

    def __init__(self, paths: list[Path], shard_rows: int, rows: int, dim: int):
        self.paths = paths
        self.shard_rows = shard_rows
        self.shape = (rows, dim)
        self.dtype = np.dtype(STORED_DTYPE)
        self._maps: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        if not isinstance(rows, slice):
            raise TypeError("sharded embeddings are read by slices of rows")
        start, stop, step = rows.indices(len(self))
        if step != 1:
            raise TypeError("sharded embeddings are read by contiguous slices")
        if stop <= start:
            return np.empty((0, self.shape[1]), dtype=self.dtype)
        pieces = []
        for shard in range(start // self.shard_rows, (stop - 1) // self.shard_rows + 1):
            base = shard * self.shard_rows
            pieces.append(self._map(shard)[max(start - base, 0):stop - base])
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Rows at arbitrary positions (the neighbours a search found), gathered shard by shard."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.shape[1]), dtype=self.dtype)
        order = np.argsort(rows // self.shard_rows, kind="stable")
        shards, firsts = np.unique(rows[order] // self.shard_rows, return_index=True)
        for shard, group in zip(shards.tolist(), np.split(order, firsts[1:])):
            out[group] = self._map(shard)[rows[group] - shard * self.shard_rows]
        return out

    def _map(self, shard: int) -> np.ndarray:
        if shard not in self._maps:
            self._maps[shard] = np.load(self.paths[shard], mmap_mode="r")
        return self._maps[shard]
