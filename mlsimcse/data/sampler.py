"""Batches for contrastive training drawn from a weighted mixture of sources.

In-batch negatives are the whole point of SimCSE-style training, so a batch must not hold two copies of a
sentence or two translations of one sentence (each would be a false negative), and it must hold one
training shape so one loss applies. Batch ``k`` depends only on the seed, ``k`` and the per-bucket walk
positions, which makes the stream reproducible and lets a checkpoint resume it exactly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from mlsimcse.data.bucket_stream import BatchGuard, BucketStream
from mlsimcse.data.buckets import Bucket
from mlsimcse.data.mixture import MixtureConfig, SourceSpec
from mlsimcse.data.run_data import RunData
from mlsimcse.data.sources import open_source
from mlsimcse.errors import InputError
from mlsimcse.prompts import prompted_examples
from mlsimcse.records import Example

STATE_FORMAT = 1
DEFAULT_STREAM_CHUNK_ROWS = 4096
"""Rows a streaming bucket holds in memory at once; its shuffle is local to such a chunk."""


def temperature_probabilities(sizes: list[int], alpha: float) -> np.ndarray:
    """p_i ∝ n_i ** alpha: alpha=1 keeps natural frequencies, alpha=0 samples uniformly."""
    weights = np.asarray(sizes, dtype=np.float64) ** alpha
    return weights / weights.sum()


@dataclass
class _ObjectivePlan:
    """The language buckets of one objective in one source and how often each is drawn."""

    objective: str
    streams: list[BucketStream]
    language_probs: np.ndarray
    rows: int


@dataclass
class _SourcePlan:
    label: str
    objectives: list[_ObjectivePlan]
    objective_probs: np.ndarray
    prompt: str | dict[str, str] | None = None  # the source's prompt, put before its texts as batches leave


class MixtureBatchSampler:
    """Infinite, seeded, resumable stream of batches (lists of :class:`Example`) from a source mixture.

    Each batch comes from one source (drawn ∝ its weight) and one objective of it (∝ its rows); its
    examples' languages are drawn with temperature ``config.language_alpha`` (or one language for the
    whole batch when ``config.language_homogeneous``). ``batch_size`` is the global batch, so its
    guarantees hold before the trainer slices it across processes. A source's ``prompt`` goes before its texts
    as the batch leaves (after the duplicate checks), so the plain step, GradCache and the distillation teacher
    all read the texts exactly as the encoder does. ``datasets`` maps names to the ``datasets`` objects that
    ``dataset:`` sources name (``train(config, datasets=...)``); a name no source uses is an error. With
    ``run_data``, sources are built into (or opened from) a run's memory-mapped files
    (:mod:`~mlsimcse.data.run_data`); without it, they are held in memory.
    """

    def __init__(
        self,
        config: MixtureConfig,
        batch_size: int,
        seed: int,
        data_root: str | Path | None = None,
        *,
        stream_chunk_rows: int = DEFAULT_STREAM_CHUNK_ROWS,
        datasets: Mapping[str, Any] | None = None,
        run_data: RunData | None = None,
    ):
        if batch_size < 1:
            raise InputError(f"batch size must be at least 1, got {batch_size}")
        unused = sorted(set(datasets or {}) - {spec.dataset for spec in config.sources})
        if unused:
            raise InputError(f"datasets {unused} were given, but no data.sources entry names them (dataset: NAME)")
        self.config = config
        self.batch_size = batch_size
        self.seed = seed
        self._batches_drawn = 0
        self._streams: dict[str, BucketStream] = {}
        self._plans = []
        for index, spec in enumerate(config.sources):
            assemble = functools.partial(open_source, spec, data_root, datasets)
            buckets = assemble() if run_data is None else run_data.buckets(index, spec, assemble)
            self._plans.append(self._plan_source(spec, buckets, stream_chunk_rows))
        weights = np.array([spec.weight for spec in config.sources], dtype=np.float64)
        self._source_probs = weights / weights.sum()

    def _plan_source(self, spec: SourceSpec, buckets: list[Bucket], stream_chunk_rows: int) -> _SourcePlan:
        by_objective: dict[str, list[Bucket]] = {}
        for bucket in buckets:
            by_objective.setdefault(bucket.objective, []).append(bucket)
        objectives = []
        for objective, group in by_objective.items():
            self._check_fillable(spec.label, objective, group)
            streams = []
            for bucket in group:
                stream_id = f"{spec.label}/{bucket.key}"
                stream = BucketStream(
                    bucket,
                    stream_id=stream_id,
                    seed=self.seed,
                    chunk_rows=stream_chunk_rows if spec.streaming else bucket.rows,
                    pending_limit=max(4 * self.batch_size, 256),
                )
                self._streams[stream_id] = stream
                streams.append(stream)
            probs = temperature_probabilities([b.rows for b in group], self.config.language_alpha)
            objectives.append(_ObjectivePlan(objective, streams, probs, sum(b.rows for b in group)))
        rows = [plan.rows for plan in objectives]
        return _SourcePlan(spec.label, objectives, np.asarray(rows, dtype=np.float64) / sum(rows), spec.prompt)

    def _check_fillable(self, label: str, objective: str, group: list[Bucket]) -> None:
        if self.config.language_homogeneous:
            for bucket in group:
                if bucket.rows < self.batch_size:
                    raise InputError(
                        f"source {label!r}: {bucket.key} has {bucket.rows} examples, fewer than the batch size "
                        f"{self.batch_size}, so a one-language batch cannot be filled without repeats; drop that "
                        "language from the recipe or turn off language_homogeneous"
                    )
        elif sum(b.rows for b in group) < self.batch_size:
            raise InputError(
                f"source {label!r}: {objective} has {sum(b.rows for b in group)} examples, fewer than the batch "
                f"size {self.batch_size}"
            )

    def __iter__(self) -> Iterator[list[Example]]:
        while True:
            yield self.next_batch()

    def next_batch(self) -> list[Example]:
        """Draw batch number ``batches_drawn`` and advance."""
        rng = np.random.default_rng([self.seed, self._batches_drawn])
        source = self._plans[rng.choice(len(self._plans), p=self._source_probs)]
        plan = source.objectives[rng.choice(len(source.objectives), p=source.objective_probs)]
        if self.config.language_homogeneous:
            slots = np.full(self.batch_size, rng.choice(len(plan.streams), p=plan.language_probs))
        else:
            slots = rng.choice(len(plan.streams), size=self.batch_size, p=plan.language_probs)
        guard = BatchGuard()
        batch = [plan.streams[slot].take(guard) for slot in slots]
        self._batches_drawn += 1
        return prompted_examples(batch, source.prompt)

    @property
    def batches_drawn(self) -> int:
        return self._batches_drawn

    @property
    def objectives(self) -> set[str]:
        """The objectives any batch of this mixture can have (the trainer loads a teacher only for ``distill``)."""
        return {plan.objective for source in self._plans for plan in source.objectives}

    def bucket_rows(self) -> dict[str, int]:
        """Examples per bucket, keyed by ``source/objective/language`` (one epoch of that bucket)."""
        return {stream_id: stream.bucket.rows for stream_id, stream in self._streams.items()}

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable position: batches drawn and, per bucket, epoch, chunk, offset and waiting examples."""
        return {
            "format": STATE_FORMAT,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "batches_drawn": self._batches_drawn,
            "streams": {stream_id: stream.state_dict() for stream_id, stream in self._streams.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue exactly where the sampler that produced ``state`` stopped."""
        if state.get("format") != STATE_FORMAT:
            raise InputError(f"sampler state has format {state.get('format')!r}; this version reads {STATE_FORMAT}")
        for key in ("seed", "batch_size"):
            if state[key] != getattr(self, key):
                raise InputError(
                    f"sampler state was saved with {key}={state[key]}, but this run uses {getattr(self, key)}; "
                    "resuming would not reproduce the interrupted run"
                )
        if set(state["streams"]) != set(self._streams):
            raise InputError(
                "sampler state names other data buckets than this run's sources "
                f"(saved {sorted(state['streams'])}, now {sorted(self._streams)})"
            )
        for stream_id, stream_state in state["streams"].items():
            self._streams[stream_id].load_state_dict(stream_state)
        self._batches_drawn = int(state["batches_drawn"])
