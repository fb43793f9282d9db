"""Training configuration: dataclasses, YAML files and ``key=value`` command-line overrides.

Every run is described by one :class:`TrainConfig`. It is written back, fully resolved, into the run's output
folder, so a result can always be traced to the exact settings that produced it. Defaults follow the SimCSE
paper (max length 32, temperature 0.05, learning rate 3e-5, [CLS] with an MLP in training).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlsimcse.data import MixtureConfig
from mlsimcse.errors import InputError


@dataclass
class ModelConfig:
    """Which backbone to start from and how its token states become a sentence vector."""

    name_or_path: str = "xlm-roberta-base"
    pooling: str = "cls_mlp"
    keep_mlp: bool = False  # unsupervised SimCSE drops the MLP at test time; supervised SimCSE keeps it
    max_length: int = 32  # training truncation (SimCSE's 32); inference keeps the saved length below
    inference_max_length: int | None = None  # saved with the model for encode; None keeps the base model's
    trust_remote_code: bool = False


@dataclass
class LossConfig:
    """How each objective turns embeddings into a loss."""

    temperature: float = 0.05
    symmetric_parallel: bool = True  # translation pairs: source->target and target->source
    hard_negative_weight: float = 0.0
    margin: float = 0.0  # additive margin on the positive (LaBSE); 0.3 is LaBSE's value
    mask_false_negatives: bool = True
    gather_across_processes: bool = True
    distill_mode: str = "mse"  # mse | contrastive | similarity | translation, or several joined by "+" (summed)
    distill_teacher: str | None = None  # default: a frozen copy of the starting model
    objective_weights: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainConfig:
    """One training run. ``batch_size`` is per process; negatives per anchor = batch_size x processes."""

    output_dir: str = "runs/simcse"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: MixtureConfig | None = None  # required: the sources to train on
    loss: LossConfig = field(default_factory=LossConfig)
    batch_size: int = 64
    max_steps: int = 1000
    learning_rate: float = 3e-5
    weight_decay: float = 0.0
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    gradient_accumulation_steps: int = 1  # averages gradients of several batches; adds no negatives
    mini_batch_size: int | None = None  # GradCache chunk size: large batches in small memory
    forward_chunk_size: int | None = None  # run length-sorted chunks of this many texts: less padding, same math
    forward_chunk_tokens: int | None = None  # ... and of at most this many padded tokens (short texts: bigger chunks)
    mixed_precision: str = "no"  # no | bf16 | fp16
    cpu_dropout: bool = True  # on CPU, dropout masks 16 bits a draw (training/cpu_dropout.py); false: torch's own
    seed: int = 42
    eval_task: str | None = "stsb-dev:en"
    eval_every: int = 250
    eval_batch_size: int = 128
    save_every: int = 250
    keep_last_checkpoints: int = 2
    log_every: int = 10
    max_nonfinite_steps: int = 5  # consecutive non-finite losses tolerated (skipped) before aborting
    cpu: bool = False

    def __post_init__(self) -> None:
        if self.mixed_precision is False:  # YAML reads a bare `no` as false
            self.mixed_precision = "no"

    def validate(self) -> None:
        if self.mixed_precision not in ("no", "bf16", "fp16"):
            raise InputError(f"mixed_precision must be no, bf16 or fp16, not {self.mixed_precision!r}")
        for name in ("batch_size", "max_steps", "eval_every", "save_every", "log_every",
                     "gradient_accumulation_steps", "max_nonfinite_steps"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("forward_chunk_size", "forward_chunk_tokens"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1 (or null for no chunking), not {getattr(self, name)}")
        if self.mini_batch_size is not None and not 1 <= self.mini_batch_size <= self.batch_size:
            raise InputError(f"mini_batch_size must be between 1 and batch_size ({self.batch_size})")
        if self.data is None:
            raise InputError("the config names no training data: add a data: section with sources")
        from mlsimcse.losses import DistillationLoss  # checked here so a typo fails before any data is read

        try:
            DistillationLoss(self.loss.distill_mode)
        except ValueError as err:
            raise InputError(f"loss.distill_mode: {err}") from None

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(self)


def from_dict(cls: type, values: dict[str, Any], where: str = "config") -> Any:
    """Build dataclass ``cls`` from nested dicts, refusing unknown keys (a typo must not pass silently)."""
    if hasattr(cls, "from_dict") and cls is not TrainConfig:
        return cls.from_dict(values)
    if not isinstance(values, dict):
        raise InputError(f"{where} must be a mapping, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(f"unknown key(s) in {where}: {', '.join(unknown)}; known keys: {', '.join(sorted(known))}")
    kwargs = {}
    for name, value in values.items():
        hint = _unwrap_optional(hints[name])
        if dataclasses.is_dataclass(hint) and isinstance(hint, type) and value is not None:
            kwargs[name] = from_dict(hint, value, f"{where}.{name}")
        else:
            kwargs[name] = value
    return cls(**kwargs)


def _anchor_source_paths(values: dict[str, Any], folder: Path) -> None:
    """Relative data paths in a config file are relative to that file, so configs work from any directory.

    A model name starting with ``./`` or ``../`` is a relative folder too (Hub names never start with a dot).
    """
    model = values.get("model")
    if isinstance(model, dict) and str(model.get("name_or_path", "")).startswith(("./", "../")):
        model["name_or_path"] = str((folder / model["name_or_path"]).resolve())
    data = values.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
        return
    for index, entry in enumerate(data["sources"]):
        raw = entry.get("path") if isinstance(entry, dict) else entry
        if isinstance(raw, str) and not Path(raw).expanduser().is_absolute():
            anchored = str(folder / raw)
            data["sources"][index] = {**entry, "path": anchored} if isinstance(entry, dict) else anchored


def _unwrap_optional(hint: Any) -> Any:
    """``X | None`` -> ``X``, so optional sections are still built from their mappings."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if len(args) == 1 and type(None) in typing.get_args(hint) else hint


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """Read a YAML config and apply ``dotted.key=value`` overrides (values parsed as YAML)."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InputError("config file not found", path=path)
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            raise InputError(f"invalid YAML: {getattr(err, 'problem', err)}", path=path,
                             line=None if mark is None else mark.line + 1) from None
        _anchor_source_paths(values, path.parent)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InputError(f"override {item!r} is not of the form key=value")
        node = values
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise InputError(f"override {item!r}: {part!r} is not a section")
        node[parts[-1]] = yaml.safe_load(raw)
    config = from_dict(TrainConfig, values, where=str(path) if path else "config")
    config.validate()
    return config


def save_config(config: TrainConfig, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True), encoding="utf-8")


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_to_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items()}
    return obj
