"""Training checkpoints that survive being killed at any moment.

A checkpoint is written into a staging folder and renamed into place only when complete (and flushed to disk),
with a marker that records the sha256 of every file in it. A kill during a save therefore leaves the previous
checkpoint intact, even when the machine itself goes down,
and a file damaged later (truncated copy, full disk) is caught by name before anything is loaded from it.
``--resume`` takes the newest checkpoint that verifies and loads; old ones are pruned to the last K plus
the best-scoring one. A checkpoint is deleted marker first, so one half-deleted never passes for complete.
A save that fails (full disk, file-size limit) removes its staging folder and says so in one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Callable, Collection, Iterator

from mlsimcse.errors import InputError
from mlsimcse.faults import fault_point
from mlsimcse.io_utils import sha256_file
from mlsimcse.training.write_failures import write_failure_cause

_NAME = re.compile(r"^step-(\d{8})$")
MARKER = "checkpoint.json"


def staging_dir(root: Path, step: int) -> Path:
    """Where the processes write checkpoint ``step`` before it is published."""
    return root / f".staging-step-{step:08d}"


def discard_staging(staged: Path) -> None:
    """Remove what a save killed half-way left in ``staged``, so no stale file is sealed into the next one."""
    shutil.rmtree(staged, ignore_errors=True)


@contextlib.contextmanager
def cleaned_up_on_failure(root: Path, step: int, *, discard: bool = True) -> Iterator[Path]:
    """Wrap the writing of checkpoint ``step``: if it fails, its staging folder goes (``discard``: the main process).

    A half-written checkpoint is of no use and may be most of a full disk; the published ones are never
    touched. A write that failed for want of room or permission becomes a one-line error naming the checkpoint,
    the folder and the newest checkpoint still intact (to resume from once the cause is fixed).
    """
    try:
        yield staging_dir(root, step)
    except BaseException as err:
        if discard:
            discard_staging(staging_dir(root, step))
        cause = write_failure_cause(err, root) if isinstance(err, Exception) else None
        if cause is None:
            raise
        kept = complete_checkpoints(root)
        fallback = (f"{kept[-1].name} is intact: make room (or lift the limit) and run again with --resume" if kept
                    else "no earlier checkpoint exists")
        raise InputError(f"{cause} while saving checkpoint step-{step:08d} to {root}; the partial checkpoint was "
                         f"removed and {fallback}") from err


def checkpoint_dir(root: Path, step: int) -> Path:
    return root / f"step-{step:08d}"


def complete_checkpoints(root: Path) -> list[Path]:
    """Published checkpoints under ``root``, oldest first (staging and unmarked folders are ignored)."""
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if _NAME.match(p.name) and (p / MARKER).is_file()),
                  key=lambda p: p.name)


def publish(root: Path, step: int, info: dict, keep_last: int, keep_steps: Collection[int | None] = ()) -> Path:
    """Seal the staging folder of ``step`` (hashes + ``info``), rename it into place, prune old checkpoints.

    Kept: the newest ``keep_last`` up to ``step`` and any in ``keep_steps`` (the best one). Checkpoints past
    ``step`` belong to a run that was resumed from an earlier one (they failed to verify), so they go too.
    """
    staged = staging_dir(root, step)
    files = [p for p in sorted(staged.rglob("*")) if p.is_file()]
    hashes = {str(p.relative_to(staged)): sha256_file(p) for p in files}
    marker = staged / MARKER
    marker.write_text(json.dumps({"step": step, "info": info, "files": hashes}, indent=2), encoding="utf-8")
    for file in [*files, marker]:
        _flush(file)
    fault_point("mid_checkpoint_save", step)
    final = checkpoint_dir(root, step)
    if final.exists():
        _delete(final)
    os.replace(staged, final)
    _flush(root)
    current = [path for path in complete_checkpoints(root) if _step_of(path) <= step]
    keep = {path.name for path in current[-keep_last:]} | {checkpoint_dir(root, s).name for s in keep_steps
                                                            if s is not None}
    for folder in root.iterdir():
        if (_NAME.match(folder.name) and folder.name not in keep) or folder.name.startswith(".staging-"):
            _delete(folder)
    return final


def verify(path: Path) -> dict:
    """The checkpoint's marker, after checking every recorded file is present with the recorded hash."""
    try:
        marker = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"checkpoint marker is unreadable ({err})", path=path / MARKER) from None
    files = marker.get("files") if isinstance(marker, dict) else None
    if not isinstance(files, dict) or "info" not in marker:
        raise InputError("checkpoint marker lacks its file list or trainer state", path=path / MARKER)
    for name, digest in files.items():
        file = path / name
        if not file.is_file():
            raise InputError("checkpoint file is missing", path=file)
        if sha256_file(file) != digest:
            raise InputError("checkpoint file is damaged (its sha256 differs from when it was saved)", path=file)
    return marker


def load_latest(root: Path, load: Callable[[Path, dict], None], warn: Callable[[str], None]) -> Path | None:
    """Load the newest checkpoint that verifies; report and skip damaged ones. ``None`` when there is none."""
    candidates = complete_checkpoints(root)
    damage = []
    for path in reversed(candidates):
        try:
            marker = verify(path)
        except InputError as err:
            warn(f"skipping damaged checkpoint: {err}")
            damage.append(str(err))
            continue
        load(path, marker["info"])
        return path
    if candidates:
        raise InputError(f"none of the {len(candidates)} checkpoints under {root} is intact: " + "; ".join(damage))
    return None


def _step_of(path: Path) -> int:
    return int(_NAME.match(path.name).group(1))


def _flush(path: Path) -> None:
    """Push ``path`` (a file, or a folder's entries) to disk: a rename is durable only once what it names is."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _delete(folder: Path) -> None:
    (folder / MARKER).unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
