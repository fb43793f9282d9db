"""Experiment trackers (TensorBoard, Weights & Biases, MLflow, any Accelerate supports) beside ``metrics.jsonl``.

``metrics.jsonl`` stays the run's own record; ``report_to`` sends the same numbers to the trackers a team
already watches, through Accelerate's tracking API: ``init_trackers`` with the resolved config as flat
hyper-parameters, ``log`` at every ``log_every`` step and at every dev evaluation, and the final evaluation a
caller hands in (the quickstart's before/after averages) at the last step. Only the main process writes;
the trackers are finished however the run ends, so an event file or an offline run is complete even when
training fails. Accelerate silently drops a tracker whose package is missing, so the run refuses to start
instead: asking for TensorBoard and getting nothing would only show when the plots are needed.

File-based trackers write under ``output_dir/logs/``: TensorBoard's events in ``logs/PROJECT/``, W&B's
offline runs (``WANDB_MODE=offline``) in ``logs/wandb/``. MLflow writes where ``MLFLOW_TRACKING_URI`` says.

Nothing here imports Accelerate at module level: the config checks ``report_to`` with these functions, and
reading a config must stay cheap.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from mlsimcse.errors import InputError

if TYPE_CHECKING:
    from accelerate import Accelerator

    from mlsimcse.config import TrainConfig

logger = logging.getLogger(__name__)

NONE, ALL = "none", "all"
LOGS = "logs"
_PIP_NAMES = {"comet_ml": "comet-ml", "mlflow": "mlflow (or mlflow-skinny)"}


def known_trackers() -> tuple[str, ...]:
    """The tracker names Accelerate knows (whether or not their packages are installed)."""
    from accelerate.utils import LoggerType

    return tuple(kind.value for kind in LoggerType if kind.value != ALL)


def tracker_names(value: str | list[str] | None) -> list[str]:
    """``report_to`` as a list, the way Hugging Face users write it: one name, a list, ``none`` (or null), ``all``."""
    names = [name.strip().lower() for name in ([value] if isinstance(value, str) else value or [])]
    if NONE in names:
        others = [name for name in names if name != NONE]
        if others:
            raise ValueError(f"'none' turns every tracker off, so it cannot be listed with {', '.join(others)}")
        return []
    return list(dict.fromkeys(names))


def check_report_to(value: str | list[str] | None) -> None:
    """Every name is one of Accelerate's trackers (or ``all``/``none``); raises ``ValueError`` naming the others."""
    names = tracker_names(value)
    if not names:
        return
    known = known_trackers()
    unknown = [name for name in names if name != ALL and name not in known]
    if unknown:
        raise ValueError(f"unknown tracker(s) {', '.join(unknown)}; Accelerate's trackers: {', '.join(known)} "
                         f"(or {ALL}, or {NONE})")


def accelerator_settings(config: TrainConfig) -> dict[str, Any]:
    """``log_with`` and ``project_dir`` for ``Accelerator(...)``; refuses a tracker whose package is missing.

    Called before the model loads, so a missing package costs a second, not a loaded model.
    """
    if not config.report_to:
        return {}
    from accelerate.tracking import get_available_trackers

    available = [str(getattr(kind, "value", kind)) for kind in get_available_trackers()]
    missing = [name for name in config.report_to if name != ALL and name not in available]
    if missing:
        packages = ", ".join(_PIP_NAMES.get(name, name) for name in missing)
        raise InputError(f"report_to: {', '.join(missing)} requested but not installed; pip install {packages}, "
                         "or drop it from report_to")
    if ALL in config.report_to and not available:
        raise InputError("report_to: all found no tracker installed; pip install tensorboard (or wandb, mlflow)")
    return {"log_with": list(config.report_to), "project_dir": str(Path(config.output_dir) / LOGS)}


def project_name(config: TrainConfig) -> str:
    """``tracker_project``, else the output folder's name (one project per run folder)."""
    return config.tracker_project or Path(config.output_dir).resolve().name


def hyperparameters(config: TrainConfig) -> dict[str, Any]:
    """The resolved config as the flat scalars trackers take: dotted keys (``data.sources.0.path``), lists and
    empty mappings as JSON."""
    from mlsimcse.training.run_folder import flat_settings

    return {tracker_key(key): value if value is None or isinstance(value, (bool, int, float, str))
            else json.dumps(value) for key, value in flat_settings(config.to_dict()).items()}


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """The numbers of a ``metrics.jsonl`` line under their own names (the step is the trackers' x axis)."""
    return {tracker_key(key): value for key, value in record.items()
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool)}


def tracker_key(key: str) -> str:
    """A name every tracker takes: MLflow, the strictest, allows letters, digits and ``_-. :/`` only."""
    return re.sub(r"[^\w\-. :/]", "_", re.sub(r"\[(\d+)\]", r".\1", key))


class RunTrackers:
    """The run's trackers: started once the output folder is claimed, finished on every way out of the run."""

    def __init__(self, accelerator: Accelerator, enabled: bool):
        self._accelerator, self.enabled = accelerator, enabled

    @classmethod
    def start(cls, accelerator: Accelerator, config: TrainConfig, cleanup: contextlib.ExitStack) -> RunTrackers:
        trackers = cls(accelerator, bool(config.report_to))
        if trackers.enabled:
            cleanup.callback(trackers.finish)  # before starting: a tracker that fails to start leaves none open
            if accelerator.is_main_process:
                (Path(config.output_dir) / LOGS).mkdir(exist_ok=True)  # W&B falls back to a temporary folder
            accelerator.init_trackers(project_name(config), config=hyperparameters(config),
                                      init_kwargs={"wandb": {"dir": str(Path(config.output_dir) / LOGS)}})
            if accelerator.is_main_process:
                names = ", ".join(tracker.name for tracker in accelerator.trackers)
                logger.info("reporting to %s (project %s)", names, project_name(config))
        return trackers

    def log(self, values: dict[str, Any], step: int) -> None:
        """Log the numbers of ``values`` at ``step`` on the main process (Accelerate skips the others)."""
        if self.enabled:
            self._accelerator.log(scalars(values), step=step)

    def log_step(self, record: dict[str, Any], step: int, at_log_every: bool) -> None:
        """A step's ``metrics.jsonl`` line, at ``log_every`` steps and whenever it holds a dev score."""
        if at_log_every or "eval_score" in record:
            self.log(record, step)

    def close(self, final_evaluation: Callable[[Path], dict[str, float]] | None, model_dir: Path, step: int) -> None:
        """The end of a run that went through: ``final_evaluation(model_dir)`` (on every process, as a script
        after training would run it) is logged at the last step, then the trackers are finished."""
        if final_evaluation is not None:
            self.log(final_evaluation(model_dir), step)
        self.finish()

    def finish(self) -> None:
        """Close every tracker once; a tracker that fails to close is reported, never raised over the run's
        own error."""
        trackers = self._accelerator.trackers
        while trackers:
            tracker = trackers.pop()
            try:
                tracker.finish()
            except Exception as err:  # noqa: BLE001 - closing must not hide why the run ended
                logger.warning("closing the %s tracker failed: %s", tracker.name, err)
