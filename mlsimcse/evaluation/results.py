"""The record every evaluation produces, shared by the runner, the CLI's table and JSON, and the trainer.

A number without its protocol and data hash cannot be compared with anyone else's number, so every
result carries both next to the score.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TaskResult:
    """One task's outcome for one model.

    ``main_score`` is on the ×100 scale (Spearman ×100, accuracy %, F1 %) and equals
    ``scores[main_metric]``; ``details`` holds per-language or per-subset breakdowns and counts.
    ``evaluator`` names the implementation that computed the number (``mlsimcse``, or ``mteb VERSION`` for
    results converted by :mod:`mlsimcse.evaluation.mteb_adapter`): the same data scored under another
    framework's protocol can differ, so a record always says whose protocol it is.
    ``prompt`` is the text put before every sentence ("" for none; :mod:`mlsimcse.prompts`): e5-style models
    move by several points with it, so a score means nothing without it.
    """

    task: str
    protocol: str
    main_score: float
    scores: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)
    data_sha256: str = ""
    main_metric: str = ""
    evaluator: str = "mlsimcse"
    prompt: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
