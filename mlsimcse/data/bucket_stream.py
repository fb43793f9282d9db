"""An endless, seeded, resumable walk through one bucket that never puts a conflicting example in a batch.

Examples that would repeat a text or translation group already in the batch are not dropped: they wait
in a small pending list and go first into a later batch, so every example is still seen once per epoch.
The walk order is a pure function of (seed, bucket, epoch, chunk), which is what makes a resumed run
produce exactly the batches the interrupted one would have.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import numpy as np

from mlsimcse.data.buckets import Bucket
from mlsimcse.data.normalize import normalize_text
from mlsimcse.errors import InputError
from mlsimcse.records import Example


class BatchGuard:
    """The normalised texts and group ids already in the batch being assembled."""

    def __init__(self) -> None:
        self._texts: set[str] = set()
        self._groups: set[str] = set()

    def admit(self, example: Example) -> bool:
        """Add ``example`` to the batch unless it repeats a text or group already there."""
        if example.group is not None and example.group in self._groups:
            return False
        keys = [normalize_text(text) for text in example.texts]
        if any(key in self._texts for key in keys):
            return False
        if example.group is not None:
            self._groups.add(example.group)
        self._texts.update(keys)
        return True


_POSITION = ("epoch", "chunk_index", "chunk_offset", "position")
"""Where a stream is in its walk, as saved in a checkpoint (with the examples waiting for a later batch)."""


class BucketStream:
    """Cycles through a bucket epoch after epoch, chunk by chunk, each chunk in a seeded shuffled order."""

    def __init__(self, bucket: Bucket, *, stream_id: str, seed: int, chunk_rows: int, pending_limit: int):
        self.bucket = bucket
        self._stream_id = stream_id
        self._seed_words = [seed, zlib.crc32(stream_id.encode("utf-8"))]
        self._chunk_rows = chunk_rows
        self._pending_limit = pending_limit
        self._epoch = 0
        self._chunk_index = 0
        self._chunk_offset = bucket.reader.start
        self._position = 0
        self._pending: list[Example] = []
        self._chunk: list[Example] | None = None
        self._order: np.ndarray | None = None
        self._next_offset: int | None = None

    def take(self, guard: BatchGuard) -> Example:
        """The next example the batch admits (a waiting one first); others wait for a later batch."""
        for index, waiting in enumerate(self._pending):
            if guard.admit(waiting):
                del self._pending[index]
                return waiting
        while True:
            example = self._next_in_order()
            if guard.admit(example):
                return example
            self._pending.append(example)
            if len(self._pending) > self._pending_limit:
                raise InputError(
                    f"cannot fill a batch from {self._stream_id} without repeating a text or translation group: "
                    f"{len(self._pending)} examples in a row clash with the batch; the bucket has too few "
                    "distinct examples for this batch size"
                )

    def _next_in_order(self) -> Example:
        if self._chunk is None:
            self._load_chunk()
        if self._position == len(self._chunk):
            if self._next_offset is None:
                self._epoch += 1
                self._chunk_index = 0
                self._chunk_offset = self.bucket.reader.start
            else:
                self._chunk_index += 1
                self._chunk_offset = self._next_offset
            self._position = 0
            self._load_chunk()
        example = self._chunk[self._order[self._position]]
        self._position += 1
        return example

    def _load_chunk(self) -> None:
        self._chunk, self._next_offset = self.bucket.reader.read_chunk(self._chunk_offset, self._chunk_rows)
        if not self._chunk:
            raise InputError(f"{self._stream_id} yielded no examples at offset {self._chunk_offset}")
        rng = np.random.default_rng([*self._seed_words, self._epoch, self._chunk_index])
        self._order = rng.permutation(len(self._chunk))

    @property
    def epoch(self) -> int:
        return self._epoch

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {name: getattr(self, f"_{name}") for name in _POSITION}
        state["pending"] = [json.loads(example.to_json()) for example in self._pending]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in _POSITION:
            setattr(self, f"_{name}", int(state[name]))
        self._pending = [Example.from_dict(row) for row in state["pending"]]
        self._chunk = None
