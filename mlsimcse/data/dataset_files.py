"""The on-disk form of examples: a built dataset's folder (JSONL or Arrow and a manifest), a run's Arrow files.

Writers and readers live together so the formats cannot drift apart. JSONL is what a streaming source reads
line by line. Arrow is written as an IPC *stream*, the form ``datasets`` keeps its own files in, so
``datasets.Dataset.from_file(path)`` opens one as it is; it is read memory-mapped and zero-copy, so a process
holds only the rows it turns into examples. Files from earlier versions, in the IPC *file* form, still read.
pyarrow is imported only when an Arrow file is written or read (the command line's parser imports this
module for the format names).
"""

from __future__ import annotations

import json
from pathlib import Path
from functools import lru_cache
from typing import TYPE_CHECKING, Iterable, Iterator

from mlsimcse.errors import InputError
from mlsimcse.records import Example

if TYPE_CHECKING:
    import pyarrow as pa

EXAMPLES_JSONL = "examples.jsonl"
EXAMPLES_ARROW = "examples.arrow"
MANIFEST = "manifest.json"
FORMATS = {"jsonl": EXAMPLES_JSONL, "arrow": EXAMPLES_ARROW}

_ARROW_BATCH_ROWS = 8192
_FILE_FORM_MAGIC = b"ARROW1"
"""The first bytes of the IPC file form, which earlier versions wrote; the stream form starts otherwise."""


@lru_cache(maxsize=1)
def _arrow_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("objective", pa.string()),
            ("texts", pa.list_(pa.string())),
            ("langs", pa.list_(pa.string())),
            ("group", pa.string()),
            ("source", pa.string()),
            ("meta", pa.string()),
            ("score", pa.float64()),
        ]
    )


def write_arrow(path: Path, examples: Iterable[Example]) -> int:
    """Write ``examples`` as an Arrow IPC stream, a record batch at a time; return how many were written."""
    import pyarrow as pa

    count = 0
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, _arrow_schema()) as writer:
        batch: list[Example] = []
        for example in examples:
            batch.append(example)
            if len(batch) == _ARROW_BATCH_ROWS:
                writer.write_batch(_to_record_batch(batch))
                count += len(batch)
                batch = []
        if batch:
            writer.write_batch(_to_record_batch(batch))
            count += len(batch)
    return count


def _to_record_batch(examples: list[Example]) -> pa.RecordBatch:
    import pyarrow as pa

    columns = {
        "objective": [ex.objective for ex in examples],
        "texts": [list(ex.texts) for ex in examples],
        "langs": [list(ex.langs) for ex in examples],
        "group": [ex.group for ex in examples],
        "source": [ex.source for ex in examples],
        "meta": [json.dumps(ex.meta, ensure_ascii=False) if ex.meta else None for ex in examples],
        "score": [ex.score for ex in examples],
    }
    return pa.RecordBatch.from_pydict(columns, schema=_arrow_schema())


def open_arrow(path: Path) -> pa.Table:
    """The examples of an Arrow file written by :func:`write_arrow` as a table over the memory-mapped file."""
    import pyarrow as pa

    try:
        source = pa.memory_map(str(path))
        is_file_form = source.read(len(_FILE_FORM_MAGIC)) == _FILE_FORM_MAGIC
        source.seek(0)
        table = pa.ipc.open_file(source).read_all() if is_file_form else pa.ipc.open_stream(source).read_all()
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"not a readable Arrow file ({err})", path=path) from None
    schema = _arrow_schema()
    if table.schema.equals(schema.remove(schema.get_field_index("score"))):  # written before scored pairs existed
        table = table.append_column(schema.field("score"), pa.nulls(table.num_rows, pa.float64()))
    if not table.schema.equals(schema):
        raise InputError(f"not an examples file: its columns are {table.schema.names}", path=path)
    return table


def example_from_row(row: dict) -> Example:
    """The example of one row of :func:`open_arrow`'s table, as ``table.slice(i, 1).to_pylist()[0]`` gives it."""
    row["meta"] = json.loads(row["meta"]) if row["meta"] else {}
    return Example.from_dict(row)


def read_arrow(path: Path) -> Iterator[Example]:
    """Examples of an Arrow file written by :func:`write_arrow`, a record batch at a time."""
    for batch in open_arrow(path).to_batches():
        yield from map(example_from_row, batch.to_pylist())


def examples_file(folder: Path) -> Path:
    """The examples file inside a built dataset folder, whichever format it was written in."""
    for name in FORMATS.values():
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise InputError(f"not a built dataset: no {' or '.join(FORMATS.values())} inside", path=folder)
