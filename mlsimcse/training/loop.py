"""The training loop: one readable function from a config to a trained, saved encoder.

Accelerate handles devices, processes and mixed precision; the loop itself is the usual
sample -> embed -> loss -> backward -> step, plus dev evaluation, checkpoints and exact resume. Each process
takes its slice of one global batch drawn by the sampler, so the run sees the same data whatever the number
of processes, and the loss gathers every process's candidates as negatives.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from mlsimcse.config import TrainConfig, save_config
from mlsimcse.data import MixtureBatchSampler
from mlsimcse.encoder import SentenceEncoder
from mlsimcse.errors import InputError
from mlsimcse.records import Example
from mlsimcse.training.allocator import keep_freed_memory
from mlsimcse.training.checkpoints import discard_staging, load_latest, publish, staging_dir
from mlsimcse.training.cpu_dropout import use_cpu_dropout
from mlsimcse.training.gradcache import cached_step_loss
from mlsimcse.training.objectives import ObjectiveLosses, batch_groups, text_columns
from mlsimcse.training.teacher import FrozenTeacher

CHECKPOINTS = "checkpoints"
MODEL_DIR = "model"
METRICS = "metrics.jsonl"


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


class NonFiniteLossError(RuntimeError):
    """Too many consecutive non-finite losses: the run stops before the weights are damaged."""


def train(config: TrainConfig, *, resume: bool = False) -> Path:
    """Train per ``config``; returns the folder of the selected model (best on dev, else the last step)."""
    config.validate()
    out = Path(config.output_dir)
    _check_output_dir(out, resume)
    accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=config.cpu,
                              gradient_accumulation_steps=config.gradient_accumulation_steps)
    set_seed(config.seed)
    rank, world = accelerator.process_index, accelerator.num_processes

    encoder = SentenceEncoder.from_pretrained(config.model.name_or_path, config.model.pooling,
                                              max_length=config.model.inference_max_length, keep_mlp=config.model.keep_mlp,
                                              trust_remote_code=config.model.trust_remote_code)
    losses = ObjectiveLosses(config.loss)
    sampler = MixtureBatchSampler(config.data, batch_size=config.batch_size * world, seed=config.seed)
    teacher = _teacher(config, encoder, sampler, accelerator.device)
    if accelerator.device.type == "cpu":
        keep_freed_memory()
        if config.cpu_dropout:
            changed = use_cpu_dropout(encoder.backbone)
            accelerator.print(f"CPU dropout masks for {' and '.join(changed) or 'no layers'} (cpu_dropout: true)")
    optimizer = torch.optim.AdamW(_param_groups(encoder, config.weight_decay), lr=config.learning_rate,
                                  fused=accelerator.device.type in ("cpu", "cuda") or None)
    scheduler = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, config.max_steps)
    model, optimizer = accelerator.prepare(encoder, optimizer)
    compute_loss = cached_step_loss if config.mini_batch_size else _step_loss

    state = TrainerState()
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        save_config(config, out / "config.yaml")
    if resume:
        state = _resume(accelerator, out / CHECKPOINTS, sampler, scheduler) or state
    batches = iter(sampler)

    progress = tqdm(total=config.max_steps, initial=state.step, desc="train", unit="step",
                    disable=not accelerator.is_local_main_process)
    started, examples_at_start = time.perf_counter(), state.examples_seen
    while state.step < config.max_steps:
        model.train()
        finite, step_losses = True, []
        for _ in range(config.gradient_accumulation_steps):
            batch = next(batches)
            local = batch[rank * config.batch_size:(rank + 1) * config.batch_size]
            with accelerator.accumulate(model):
                loss, backward = compute_loss(model, encoder, losses, teacher, local, config, accelerator)
                batch_finite = _all_finite(loss, accelerator)
                finite = finite and batch_finite  # one bad micro-batch skips the whole update
                if batch_finite:
                    backward()
                if finite and accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step() if finite else None
                optimizer.zero_grad()
            step_losses.append(loss.detach())
            state.examples_seen += len(batch)
        state.step += 1
        if finite:
            state.nonfinite_in_row = 0
            if not accelerator.optimizer_step_was_skipped:  # fp16's loss scaler skips updates that overflow
                scheduler.step()
        else:
            state.nonfinite_in_row += 1
            state.nonfinite_total += 1
            accelerator.print(f"step {state.step}: non-finite loss, update skipped "
                              f"({state.nonfinite_in_row} in a row, {state.nonfinite_total} in all)")
            if state.nonfinite_in_row >= config.max_nonfinite_steps:
                raise NonFiniteLossError(
                    f"{state.nonfinite_in_row} non-finite losses in a row at step {state.step}; stopping so the "
                    f"weights stay intact. Lower the learning rate, use bf16 instead of fp16, or check the data.")
        progress.update(1)
        record = {"step": state.step, "objective": batch[0].objective,
                  "loss": float(accelerator.reduce(torch.stack(step_losses).mean(), reduction="mean")),
                  "lr": scheduler.get_last_lr()[0]}
        if state.step % config.log_every == 0 or state.step == config.max_steps:
            elapsed = time.perf_counter() - started
            record["examples_per_s"] = round((state.examples_seen - examples_at_start) / max(elapsed, 1e-9), 2)
            record["elapsed_s"] = round(elapsed, 3)  # since this process started training (resumes restart it)
            if teacher is not None:
                record["teacher_hit_rate"] = round(teacher.hit_rate, 4)  # targets answered from memory
            progress.set_postfix(loss=f"{record['loss']:.4f}", ex_s=record["examples_per_s"])
        if config.eval_task and (state.step % config.eval_every == 0 or state.step == config.max_steps):
            record.update(_evaluate(accelerator, encoder, config, state, out))
        if accelerator.is_main_process:
            with open(out / METRICS, "a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")
        if state.step % config.save_every == 0 or state.step == config.max_steps:
            state.sampler, state.scheduler = sampler.state_dict(), scheduler.state_dict()
            _save(accelerator, out / CHECKPOINTS, state, config.keep_last_checkpoints)
    progress.close()

    if accelerator.is_main_process and (state.best_step is None or not config.eval_task):
        encoder.save_pretrained(out / MODEL_DIR)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return out / MODEL_DIR


def _step_loss(model, encoder: SentenceEncoder, losses: ObjectiveLosses, teacher: FrozenTeacher | None,
               batch: list[Example], config: TrainConfig,
               accelerator: Accelerator) -> tuple[torch.Tensor, Callable[[], None]]:
    """One forward pass over all columns of the batch (concatenated): the loss, and its backward for later.

    The backward waits so the loop can first check that every process's loss is finite
    (:func:`~mlsimcse.training.gradcache.cached_step_loss` has the same shape).
    """
    objective = batch[0].objective
    columns = text_columns(objective, batch)
    flat = [text for column in columns for text in column]
    features = {k: v.to(accelerator.device) for k, v in encoder.tokenize(flat, config.model.max_length).items()}
    with accelerator.autocast():
        embeddings = model(features, chunk_size=config.forward_chunk_size,
                           chunk_tokens=config.forward_chunk_tokens).float().split(len(batch))
    teacher_embeddings = teacher(columns[0]) if objective == "distill" else None
    loss = losses(objective, list(embeddings), batch_groups(batch), teacher_embeddings)
    return loss, lambda: accelerator.backward(loss)


def _all_finite(loss: torch.Tensor, accelerator: Accelerator) -> bool:
    """True when every process's loss is finite (all processes must skip a step together)."""
    flag = torch.tensor([1.0 if torch.isfinite(loss).all() else 0.0], device=accelerator.device)
    return bool(accelerator.reduce(flag, reduction="sum").item() == accelerator.num_processes)


