"""A run's output folder: what starting or resuming a run may find there, and what it may change in it.

Nothing a user had is lost. A new run starts only in a new or empty folder. ``--resume`` continues only a
folder that holds a checkpoint, and only with the settings the run was started with: a few settings that do
not change what a training step computes may differ (:data:`ALLOWED_ON_RESUME`); they are written into
``config.yaml`` and recorded in ``resumes.jsonl``. Every check, the lock (:mod:`.run_lock`) and a probe write
come before the model loads, and nothing in the folder is written until they all pass. ``metrics.jsonl``
keeps one line per step: a resume first drops the lines past the checkpoint it continues from, since those
steps are trained again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from mlsimcse.config import TrainConfig, save_config
from mlsimcse.errors import InputError
from mlsimcse.io_utils import atomic_path, refuse_existing_output
from mlsimcse.training.checkpoints import complete_checkpoints
from mlsimcse.training.run_lock import LOCK_FILE, RunLock
from mlsimcse.training.write_failures import CAUSES, reported_write_failure

CHECKPOINTS = "checkpoints"
MODEL_DIR = "model"
METRICS = "metrics.jsonl"
CONFIG = "config.yaml"
RESUMES = "resumes.jsonl"

# Settings a resumed run may change. None alters a training step's loss or update: they say how long the run goes
# on (the linear decay then ends at the new max_steps), when it logs, evaluates and saves, how many checkpoints
# it keeps, how the dev set is batched, and how many non-finite steps in a row end the run. Everything else
# (learning rate, batch size, seed, data, loss, precision, chunking...) would make the resumed run a different
# run than its checkpoints and config.yaml say. Where the numbers are reported (report_to, tracker_project)
# changes no step either, nor does how many processes tokenise the batches.
ALLOWED_ON_RESUME = ("max_steps", "log_every", "eval_every", "save_every", "keep_last_checkpoints",
                     "eval_batch_size", "max_nonfinite_steps", "report_to", "tracker_project", "dataloader_workers")
_NOT_COMPARED = ("output_dir",)  # the folder being resumed, however it was spelled
_UNSET = object()


class RunFolder:
    """The locked output folder of a run, held by its main process; every write into it goes through here."""

    def __init__(self, out: Path, lock: RunLock, created: bool, changes: dict[str, tuple[Any, Any]]):
        self.out, self._lock, self._created = out, lock, created
        self.changes = changes  # setting -> (value in the run, value now), allowed on resume

    @classmethod
    def claim(cls, out: str | Path, config: TrainConfig, resume: bool) -> "RunFolder":
        """Check the folder, then lock it; raise :class:`InputError` (touching nothing) when the run may not start."""
        out = Path(out)
        lock = RunLock(out)
        lock.refuse_if_held()
        check_folder(out, config, resume)
        created = not out.exists()
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InputError(f"cannot create the output folder ({err.strerror})", path=out) from None
        folder = cls(out, lock, created, {})
        try:
            for place in (out, out / CHECKPOINTS, out / MODEL_DIR):
                _probe_writable(place)
            lock.acquire()
            folder.changes = check_folder(out, config, resume)  # again: another run may have started meanwhile
        except BaseException:
            folder.release()
            raise
        return folder

    def release(self) -> None:
        """Unlock; a folder this run created and left empty (it failed before writing) goes too."""
        self._lock.release()
        if self._created:
            with contextlib.suppress(OSError):
                self.out.rmdir()  # only if empty

    def start(self, config: TrainConfig) -> None:
        """A new run: record its fully resolved config."""
        self._write_config(config)

    def resumed(self, config: TrainConfig, checkpoint: Path, step: int) -> int:
        """The run continues from ``checkpoint`` (``step``): trim the metrics, record the resume and its changes.

        Returns how many metrics lines were dropped (steps past ``step``, trained again now).
        """
        dropped = _keep_metrics_up_to(self.out / METRICS, step)
        if self.changes:
            self._write_config(config)
        record = {"resumed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "checkpoint": checkpoint.name, "step": step,
                  "changed": {key: {"run": old, "now": new} for key, (old, new) in self.changes.items()},
                  "metrics_lines_dropped": dropped, "pid": os.getpid(), "host": socket.gethostname()}
        self._append(RESUMES, record)
        return dropped

    def log(self, record: dict) -> None:
        """Append one step's line to ``metrics.jsonl``."""
        self._append(METRICS, record)

    def _append(self, name: str, record: dict) -> None:
        with reported_write_failure(f"appending to {self.out / name}", self.out):
            with open(self.out / name, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")

    def _write_config(self, config: TrainConfig) -> None:
        with reported_write_failure(f"writing {self.out / CONFIG}", self.out):
            with atomic_path(self.out / CONFIG) as tmp:
                save_config(config, tmp)


def check_folder(out: Path, config: TrainConfig, resume: bool) -> dict[str, tuple[Any, Any]]:
    """Raise when the run may not start in ``out``; on resume, return the (allowed) changed settings. Reads only."""
    if out.exists() and not out.is_dir():
        raise InputError("output path exists and is not a folder", path=out)
    if not resume:
        refuse_existing_output(out, "output folder already holds a run; pass --resume to continue it or choose a "
                               "new folder", ignore={LOCK_FILE})
        return {}
    if not out.is_dir():
        raise InputError("nothing to resume: the output folder does not exist", path=out)
    if not complete_checkpoints(out / CHECKPOINTS):
        raise InputError(f"nothing to resume from: no complete checkpoint under {CHECKPOINTS}/ (a run saves one "
                         "every save_every steps); nothing was changed. To train from the start, choose a new "
                         "output_dir or delete this folder", path=out)
    return resume_changes(_saved_config(out), config, out)


def resume_changes(saved: dict, config: TrainConfig, out: Path) -> dict[str, tuple[Any, Any]]:
    """The settings ``config`` changes from the run's saved ones; raise listing those a resume may not change.

    A setting the saved config lacks (the run's mlsimcse version did not have it yet) counts only when it is
    set to something other than its default.
    """
    before, now, defaults = flat_settings(saved), flat_settings(_as_stored(config)), _defaults(config)
    changes = {}
    for key in sorted(before.keys() | now.keys()):
        old, new = before.get(key, _UNSET), now.get(key, _UNSET)
        if key in _NOT_COMPARED or old == new or (old is _UNSET and new == defaults.get(key, _UNSET)):
            continue
        changes[key] = (old, new)
    refused = {key: change for key, change in changes.items() if key not in ALLOWED_ON_RESUME}
    if refused:
        listed = "; ".join(f"{key}: {_show(old)} in the run, {_show(new)} now" for key, (old, new) in refused.items())
        raise InputError(f"cannot resume with settings that differ from the run's {CONFIG}: {listed}. A resume "
                         f"may change only {', '.join(ALLOWED_ON_RESUME)}; to change the others, start a new run "
                         "in another output_dir", path=out)
    return {key: (None if old is _UNSET else old, new) for key, (old, new) in changes.items()}


def _saved_config(out: Path) -> dict:
    path = out / CONFIG
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"the run has checkpoints but no {CONFIG}, so a resume cannot check that its settings "
                         "are the run's", path=out) from None
    except (OSError, yaml.YAMLError) as err:
        raise InputError(f"the run's config is unreadable ({err})", path=path) from None
    if not isinstance(values, dict):
        raise InputError("the run's config is not a mapping", path=path)
    return values


