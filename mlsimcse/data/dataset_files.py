"""The on-disk form of a built dataset: a folder with the examples (JSONL or Arrow) and a manifest.

Writers and readers live together so the two formats cannot drift apart. JSONL is what a streaming
source reads line by line; Arrow loads faster and is memory-mapped by pyarrow, which is imported only when an
Arrow file is written or read (the command line's parser imports this module for the format names).
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
        ]
    )


def write_arrow(path: Path, examples: Iterable[Example]) -> int:
    """Write ``examples`` as an Arrow IPC file, a record batch at a time; return how many were written."""
    import pyarrow as pa

    count = 0
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, _arrow_schema()) as writer:
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
    }
    return pa.RecordBatch.from_pydict(columns, schema=_arrow_schema())


def read_arrow(path: Path) -> Iterator[Example]:
    """Examples of an Arrow file written by :func:`write_arrow`, batch by batch."""
    import pyarrow as pa

    try:
        reader = pa.ipc.open_file(pa.memory_map(str(path)))
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"not a readable Arrow file ({err})", path=path) from None
    for batch_index in range(reader.num_record_batches):
        for row in reader.get_batch(batch_index).to_pylist():
            row["meta"] = json.loads(row["meta"]) if row["meta"] else {}
            yield Example.from_dict(row)


def examples_file(folder: Path) -> Path:
    """The examples file inside a built dataset folder, whichever format it was written in."""
    for name in FORMATS.values():
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise InputError(f"not a built dataset: no {' or '.join(FORMATS.values())} inside", path=folder)
