"""Run tasks for a model: read every task's data, encode all their sentences once, then score each task.

Reading first means the encoder sees each distinct sentence exactly once, in one call with full batches,
however many tasks share it; and data read once can be scored for several models.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

from mlsimcse.evaluation.aggregates import aggregate_results
from mlsimcse.encoder_protocol import SentenceEncoderLike
from mlsimcse.evaluation.cache import EmbeddingCache
from mlsimcse.evaluation.registry import resolve_tasks
from mlsimcse.evaluation.report import ModelRun
from mlsimcse.evaluation.results import TaskResult
from mlsimcse.evaluation.tasks.base import Embed, Task, TaskData
from mlsimcse.progress import progress_bar
from mlsimcse.prompts import encoder_prompt


@dataclass(frozen=True)
class LoadedTask:
    """A task with its data read."""

    task: Task
    data: TaskData


def load_tasks(tasks: Sequence[Task], *, show_progress_bar: bool | None = None) -> list[LoadedTask]:
    """Read every task's data (the files, or the Hub where a file is absent)."""
    return [
        LoadedTask(task, task.load())
        for task in progress_bar(tasks, desc="load data", unit="task", enabled=show_progress_bar)
    ]


def score_loaded(
    loaded: Sequence[LoadedTask], cache: EmbeddingCache, *, show_progress_bar: bool | None = None
) -> list[TaskResult]:
    """Encode all the tasks' sentences through ``cache``, score each task, and append the named averages."""
    cache.prefetch(sentence for item in loaded for sentence in item.data.sentences())
    results = [
        _task_result(item, cache.embed)
        for item in progress_bar(loaded, desc="score", unit="task", enabled=show_progress_bar)
    ]
    results += aggregate_results(results)
    for result in results:
        result.prompt = cache.prompt
    return results


def evaluate_model(
    model: str,
    loaded: Sequence[LoadedTask],
    *,
    label: str | None = None,
    pooling: str | None = None,
    max_length: int | None = None,
    batch_size: int = 64,
    encode_kwargs: dict[str, Any] | None = None,
    prompt: str | None = None,
    prompt_name: str | None = None,
    precision: str = "fp32",
    show_progress_bar: bool | None = None,
) -> ModelRun:
    """Load the model saved at (or named) ``model`` and score it on the ``loaded`` tasks, timed from the first encode.

    What ``mlsimcse eval`` does for each of its models and the quickstart for the base and the trained one;
    ``label`` names the run in tables (default: ``model``), ``precision`` records what ``encode_kwargs`` ran in.
    """
    from mlsimcse.encoder import SentenceEncoder

    encoder = SentenceEncoder.from_pretrained(model, pooling=pooling, max_length=max_length)
    cache = EmbeddingCache(encoder, batch_size=batch_size, show_progress_bar=True, encode_kwargs=encode_kwargs,
                           prompt=prompt, prompt_name=prompt_name)
    started = time.perf_counter()
    results = score_loaded(loaded, cache, show_progress_bar=show_progress_bar)
    return ModelRun(label or model, results, time.perf_counter() - started, cache.stats(), precision)


def evaluate_tasks(
    encoder: SentenceEncoderLike,
    tasks: list[str] | str,
    *,
    batch_size: int = 64,
    cache: EmbeddingCache | None = None,
    show_progress_bar: bool | None = None,
    encode_kwargs: dict[str, Any] | None = None,
    prompt: str | None = None,
    prompt_name: str | None = None,
) -> list[TaskResult]:
    """Evaluate ``encoder`` on task names or a suite name; one result per task, then the averages they complete.

    ``cache`` lets several calls for the same encoder share embeddings; by default each call starts afresh
    (what the trainer wants: the model changes between calls). ``prompt`` / ``prompt_name`` as in ``encode``
    (default: the model's own prompt, if it has a default); each result records the prompt applied.
    """
    if cache is None:
        cache = EmbeddingCache(
            encoder, batch_size=batch_size, show_progress_bar=show_progress_bar, encode_kwargs=encode_kwargs,
            prompt=prompt, prompt_name=prompt_name,
        )
    elif cache.encoder is not encoder:
        raise ValueError("the embedding cache was built for a different encoder")
    elif (prompt, prompt_name) != (None, None) and encoder_prompt(encoder, prompt_name, prompt) != cache.prompt:
        raise ValueError("the embedding cache holds vectors encoded with another prompt")
    loaded = load_tasks(resolve_tasks(tasks), show_progress_bar=show_progress_bar)
    return score_loaded(loaded, cache, show_progress_bar=show_progress_bar)


def _task_result(item: LoadedTask, embed: Embed) -> TaskResult:
    scored = item.task.score(item.data, embed)
    return TaskResult(
        task=item.task.name,
        protocol="; ".join((item.task.protocol, *scored.caveats)),
        main_score=float(scored.scores[scored.main_metric]),
        scores={key: float(value) for key, value in scored.scores.items()},
        details={**scored.details, "data": item.data.origin.describe()},
        data_sha256=item.data.origin.sha256,
        main_metric=scored.main_metric,
    )
