"""mteb's results for tasks built by :func:`mlsimcse.evaluation.mteb_adapter.mteb_task`, as mlsimcse records.

Each record names mteb as its ``evaluator`` and spells out mteb's metric in its ``protocol``, so mteb's numbers
can share a results JSON with mlsimcse's own without being mistaken for them (how the two protocols relate:
:mod:`mlsimcse.evaluation.mteb_adapter`). Scores are ×100, as mlsimcse reports them.
"""

from __future__ import annotations

from typing import Any, Sequence

from mlsimcse.errors import InputError
from mlsimcse.evaluation.results import TaskResult
from mlsimcse.evaluation.tasks.sts import STSTask


def mteb_task_results(model_result, tasks: Sequence[Any],
                      applied_prompts: dict[str, str] | None = None) -> list[TaskResult]:
    """mteb's results for tasks built by :func:`mteb_task`, as mlsimcse records (scores ×100).

    ``applied_prompts`` (an :class:`MTEBEncoder`'s) fills each record's ``prompt``.
    """
    by_name = {task.metadata.name: task for task in tasks}
    applied_prompts = applied_prompts or {}
    records = []
    for result in model_result.task_results:
        task = by_name.get(result.task_name)
        if task is None:
            raise InputError(f"mteb result for {result.task_name!r}, which is not among the tasks given")
        entries = {entry["hf_subset"]: entry for entry in result.scores["test"]}
        converter = _sts_record if isinstance(task.mlsimcse_task, STSTask) else _bitext_record
        record = converter(task, entries, f"mteb {result.mteb_version}")
        record.prompt = applied_prompts.get(result.task_name, "")
        records.append(record)
    return records


def _sts_record(task, entries: dict[str, dict[str, Any]], evaluator: str) -> TaskResult:
    entry = entries["default"]
    name = task.mlsimcse_task.name
    return TaskResult(
        task=name,
        protocol=(f"{evaluator} STS on mlsimcse's {name} rows: cosine_spearman x100 (main) and cosine_pearson "
                  "x100, gold scaled to 0-1"),
        main_score=100 * float(entry["cosine_spearman"]),
        scores={"spearman": 100 * float(entry["cosine_spearman"]), "pearson": 100 * float(entry["cosine_pearson"])},
        details={"mteb_task": task.metadata.name, "pairs": task.mlsimcse_rows},
        data_sha256=task.mlsimcse_data_sha256,
        main_metric="spearman",
        evaluator=evaluator,
    )


def _bitext_record(task, entries: dict[str, dict[str, Any]], evaluator: str) -> TaskResult:
    name = task.mlsimcse_task.name
    directions = bitext_directions(name)
    scores: dict[str, float] = {}
    for subset, key in directions:
        for metric in ("f1", "accuracy", "precision", "recall"):
            scores[f"{key}_{metric}"] = 100 * float(entries[subset][metric])
    for metric in ("f1", "accuracy"):
        scores[metric] = sum(scores[f"{key}_{metric}"] for _subset, key in directions) / len(directions)
    subsets = " and ".join(f"{subset} ({key})" for subset, key in directions)
    return TaskResult(
        task=name,
        protocol=(f"{evaluator} BitextMining on mlsimcse's {name} rows, one direction per subset, {subsets}: "
                  "sentence1 queries, sentence2 corpus, cosine 1-NN; f1 = scikit-learn support-weighted F1 over "
                  "target indices x100, accuracy = index-exact 1-NN accuracy x100; main = mean f1 of the two"),
        main_score=scores["f1"],
        scores=scores,
        details={"mteb_task": task.metadata.name, "pairs": task.mlsimcse_rows},
        data_sha256=task.mlsimcse_data_sha256,
        main_metric="f1",
        evaluator=evaluator,
    )


def bitext_directions(name: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """(mteb subset, mlsimcse score key) of the forward and backward directions of a retrieval task."""
    family, _, argument = name.partition(":")
    if family == "tatoeba":
        return (f"{argument}-eng", "xx2en"), (f"eng-{argument}", "en2xx")
    return ("src-tgt", "src2tgt"), ("tgt-src", "tgt2src")
