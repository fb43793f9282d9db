"""What ``mlsimcse eval`` shows and saves: a tasks × models table, and a JSON document that pins every number
to its model, protocol, data hash, package version and date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Sequence

import mlsimcse
from mlsimcse.evaluation.results import TaskResult


@dataclass(frozen=True)
class ModelRun:
    """One model's results, with how long scoring took, what the embedding cache saved and the precision the
    encoder ran in (``fp32``, ``bf16`` or ``int8``: mlsimcse.precision)."""

    model: str
    results: list[TaskResult]
    seconds: float
    cache_stats: dict[str, int]
    precision: str = "fp32"


def format_table(runs: Sequence[ModelRun]) -> str:
    """Rows are tasks (averages last, by their titles), columns are models; main scores to two decimals."""
    labels: dict[str, str] = {}
    for run in runs:
        for result in run.results:
            labels.setdefault(result.task, _row_label(result))
    scores = [{result.task: result.main_score for result in run.results} for run in runs]
    label_width = max(len(label) for label in labels.values())
    widths = [max(len(run.model), 8) for run in runs]
    header = " | ".join([" " * label_width, *(run.model.rjust(width) for run, width in zip(runs, widths))])
    lines = [header, "-" * len(header)]
    for task, label in labels.items():
        cells = [
            (f"{column[task]:.2f}" if task in column else "-").rjust(width) for column, width in zip(scores, widths)
        ]
        lines.append(" | ".join([label.ljust(label_width), *cells]))
    return "\n".join(lines)


def results_document(runs: Sequence[ModelRun], requested: Sequence[str]) -> dict[str, Any]:
    """The JSON written by ``mlsimcse eval``."""
    return {
        "mlsimcse_version": mlsimcse.__version__,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "requested": list(requested),
        "runs": [
            {
                "model": run.model,
                "seconds": round(run.seconds, 3),
                "precision": run.precision,
                "embedding_cache": run.cache_stats,
                "results": [result.to_dict() for result in run.results],
            }
            for run in runs
        ],
    }


def _row_label(result: TaskResult) -> str:
    title = result.details.get("title")
    return f"{title} [{result.main_metric}]" if title else f"{result.task} [{result.main_metric}]"
