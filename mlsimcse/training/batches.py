"""Training batches, drawn and tokenised ahead of the step, off the training thread when the config asks.

The mixture sampler decides which examples form batch ``k`` (seeded and resumable); turning them into tokens
need not wait for the previous step's backward. A torch ``DataLoader`` does that overlap as the ecosystem does:
the sampler stays in the training process as the loader's batch sampler, so its position is the run's to
checkpoint, and ``dataloader_workers`` processes tokenise the batches it hands them while the step runs (none:
the training process tokenises, as a plain loop would). Every column of a batch is tokenised in one call, the
only featurisation both step forms use: the plain step embeds it whole, GradCache cuts it into mini-batches.

Prefetching puts the sampler ahead of the step, so the sampler state a checkpoint must hold (the position after
the last batch the step consumed) is recorded when that batch is drawn, not read when the checkpoint is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from mlsimcse.records import Example
from mlsimcse.training.objectives import text_columns


@dataclass
class TokenizedBatch:
    """One process's slice of a global batch: its examples, their texts per column and those texts' tokens.

    ``features`` holds every column's texts in column order (``columns[0]`` first), padded to the longest.
    """

    examples: list[Example]
    columns: list[list[str]]
    features: dict[str, torch.Tensor]

    @property
    def objective(self) -> str:
        return self.examples[0].objective

    def pin_memory(self) -> "TokenizedBatch":
        """The loader's pinning hook: page-locked tokens, so the copy to a GPU overlaps the step."""
        return TokenizedBatch(self.examples, self.columns, {k: v.pin_memory() for k, v in self.features.items()})

    def rows(self, column: int, start: int, stop: int) -> dict[str, torch.Tensor]:
        """Tokens of rows ``start:stop`` of one column, cut to their own longest row.

        Equal to tokenising those texts alone: padding is whole columns of the mask, on whichever side.
        """
        offset = column * len(self.examples)
        picked = {name: values[offset + start:offset + stop] for name, values in self.features.items()}
        keep = picked["attention_mask"].any(dim=0)
        return {name: values[:, keep] for name, values in picked.items()}


class BatchTokenizer:
    """Examples -> :class:`TokenizedBatch` at the training length; the loader's ``collate_fn``.

    It holds the tokenizer alone, not the encoder, so a worker process carries no model weights.
    """

    def __init__(self, tokenizer: Any, max_length: int):
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, examples: list[Example]) -> TokenizedBatch:
        columns = text_columns(examples[0].objective, examples)
        tokens = self.tokenizer([text for column in columns for text in column], padding=True, truncation=True,
                                max_length=self.max_length, return_tensors="pt")
        return TokenizedBatch(examples, columns, dict(tokens))


class _Examples(Dataset):
    """The loader's dataset: a batch sampler's "indices" here are the examples themselves."""

    def __getitems__(self, examples: list[Example]) -> list[Example]:
        return examples

    def __getitem__(self, example: Example) -> Example:
        return example


class _ProcessBatches(Sampler):
    """The sampler's global batches cut to one process's slice, noting the sampler's state where asked."""

    def __init__(self, sampler, rank: int, per_process: int, keep_state_at: Callable[[int], bool]):
        super().__init__()
        self.sampler, self.rank, self.per_process = sampler, rank, per_process
        self.keep_state_at = keep_state_at
        self.states: dict[int, dict] = {}

    def __iter__(self) -> Iterator[list[Example]]:
        while True:
            batch = self.sampler.next_batch()
            if self.keep_state_at(self.sampler.batches_drawn):
                self.states[self.sampler.batches_drawn] = self.sampler.state_dict()
            yield batch[self.rank * self.per_process:(self.rank + 1) * self.per_process]


class BatchLoader:
    """An endless iterator of this process's :class:`TokenizedBatch` es, and the sampler state to checkpoint.

    ``keep_state_at(drawn)`` says after which numbers of batches drawn a checkpoint will want the sampler's
    state (the loop saves every ``save_every`` steps); :meth:`sampler_state` hands it back once the step has
    consumed that many batches.
    """

    def __init__(self, sampler, tokenize: BatchTokenizer, *, rank: int, per_process: int, workers: int,
                 keep_state_at: Callable[[int], bool], pin_memory: bool = False):
        self.sampler = sampler
        self._batches = _ProcessBatches(sampler, rank, per_process, keep_state_at)
        self._consumed = sampler.batches_drawn
        # Its own generator: a loader seeds its workers from the global one otherwise, which would move every
        # dropout mask after it and make a resumed run differ from an uninterrupted one.
        loader = DataLoader(_Examples(), batch_sampler=self._batches, collate_fn=tokenize, num_workers=workers,
                            pin_memory=pin_memory, prefetch_factor=2 if workers else None,
                            generator=torch.Generator().manual_seed(0))
        self._iterator = iter(loader)

    def __iter__(self) -> "BatchLoader":
        return self

    def __next__(self) -> TokenizedBatch:
        batch = next(self._iterator)
        self._consumed += 1
        return batch

    def sampler_state(self) -> dict:
        """The sampler's position right after the last batch the step consumed."""
        states = self._batches.states
        for drawn in [drawn for drawn in states if drawn < self._consumed]:
            del states[drawn]  # positions the run has moved past
        if self._consumed in states:
            return states.pop(self._consumed)
        if self.sampler.batches_drawn == self._consumed:  # nothing drawn ahead (no workers, or not yet)
            return self.sampler.state_dict()
        raise RuntimeError(f"no sampler state was kept for batch {self._consumed}: keep_state_at must name "
                           "every point the run checkpoints at")

    def close(self) -> None:
        """Stop the worker processes (an endless loader never ends on its own)."""
        shutdown = getattr(self._iterator, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
