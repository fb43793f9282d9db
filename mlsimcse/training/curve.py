"""The training curve as a picture: loss per objective and dev score against steps, from ``metrics.jsonl``."""

from __future__ import annotations

import json
from pathlib import Path

from mlsimcse.errors import InputError
from mlsimcse.io_utils import atomic_path


def read_metrics(path: str | Path) -> list[dict]:
    """The records of a run's ``metrics.jsonl``; a resumed run's repeated steps keep their last record."""
    path = Path(path)
    if not path.is_file():
        raise InputError("metrics file not found", path=path)
    by_step: dict[int, dict] = {}
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"not valid JSON ({err.msg})", path=path, line=line_no) from None
            by_step[record["step"]] = record
    return [by_step[step] for step in sorted(by_step)]


def draw_training_curve(records: list[dict], smooth: int = 10):
    """A matplotlib ``Figure`` of the loss per objective (moving average) and the dev score.

    Built on ``matplotlib.figure.Figure`` rather than pyplot so it neither needs nor changes a backend:
    the same call serves the headless quickstart and a notebook that shows the figure inline.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5))
    loss_axis = fig.subplots()
    for objective in sorted({r["objective"] for r in records}):
        points = [(r["step"], r["loss"]) for r in records if r["objective"] == objective]
        steps = [s for s, _ in points]
        losses = [l for _, l in points]
        averaged = [sum(losses[max(0, i - smooth + 1):i + 1]) / len(losses[max(0, i - smooth + 1):i + 1])
                    for i in range(len(losses))]
        loss_axis.plot(steps, averaged, label=f"{objective} loss")
    loss_axis.set_xlabel("step")
    loss_axis.set_ylabel(f"training loss (moving average of {smooth})")
    evals = [(r["step"], r["eval_score"]) for r in records if "eval_score" in r]
    eval_task = next((r["eval_task"] for r in records if "eval_task" in r), "")
    handles, labels = loss_axis.get_legend_handles_labels()
    if evals:
        score_axis = loss_axis.twinx()
        score_axis.plot([s for s, _ in evals], [v for _, v in evals], "k.-", label=f"dev {eval_task}")
        score_axis.set_ylabel("dev score")
        more_handles, more_labels = score_axis.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    loss_axis.legend(handles, labels, loc="upper right")
    loss_axis.set_title("training curve")
    fig.tight_layout()
    return fig


def plot_training_curve(metrics_path: str | Path, output_png: str | Path, smooth: int = 10) -> Path:
    """Write the training curve of a run's ``metrics.jsonl`` as a PNG, atomically."""
    fig = draw_training_curve(read_metrics(metrics_path), smooth)
    output_png = Path(output_png)
    with atomic_path(output_png) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return output_png
