"""What a run keeps between the lives of its processes: the trainer state, saved with each checkpoint and
restored on ``--resume``.

Tensors (weights, optimizer, generators) go through Accelerate's ``save_state``/``load_state``; everything
else a resume needs (step, best dev score, sampler and schedule positions) is :class:`TrainerState`, stored as
JSON beside them so resuming unpickles nothing. Checkpoints are staged and sealed by
:mod:`~mlsimcse.training.checkpoints`, so a killed save never becomes the checkpoint a resume picks.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from accelerate import Accelerator

from mlsimcse.config import TrainConfig
from mlsimcse.errors import InputError
from mlsimcse.training.checkpoints import cleaned_up_on_failure, discard_staging, load_latest, publish
from mlsimcse.training.run_folder import CHECKPOINTS, CONFIG, METRICS, RESUMES, RunFolder


@dataclass
class TrainerState:
    """Everything besides tensors that resuming needs (stored as JSON in each checkpoint)."""

    step: int = 0
    examples_seen: int = 0
    best_score: float | None = None
    best_step: int | None = None
    nonfinite_in_row: int = 0
    nonfinite_total: int = 0
    sampler: dict = field(default_factory=dict)
    scheduler: dict = field(default_factory=dict)  # JSON, so resuming unpickles nothing


def save_checkpoint(accelerator: Accelerator, root: Path, state: TrainerState, keep_last: int) -> None:
    """Every process writes its part into one staging folder; the main process seals and publishes it."""
    with cleaned_up_on_failure(root, state.step, discard=accelerator.is_main_process) as staged:
        if accelerator.is_main_process:
            discard_staging(staged)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(staged), safe_serialization=True)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            publish(root, state.step, asdict(state), keep_last, keep_steps={state.best_step})
    accelerator.wait_for_everyone()


def resume_checkpoint(accelerator: Accelerator, folder: RunFolder | None, config: TrainConfig, sampler, scheduler,
                      logger: logging.LoggerAdapter | logging.Logger) -> TrainerState:
    """Restore weights, optimizer and generator states (via Accelerate), then the sampler and the schedule.

    Only then, with the step known, does the main process change the folder: metrics past the step go (they
    are trained again), and the resume is recorded. ``logger`` is the loop's, which speaks on the main process only.
    """

    def load(path: Path, info: dict) -> None:
        accelerator.load_state(str(path))
        restored.append(TrainerState(**info))

    root = Path(config.output_dir) / CHECKPOINTS
    restored: list[TrainerState] = []
    path = load_latest(root, load, warn=logger.warning)
    if path is None:  # checked before the model loaded; gone since
        raise InputError("nothing to resume from: no complete checkpoint", path=root)
    state = restored[0]
    if state.step > config.max_steps:
        raise InputError(f"max_steps={config.max_steps} is below step {state.step} of the checkpoint resumed "
                         f"from; nothing was changed", path=path)
    sampler.load_state_dict(state.sampler)
    scheduler.load_state_dict(state.scheduler)
    logger.info(f"resumed from {path} (step {state.step})")
    if folder is not None:
        dropped = folder.resumed(config, path, state.step)
        for key, (old, new) in folder.changes.items():
            logger.info(f"{key}: {old} -> {new} (recorded in {CONFIG} and {RESUMES})")
        if dropped:
            logger.info(f"dropped {dropped} line(s) of {METRICS} past step {state.step}: those steps run again")
    return state
