"""Training configuration: dataclasses, YAML files and ``key=value`` command-line overrides.

Every run is described by one :class:`TrainConfig`. It is written back, fully resolved, into the run's output
folder, so a result can always be traced to the exact settings that produced it. Defaults follow the SimCSE
paper (max length 32, temperature 0.05, learning rate 3e-5, [CLS] with an MLP in training).

Every setting is checked against its type and range as the config is built (:mod:`mlsimcse.schema`), before a
model or a data file is opened: a typo or a bad value fails in a second, naming the file and line or the
override, not after the model has loaded or, for ``eval_task``, at the first evaluation hundreds of steps in.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlsimcse.data.mixture import MixtureConfig
from mlsimcse.errors import InputError
from mlsimcse.losses import distill_terms
from mlsimcse.pooling import POOLINGS
from mlsimcse.records import OBJECTIVES
from mlsimcse.schema import FieldError, build, check_fields, setting
from mlsimcse.shipped import resolve_config, source_path
from mlsimcse.training.trackers import check_report_to, tracker_names
from mlsimcse.yaml_marks import KeyPath, line_of, read_yaml_mapping

MIXED_PRECISIONS = ("no", "bf16", "fp16")


def check_eval_task(name: str) -> None:
    """``eval_task`` must name one task the registry can build; building one reads no data."""
    from mlsimcse.evaluation.registry import GROUPS, SUITES, build_task

    if name in GROUPS or name in SUITES:
        example = GROUPS[name][0] if name in GROUPS else "stsb-dev:en"
        raise ValueError(f"{name!r} names several tasks; the trainer selects checkpoints on one, e.g. {example}")
    build_task(name)


def check_objective_weights(weights: dict[str, float]) -> None:
    unknown = sorted(set(weights) - set(OBJECTIVES))
    if unknown:
        raise ValueError(f"unknown objective(s) {', '.join(unknown)}; objectives: {', '.join(OBJECTIVES)}")
    negative = [name for name, weight in weights.items() if weight < 0]
    if negative:
        raise ValueError(f"weights must be at least 0, not {', '.join(f'{n}: {weights[n]}' for n in negative)}")


def check_dropout(p: float) -> None:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
        raise ValueError(f"must be a probability, at least 0 and below 1, got {p!r}")


@dataclass
class ModelConfig:
    """Which backbone to start from and how its token states become a sentence vector."""

    name_or_path: str = "xlm-roberta-base"
    pooling: str = setting("cls_mlp", choices=POOLINGS)
    keep_mlp: bool = False  # unsupervised SimCSE drops the MLP at test time; supervised SimCSE keeps it
    max_length: int = setting(32, ge=1)  # training truncation (SimCSE's 32); inference keeps the saved length below
    inference_max_length: int | None = setting(None, ge=1)  # saved with the model for encode; None: the base's
    trust_remote_code: bool = False
    freeze_embeddings: bool = False  # keep the token-embedding matrix fixed (most of XLM-R's weights; no AdamW state)
    # every dropout layer of the backbone (hidden and attention) at this probability while training; None: the
    # model's own (0.1 for BERT and XLM-R). Dropout is unsupervised SimCSE's augmentation: 0 makes the two views equal
    dropout: float | None = setting(None, check=check_dropout)
    # WiSE-FT: save alpha * trained + (1 - alpha) * base weights as the model (training/weight_ensemble.py); None: trained
    wise_ft_alpha: float | None = setting(None, gt=0, le=1)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class LossConfig:
    """How each objective turns embeddings into a loss."""

    temperature: float = setting(0.05, gt=0)
    symmetric_parallel: bool = True  # translation pairs: source->target and target->source
    hard_negative_weight: float = 0.0
    margin: float = 0.0  # additive margin on the positive (LaBSE); 0.3 is LaBSE's value
    mask_false_negatives: bool = True
    gather_across_processes: bool = True
    # mse | contrastive | similarity | translation, or several joined by "+" (summed)
    distill_mode: str = setting("mse", check=distill_terms)
    distill_teacher: str | None = None  # default: a frozen copy of the starting model
    objective_weights: dict[str, float] = setting(factory=dict, check=check_objective_weights)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class TrainConfig:
    """One training run. ``batch_size`` is per process; negatives per anchor = batch_size x processes."""

    output_dir: str = "runs/simcse"
    model: ModelConfig = setting(factory=ModelConfig)
    data: MixtureConfig | None = None  # required: the sources to train on
    loss: LossConfig = setting(factory=LossConfig)
    batch_size: int = setting(64, ge=1)
    max_steps: int = setting(1000, ge=1)
    learning_rate: float = setting(3e-5, gt=0)
    weight_decay: float = setting(0.0, ge=0)
    warmup_steps: int = setting(0, ge=0)
    max_grad_norm: float = setting(1.0, gt=0)
    gradient_accumulation_steps: int = setting(1, ge=1)  # averages gradients of several batches; adds no negatives
    mini_batch_size: int | None = setting(None, ge=1)  # GradCache chunk size: large batches in small memory
    forward_chunk_size: int | None = setting(None, ge=1)  # length-sorted chunks of this many texts: less padding
    forward_chunk_tokens: int | None = setting(None, ge=1)  # ... of at most this many padded tokens
    dataloader_workers: int = setting(0, ge=0)  # processes tokenising batches ahead of the step; 0: this one
    mixed_precision: str = setting("no", choices=MIXED_PRECISIONS)
    cpu_dropout: bool = True  # on CPU, dropout masks 16 bits a draw (training/cpu_dropout.py); false: torch's own
    seed: int = setting(42, ge=0, le=2**32 - 1)  # numpy's seed range
    eval_task: str | None = setting("stsb-dev:en", check=check_eval_task)
    eval_every: int = setting(250, ge=1)
    eval_batch_size: int = setting(128, ge=1)
    save_every: int = setting(250, ge=1)
    keep_last_checkpoints: int = setting(2, ge=1)
    log_every: int = setting(10, ge=1)
    # experiment trackers beside metrics.jsonl (training/trackers.py): tensorboard, wandb, mlflow... or all / none
    report_to: str | list[str] | None = setting(factory=list, check=check_report_to)
    tracker_project: str | None = None  # the trackers' project name; default: the output folder's name
    max_nonfinite_steps: int = setting(5, ge=1)  # consecutive non-finite losses tolerated (skipped) before aborting
    cpu: bool = False

    def __post_init__(self) -> None:
        if self.mixed_precision is False:  # YAML reads a bare `no` as false
            self.mixed_precision = "no"
        check_fields(self)
        self.report_to = tracker_names(self.report_to)  # one list, however it was written (checked above)

    def validate(self) -> None:
        """Check the whole config again (fields may have been set since it was built) and what spans fields."""
        self.__post_init__()
        if self.mini_batch_size is not None and self.mini_batch_size > self.batch_size:
            raise FieldError(("mini_batch_size",), f"must be at most batch_size ({self.batch_size}), "
                                                   f"got {self.mini_batch_size}")
        if self.data is None:
            raise FieldError(("data",), "is missing: the config names no training data; add a data: section "
                                        "with sources")
        try:
            self.data.check_files()
        except FieldError as err:
            raise err.under(("data",)) from None

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(self)


def _anchor_source_paths(values: dict[str, Any], folder: Path) -> None:
    """Relative data paths in a config file are relative to that file, so configs work from any directory; a
    bare name that is no file there picks a shipped recipe (:func:`mlsimcse.shipped.source_path`).

    A model name or a source's ``dataset`` starting with ``./`` or ``../`` is a relative folder too (Hub names
    never start with a dot).
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
            anchored = source_path(raw, folder)
            data["sources"][index] = {**entry, "path": anchored} if isinstance(entry, dict) else anchored
        dataset = entry.get("dataset") if isinstance(entry, dict) else None
        if isinstance(dataset, str) and dataset.startswith(("./", "../")):
            data["sources"][index] = {**entry, "dataset": str((folder / dataset).resolve())}


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """Read a YAML config (a path, or a shipped config's short name such as ``quickstart``), apply
    ``dotted.key=value`` overrides (values parsed as YAML) and check every setting.

    An error names the override that set the bad value, else the file and the line of the key.
    """
    values: dict[str, Any] = {}
    lines: dict[KeyPath, int] = {}
    if path is not None:
        path = resolve_config(path)
        if path.exists() and not path.is_file():
            raise InputError("the config is not a file", path=path)
        values, lines = read_yaml_mapping(path, "config")
        _anchor_source_paths(values, path.parent)
    applied = [(_apply_override(values, item), item) for item in overrides]
    try:
        config = build(TrainConfig, values)
        config.validate()
    except FieldError as err:
        item = next((item for key, item in reversed(applied) if err.key[:len(key)] == key), None)
        if item is not None:
            raise InputError(f"override {item}: {err}") from None
        raise InputError(str(err), path=path, line=line_of(lines, err.key)) from None
    except InputError as err:
        if err.path is not None or path is None:
            raise
        raise InputError(err.reason, path=path) from None  # a section's own check: name the file at least
    return config


def _apply_override(values: dict[str, Any], item: str) -> KeyPath:
    """Set ``dotted.key=value`` in ``values``; returns the key path it set."""
    key, sep, raw = item.partition("=")
    parts = tuple(key.strip().split("."))
    if not sep or not all(parts):
        raise InputError(f"override {item!r} is not of the form key=value (dotted keys, e.g. loss.temperature=0.05)")
    node = values
    for depth, part in enumerate(parts[:-1]):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise InputError(f"override {item}: {'.'.join(parts[:depth + 1])} is not a section")
    try:
        node[parts[-1]] = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        raise InputError(f"override {item}: the value is not valid YAML ({getattr(err, 'problem', None) or err})") \
            from None
    return parts


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
