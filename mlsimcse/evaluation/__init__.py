"""Evaluation that matches the papers: STS (mono- and cross-lingual), Tatoeba retrieval, BUCC margin mining,
embedding geometry.

Each task reads its data (``loaders``), names the protocol it follows, and scores embeddings with a pure
function (``evaluators``); the runner encodes every distinct sentence once per model. Use::

    from mlsimcse.evaluation import evaluate_tasks
    results = evaluate_tasks(encoder, "quick")            # a suite name, or a list of task names
    dev_spearman = evaluate_tasks(encoder, ["stsb-dev:en"])[0].main_score

Task names, groups and suites are listed in :mod:`mlsimcse.evaluation.registry`; the named averages
(e.g. "STS-B multi avg (10)") in :mod:`mlsimcse.evaluation.aggregates`. The names are imported on first use
(:mod:`mlsimcse.lazy_exports`), so the command line's parser can import the package without numpy or torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlsimcse.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from mlsimcse.evaluation.aggregates import AGGREGATES, average_results
    from mlsimcse.evaluation.cache import EmbeddingCache
    from mlsimcse.evaluation.registry import GROUPS, SUITES, build_task, resolve_tasks
    from mlsimcse.evaluation.results import TaskResult
    from mlsimcse.evaluation.runner import evaluate_tasks, load_tasks, score_loaded

__all__ = [
    "AGGREGATES",
    "GROUPS",
    "SUITES",
    "EmbeddingCache",
    "TaskResult",
    "average_results",
    "build_task",
    "evaluate_tasks",
    "load_tasks",
    "resolve_tasks",
    "score_loaded",
]

__getattr__, __dir__ = lazy_exports(__name__, {
    "AGGREGATES": "mlsimcse.evaluation.aggregates",
    "average_results": "mlsimcse.evaluation.aggregates",
    "EmbeddingCache": "mlsimcse.evaluation.cache",
    "GROUPS": "mlsimcse.evaluation.registry",
    "SUITES": "mlsimcse.evaluation.registry",
    "build_task": "mlsimcse.evaluation.registry",
    "resolve_tasks": "mlsimcse.evaluation.registry",
    "TaskResult": "mlsimcse.evaluation.results",
    "evaluate_tasks": "mlsimcse.evaluation.runner",
    "load_tasks": "mlsimcse.evaluation.runner",
    "score_loaded": "mlsimcse.evaluation.runner",
})
