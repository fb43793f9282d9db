"""A run's training data, built once per machine into memory-mapped Arrow files that every process reads.

Assembling a source (a recipe's reading, filtering and decontamination; a JSONL or ``datasets`` source read into
examples) costs time and holds the whole corpus as Python objects. Left to the sampler, every process of a run
would do it and keep its own copy. Instead the run's main process builds each source once into
``<output_dir>/train_data/`` (a folder every machine of a run shares, as it shares the checkpoints), its rows grouped by bucket (objective and language, in the order the sampler
walks them), then the other processes open the same files: a bucket is a row range of a memory-mapped table,
and an example exists in Python only while the batch that holds it is assembled. Memory per process is then
the batch and the sampler's position, not the corpus, and page cache holds one copy of the data per machine.

The files are Arrow IPC streams (``datasets.Dataset.from_file`` opens one); ``source-NN.json`` beside each
records its buckets and is written last, so a file without it was never finished. A run removes the
folder however it ends; one killed outright leaves it, and its resume builds it afresh. Streaming sources stay
where they are: a JSONL file indexed by byte ranges is already read a chunk at a time.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from mlsimcse.data.buckets import Bucket, ListReader
from mlsimcse.data.dataset_files import example_from_row, open_arrow, write_arrow
from mlsimcse.data.mixture import SourceSpec
from mlsimcse.errors import InputError
from mlsimcse.records import Example

if TYPE_CHECKING:
    import pyarrow as pa

RUN_DATA_DIR = "train_data"
FORMAT = 1


class ArrowRows(Sequence[Example]):
    """Rows ``start`` to ``stop`` of an examples table, each made an :class:`Example` when it is read."""

    def __init__(self, table: pa.Table, start: int, stop: int):
        self._table, self._start, self._stop = table, start, stop

    def __len__(self) -> int:
        return self._stop - self._start

    def __getitem__(self, index: int) -> Example:  # the sampler reads one row at a time, never a slice
        if not 0 <= index < len(self):
            raise IndexError(index)
        return example_from_row(self._table.slice(self._start + int(index), 1).to_pylist()[0])


class ArrowReader:
    """A bucket's chunks from its row range of a memory-mapped table; the offset counts rows into the range."""

    start = 0

    def __init__(self, table: pa.Table, first_row: int, rows: int):
        self._table, self._first_row, self._rows = table, first_row, rows

    def read_chunk(self, offset: int, limit: int) -> tuple[Sequence[Example], int | None]:
        end = min(offset + limit, self._rows)
        chunk = ArrowRows(self._table, self._first_row + offset, self._first_row + end)
        return chunk, (end if end < self._rows else None)


class RunData:
    """The folder of one run's built sources; ``build`` says whether this process writes them or opens them.

    The trainer creates one per process: the main process with ``build=True`` (it clears what an earlier start
    of the run left and builds every source), the others with ``build=False`` once it has finished
    (``Accelerator.main_process_first``).
    """

    def __init__(self, folder: Path, *, build: bool):
        self.folder, self.build = Path(folder), build
        if build:
            if self.folder.exists():
                shutil.rmtree(self.folder)
            self.folder.mkdir(parents=True)

    def remove(self) -> None:
        """Delete the built files once the run is over (a resumed run builds them again)."""
        if self.build:
            shutil.rmtree(self.folder, ignore_errors=True)

    def buckets(self, index: int, spec: SourceSpec, assemble: Callable[[], list[Bucket]]) -> list[Bucket]:
        """Source ``index``'s buckets over its built file; ``assemble`` gives them in memory, for the builder."""
        if spec.streaming:
            return assemble()
        data, manifest = self.folder / f"source-{index:02d}.arrow", self.folder / f"source-{index:02d}.json"
        if self.build:
            self._write(assemble(), spec, data, manifest)
        return self._open(spec, data, manifest)

    @staticmethod
    def _write(buckets: list[Bucket], spec: SourceSpec, data: Path, manifest: Path) -> None:
        ranges, first_row = [], 0
        for bucket in buckets:
            ranges.append({"objective": bucket.objective, "language": bucket.language, "first_row": first_row,
                           "rows": bucket.rows})
            first_row += bucket.rows
        written = write_arrow(data, (example for bucket in buckets for example in _all_rows(bucket)))
        if written != first_row:
            raise RuntimeError(f"{data}: wrote {written} examples of {first_row}")
        partial = manifest.with_name(manifest.name + ".partial")
        partial.write_text(json.dumps({"format": FORMAT, "source": spec.label, "buckets": ranges}), encoding="utf-8")
        os.replace(partial, manifest)

    @staticmethod
    def _open(spec: SourceSpec, data: Path, manifest: Path) -> list[Bucket]:
        if not manifest.is_file():
            raise InputError("the run's training data was not built here (the first process of this machine "
                             "builds it before the others start)", path=manifest)
        saved = json.loads(manifest.read_text(encoding="utf-8"))
        if saved.get("format") != FORMAT or saved.get("source") != spec.label:
            raise InputError(f"built for source {saved.get('source')!r} (format {saved.get('format')}), not "
                             f"{spec.label!r}", path=manifest)
        table = open_arrow(data)
        return [Bucket(b["objective"], b["language"], b["rows"], ArrowReader(table, b["first_row"], b["rows"]))
                for b in saved["buckets"]]


def _all_rows(bucket: Bucket) -> Sequence[Example]:
    """Every example of an in-memory bucket, in its order."""
    if not isinstance(bucket.reader, ListReader):
        raise TypeError(f"bucket {bucket.key} is not in memory")
    rows, _ = bucket.reader.read_chunk(0, bucket.rows)
    return rows