def _as_stored(config: TrainConfig) -> dict:
    """``config`` as ``config.yaml`` holds it, so both sides of a comparison went through YAML alike."""
    return yaml.safe_load(yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True))


def flat_settings(values: dict, prefix: str = "") -> dict[str, Any]:
    """Nested settings as ``dotted.key`` -> value; list items that are mappings (data sources) as ``key[i].field``."""
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat.update(flat_settings(value, f"{prefix}{key}."))
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            for index, item in enumerate(value):
                flat.update(flat_settings(item, f"{prefix}{key}[{index}]."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _defaults(obj: Any, prefix: str = "") -> dict[str, Any]:
    """The default of every setting of ``obj`` (a config dataclass), keyed as :func:`flat_settings` keys its values."""
    found = {}
    for spec in dataclasses.fields(obj):
        value, key = getattr(obj, spec.name), f"{prefix}{spec.name}"
        if dataclasses.is_dataclass(value):
            found.update(_defaults(value, f"{key}."))
        elif isinstance(value, list) and value and all(dataclasses.is_dataclass(item) for item in value):
            for index, item in enumerate(value):
                found.update(_defaults(item, f"{key}[{index}]."))
        elif spec.default is not dataclasses.MISSING:
            found[key] = spec.default
        elif spec.default_factory is not dataclasses.MISSING:
            found[key] = spec.default_factory()
    return found


def _show(value: Any) -> str:
    return "not set" if value is _UNSET else json.dumps(value, ensure_ascii=False)


def _probe_writable(folder: Path) -> None:
    """Create and delete a file in ``folder`` (if it exists): permission bits cannot tell, root writes past them."""
    if not folder.is_dir():
        return
    try:
        handle, name = tempfile.mkstemp(prefix=".write-probe-", dir=folder)
    except OSError as err:
        cause = CAUSES.get(err.errno, err.strerror)
        raise InputError(f"output folder is not writable ({cause}); nothing was started", path=folder) from None
    os.close(handle)
    os.unlink(name)


def _keep_metrics_up_to(path: Path, step: int) -> int:
    """Drop, atomically, the lines of steps past ``step`` and any line cut short by a kill; how many went."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    except FileNotFoundError:
        return 0
    kept = [line for line in lines if (logged := _step_of(line)) is not None and logged <= step]
    if len(kept) < len(lines):
        with reported_write_failure(f"trimming {path}", path.parent):
            with atomic_path(path) as tmp:
                tmp.write_text("".join(kept), encoding="utf-8")
    return len(lines) - len(kept)


def _step_of(line: str) -> int | None:
    if not line.endswith("\n"):
        return None  # cut short while being written
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record.get("step") if isinstance(record, dict) and isinstance(record.get("step"), int) else None