def _evaluate(accelerator: Accelerator, encoder: SentenceEncoder, config: TrainConfig,
              state: TrainerState, out: Path) -> dict:
    """Dev STS on the main process; the best-scoring weights are saved as the run's model (SimCSE's selection)."""
    from mlsimcse.evaluation import evaluate_tasks

    result: dict = {}
    if accelerator.is_main_process:
        score = evaluate_tasks(encoder, [config.eval_task], batch_size=config.eval_batch_size,
                               show_progress_bar=False)[0].main_score
        result = {"eval_task": config.eval_task, "eval_score": score}
        if state.best_score is None or score > state.best_score:
            state.best_score, state.best_step = score, state.step
            encoder.save_pretrained(out / MODEL_DIR)
            result["best"] = True
    accelerator.wait_for_everyone()
    return result


def _save(accelerator: Accelerator, root: Path, state: TrainerState, keep_last: int) -> None:
    """Every process writes its part into one staging folder; the main process seals and publishes it."""
    staged = staging_dir(root, state.step)
    if accelerator.is_main_process:
        discard_staging(staged)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staged), safe_serialization=True)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        publish(root, state.step, asdict(state), keep_last, keep_steps={state.best_step})
    accelerator.wait_for_everyone()


def _resume(accelerator: Accelerator, root: Path, sampler, scheduler) -> TrainerState | None:
    """Restore weights, optimizer and generator states (via Accelerate), then the sampler and the schedule."""

    def load(path: Path, info: dict) -> None:
        accelerator.load_state(str(path))
        restored.append(TrainerState(**info))

    restored: list[TrainerState] = []
    path = load_latest(root, load, warn=accelerator.print)
    if path is None:
        accelerator.print(f"no checkpoint under {root}; starting from step 0")
        return None
    state = restored[0]
    sampler.load_state_dict(state.sampler)
    scheduler.load_state_dict(state.scheduler)
    accelerator.print(f"resumed from {path} (step {state.step})")
    return state


def _teacher(config: TrainConfig, encoder: SentenceEncoder, sampler, device) -> FrozenTeacher | None:
    """A frozen copy of the starting model (or ``loss.distill_teacher``) when any source is ``distill``."""
    if "distill" not in sampler.objectives:
        return None
    source = config.loss.distill_teacher or config.model.name_or_path
    teacher = SentenceEncoder.from_pretrained(source, encoder.pooling if source == config.model.name_or_path
                                              else None)
    chunk_size = config.mini_batch_size or config.forward_chunk_size
    return FrozenTeacher(teacher.to(device), config.model.max_length, chunk_size, config.forward_chunk_tokens)


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on biases and LayerNorm weights (the BERT recipe)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if param.ndim < 2 else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _check_output_dir(out: Path, resume: bool) -> None:
    """Never write over an earlier run: a used folder needs ``--resume``."""
    if out.exists() and not out.is_dir():
        raise InputError("output path exists and is not a folder", path=out)
    if not resume and out.is_dir() and any(out.iterdir()):
        raise InputError("output folder already holds a run; pass --resume to continue it or choose a new folder",
                         path=out)
