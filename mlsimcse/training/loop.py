"""The training loop: one readable function from a config to a trained, saved encoder.

Accelerate handles devices, processes and mixed precision; the loop itself is the usual
sample -> embed -> loss -> backward -> step, plus dev evaluation, checkpoints and exact resume. Each process
takes its slice of one global batch drawn by the sampler, so the run sees the same data whatever the number
of processes, and the loss gathers every process's candidates as negatives.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Callable

import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import broadcast_object_list, set_seed
from transformers import get_linear_schedule_with_warmup

from mlsimcse.config import TrainConfig
from mlsimcse.data import MixtureBatchSampler
from mlsimcse.data.run_data import RUN_DATA_DIR, RunData
from mlsimcse.encoder import SentenceEncoder
from mlsimcse.errors import InputError
from mlsimcse.faults import fault_point
from mlsimcse.model_card import write_model_card
from mlsimcse.progress import progress_bar
from mlsimcse.training.allocator import keep_freed_memory
from mlsimcse.training.batches import BatchLoader
from mlsimcse.training.cpu_dropout import use_cpu_dropout
from mlsimcse.training.objectives import ObjectiveLosses
from mlsimcse.training.run_folder import CHECKPOINTS, MODEL_DIR, RunFolder
from mlsimcse.training.run_state import TrainerState, resume_checkpoint, save_checkpoint
from mlsimcse.training.step import StepShape, TrainingStep
from mlsimcse.training.teacher import run_teacher
from mlsimcse.training.trackers import RunTrackers, accelerator_settings
from mlsimcse.training.weight_ensemble import WeightEnsemble, as_saved
from mlsimcse.training.write_failures import reported_write_failure


class _MainProcessLogger(logging.LoggerAdapter):
    """Messages about the run as a whole, logged by the main process only (as ``accelerator.print`` was).

    Accelerate's own ``get_logger`` does the same but puts ``[RANK 0]`` before every message, also in a
    one-process run, where there is no other rank to tell apart.
    """

    def isEnabledFor(self, level: int) -> bool:
        return PartialState().is_main_process and super().isEnabledFor(level)


logger = _MainProcessLogger(logging.getLogger(__name__), {})


class NonFiniteLossError(RuntimeError):
    """Too many consecutive non-finite losses: the run stops before the weights are damaged."""


def train(config: TrainConfig, *, resume: bool = False, datasets: dict | None = None,
          final_evaluation: Callable[[Path], dict[str, float]] | None = None) -> Path:
    """Train per ``config``; returns the folder of the selected model (best on dev, else the last step).

    ``datasets`` maps names to Hugging Face ``datasets`` objects that ``dataset: NAME`` sources train on
    (:mod:`~mlsimcse.data.hf_dataset_source`). ``final_evaluation`` scores the model for the trackers.

    The output folder is checked and locked before the model loads, and unlocked however the run ends
    (:mod:`~mlsimcse.training.run_folder` says what a new run and a resume may find and change there).
    """
    config.validate()
    accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=config.cpu, **accelerator_settings(config),
                              gradient_accumulation_steps=config.gradient_accumulation_steps)
    with contextlib.ExitStack() as cleanup:  # unwound however the run ends, before an error is reported
        folder = _claim_output_dir(accelerator, config, resume)
        if folder is not None:
            cleanup.callback(folder.release)
        return _train(config, accelerator, folder, resume, cleanup, datasets, final_evaluation)


def _claim_output_dir(accelerator: Accelerator, config: TrainConfig, resume: bool) -> RunFolder | None:
    """The main process checks and locks the output folder; the others (the same run) follow its verdict."""
    folder, refusal = None, None
    if accelerator.is_main_process:
        try:
            folder = RunFolder.claim(config.output_dir, config, resume)
        except InputError as err:
            refusal = err
    reason = broadcast_object_list([None if refusal is None else str(refusal)])[0]
    if refusal is not None:
        raise refusal
    if reason is not None:
        raise InputError(reason)
    return folder


def _train(config: TrainConfig, accelerator: Accelerator, folder: RunFolder | None, resume: bool,
           cleanup: contextlib.ExitStack, datasets: dict | None, final_evaluation: Callable | None) -> Path:
    """The run itself; ``folder`` is the claimed output folder on the main process, ``None`` on the others."""
    out = Path(config.output_dir)
    set_seed(config.seed)
    rank, world = accelerator.process_index, accelerator.num_processes

    encoder = SentenceEncoder.from_pretrained(config.model.name_or_path, config.model.pooling,
                                              max_length=config.model.inference_max_length, keep_mlp=config.model.keep_mlp,
                                              trust_remote_code=config.model.trust_remote_code)
    if config.model.freeze_embeddings:
        frozen = encoder.freeze_word_embeddings()
        logger.info(f"token embeddings frozen: {frozen:,} weights train no more (model.freeze_embeddings)")
    if config.model.dropout is not None:
        layers = encoder.set_dropout(config.model.dropout)
        logger.info(f"dropout {config.model.dropout} in {layers} layers (model.dropout)")
    ensemble = None if config.model.wise_ft_alpha is None else WeightEnsemble(encoder, config.model.wise_ft_alpha)
    losses = ObjectiveLosses(config.loss)
    # The main process builds the run's data; the others then open it (output_dir is shared by every machine,
    # as checkpoints already require).
    with accelerator.main_process_first():
        run_data = RunData(out / RUN_DATA_DIR, build=accelerator.is_main_process)
        cleanup.callback(run_data.remove)  # however the run ends; a killed one leaves it to its resume
        sampler = MixtureBatchSampler(config.data, batch_size=config.batch_size * world, seed=config.seed,
                                      datasets=datasets, run_data=run_data)
    teacher = run_teacher(config, encoder, sampler, accelerator.device)
    if accelerator.device.type == "cpu":
        keep_freed_memory()
        if config.cpu_dropout:
            changed = use_cpu_dropout(encoder.backbone)
            logger.info(f"CPU dropout masks for {' and '.join(changed) or 'no layers'} (cpu_dropout: true)")
    optimizer = torch.optim.AdamW(_param_groups(encoder, config.weight_decay), lr=config.learning_rate,
                                  fused=accelerator.device.type in ("cpu", "cuda") or None)
    scheduler = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, config.max_steps)
    model, optimizer = accelerator.prepare(encoder, optimizer)
    step = TrainingStep(model, encoder, losses, teacher, accelerator, StepShape.of(config))

    state = TrainerState()
    if resume:
        state = resume_checkpoint(accelerator, folder, config, sampler, scheduler, logger)
    elif folder is not None:
        folder.start(config)
    trackers = RunTrackers.start(accelerator, config, cleanup)
    accumulation = config.gradient_accumulation_steps
    batches = BatchLoader(sampler, step.tokenize, rank=rank, per_process=config.batch_size,
                          workers=config.dataloader_workers, pin_memory=accelerator.device.type == "cuda",
                          keep_state_at=lambda drawn: drawn % accumulation == 0 and _saves_at(drawn // accumulation,
                                                                                               config))
    cleanup.callback(batches.close)

    progress = cleanup.enter_context(progress_bar(total=config.max_steps, initial=state.step, desc="train",
                                                  unit="step", enabled=accelerator.is_local_main_process))
    started, examples_at_start = time.perf_counter(), state.examples_seen
    while state.step < config.max_steps:
        model.train()
        step_losses = []
        for _ in range(accumulation):
            batch = next(batches)
            with accelerator.accumulate(model):
                loss, backward = step(batch)
                backward()
            step_losses.append(loss)
            state.examples_seen += sampler.batch_size
        mean_loss, finite = _step_outcome(step_losses, accelerator)
        if finite:  # one non-finite micro-batch on any process skips the update everywhere
            accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
        optimizer.zero_grad()
        state.step += 1
        _count_update(state, finite, accelerator.optimizer_step_was_skipped, scheduler, config.max_nonfinite_steps)
        progress.update(1)
        record = {"step": state.step, "objective": batch.objective, "loss": mean_loss,
                  "lr": scheduler.get_last_lr()[0]}
        if logged := state.step % config.log_every == 0 or state.step == config.max_steps:
            elapsed = time.perf_counter() - started
            record["examples_per_s"] = round((state.examples_seen - examples_at_start) / max(elapsed, 1e-9), 2)
            record["elapsed_s"] = round(elapsed, 3)  # since this process started training (resumes restart it)
            if teacher is not None:
                record["teacher_hit_rate"] = round(teacher.hit_rate, 4)  # targets answered from memory
            progress.set_postfix(loss=f"{record['loss']:.4f}", ex_s=record["examples_per_s"])
        if config.eval_task and (state.step % config.eval_every == 0 or state.step == config.max_steps):
            with as_saved(encoder, ensemble):
                record.update(_evaluate(accelerator, encoder, config, state, out))
        if folder is not None:
            folder.log(record)
        trackers.log_step(record, state.step, logged)
        fault_point("after_step", state.step)
        if _saves_at(state.step, config):
            state.sampler, state.scheduler = batches.sampler_state(), scheduler.state_dict()
            save_checkpoint(accelerator, out / CHECKPOINTS, state, config.keep_last_checkpoints)
    progress.close()

    if accelerator.is_main_process and (state.best_step is None or not config.eval_task):
        with as_saved(encoder, ensemble):
            _save_model(encoder, out)
    accelerator.wait_for_everyone()
    trackers.close(final_evaluation, out / MODEL_DIR, state.step)
    accelerator.end_training()
    return out / MODEL_DIR


def _saves_at(step: int, config: TrainConfig) -> bool:
    return step % config.save_every == 0 or step == config.max_steps


def _step_outcome(losses: list[torch.Tensor], accelerator: Accelerator) -> tuple[float, bool]:
    """The step's loss averaged over processes, and whether every loss on every process was finite.

    One all-reduce and one device-to-host copy per step, whatever the number of micro-batches: the update
    decision needs the flag on the host, and the loss rides along with it.
    """
    local = torch.stack(losses)
    summary = torch.stack([local.mean(), torch.isfinite(local).all().float()])
    total = accelerator.reduce(summary, reduction="sum")
    loss, finite_processes = (total / torch.tensor([accelerator.num_processes, 1.0], device=total.device)).tolist()
    return loss, finite_processes == accelerator.num_processes


def _count_update(state: TrainerState, finite: bool, skipped_by_scaler: bool, scheduler,
                  max_nonfinite_steps: int) -> None:
    """Advance the schedule after a real update; count non-finite steps and stop a run that keeps having them."""
    if finite:
        state.nonfinite_in_row = 0
        if not skipped_by_scaler:  # fp16's loss scaler skips updates that overflow
            scheduler.step()
        return
    state.nonfinite_in_row += 1
    state.nonfinite_total += 1
    logger.warning(f"step {state.step}: non-finite loss, update skipped "
                   f"({state.nonfinite_in_row} in a row, {state.nonfinite_total} in all)")
    if state.nonfinite_in_row >= max_nonfinite_steps:
        raise NonFiniteLossError(
            f"{state.nonfinite_in_row} non-finite losses in a row at step {state.step}; stopping so the "
            f"weights stay intact. Lower the learning rate, use bf16 instead of fp16, or check the data.")


def _evaluate(accelerator: Accelerator, encoder: SentenceEncoder, config: TrainConfig,
              state: TrainerState, out: Path) -> dict:
    """Dev STS on the main process; the best-scoring weights are saved as the run's model (SimCSE's selection)."""
    from mlsimcse.evaluation import evaluate_tasks

    result: dict = {}
    if accelerator.is_main_process:
        dev = evaluate_tasks(encoder, [config.eval_task], batch_size=config.eval_batch_size,
                             show_progress_bar=False)[0]
        score = dev.main_score
        result = {"eval_task": config.eval_task, "eval_score": score, "eval_prompt": dev.prompt}
        if state.best_score is None or score > state.best_score:
            state.best_score, state.best_step = score, state.step
            _save_model(encoder, out, dev={"step": state.step, **result})
            result["best"] = True
    accelerator.wait_for_everyone()
    return result


def _save_model(encoder: SentenceEncoder, out: Path, dev: dict | None = None) -> None:
    """The run's model folder (replaced atomically, so a failed save keeps the previous one), and its card."""
    with reported_write_failure(f"saving the model to {out / MODEL_DIR}", out):
        encoder.save_pretrained(out / MODEL_DIR)
        write_model_card(out / MODEL_DIR, dev=dev)


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on biases and LayerNorm weights (the BERT recipe); frozen weights get no optimizer state."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if param.ndim < 2 else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
