"""Pin down exactly which data a number was computed on.

Results name their data by sha256 so two runs (or two papers) can be checked for the same input. A task
that reads one file reports that file's own hash — the one in the data folder's ``SHA256SUMS`` — and a task
that reads several reports a hash over their per-file hashes. Hub data is hashed over the rows read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from mlsimcse.io_utils import sha256_file
from mlsimcse.paths import data_root


@dataclass(frozen=True)
class DataOrigin:
    """The files (name, sha256) or Hub dataset a task read, and one sha256 standing for all of it."""

    sha256: str
    files: tuple[tuple[str, str], ...] = ()
    hub: str | None = None

    @classmethod
    def from_files(cls, paths: Sequence[Path]) -> "DataOrigin":
        files = tuple((display_name(path), sha256_file(path)) for path in paths)
        if len(files) == 1:
            return cls(sha256=files[0][1], files=files)
        listing = "".join(f"{digest}  {name}\n" for name, digest in files)
        return cls(sha256=hashlib.sha256(listing.encode("utf-8")).hexdigest(), files=files)

    @classmethod
    def from_hub(cls, hub_id: str, rows: Iterable[Sequence[object]]) -> "DataOrigin":
        digest = hashlib.sha256()
        for row in rows:
            digest.update("\t".join(str(cell) for cell in row).encode("utf-8") + b"\n")
        return cls(sha256=digest.hexdigest(), hub=hub_id)

    @classmethod
    def combine(cls, origins: Sequence["DataOrigin"]) -> "DataOrigin":
        """One origin for data assembled from several (e.g. the two sides of cross-lingual STS-B)."""
        files = tuple(entry for origin in origins for entry in origin.files)
        hubs = [origin.hub for origin in origins if origin.hub]
        listing = "".join(f"{origin.sha256}\n" for origin in origins)
        return cls(
            sha256=hashlib.sha256(listing.encode("utf-8")).hexdigest(),
            files=files,
            hub=" + ".join(hubs) if hubs else None,
        )

    def describe(self) -> dict[str, object]:
        """JSON-ready form for a result's details."""
        described: dict[str, object] = {"files": dict(self.files)}
        if self.hub:
            described["hub"] = self.hub
        return described


def display_name(path: Path) -> str:
    """Path relative to the data root when under it, so hashes listed in results read the same everywhere."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(data_root()))
    except ValueError:
        return str(resolved)
