"""Training checkpoints that survive being killed at any moment.

A checkpoint is written into a staging folder and renamed into place only when complete, with a marker that
records the sha256 of every file in it. A kill during a save therefore leaves the previous checkpoint intact,
and a file damaged later (truncated copy, full disk) is caught by name before anything is loaded from it.
``--resume`` takes the newest checkpoint that verifies and loads; old ones are pruned to the last K.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Callable

from mlsimcse.errors import InputError
from mlsimcse.io_utils import sha256_file

_NAME = re.compile(r"^step-(\d{8})$")
MARKER = "checkpoint.json"


def staging_dir(root: Path, step: int) -> Path:
    """Where the processes write checkpoint ``step`` before it is published."""
    return root / f".staging-step-{step:08d}"


def complete_checkpoints(root: Path) -> list[Path]:
    """Published checkpoints under ``root``, oldest first (staging and unmarked folders are ignored)."""
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if _NAME.match(p.name) and (p / MARKER).is_file()),
                  key=lambda p: p.name)


def publish(root: Path, step: int, info: dict, keep_last: int) -> Path:
    """Seal the staging folder of ``step`` (hashes + ``info``), rename it into place, prune old checkpoints."""
    staged = staging_dir(root, step)
    hashes = {str(p.relative_to(staged)): sha256_file(p) for p in sorted(staged.rglob("*")) if p.is_file()}
    (staged / MARKER).write_text(json.dumps({"step": step, "info": info, "files": hashes}, indent=2),
                                 encoding="utf-8")
    final = root / f"step-{step:08d}"
    if final.exists():
        shutil.rmtree(final)
    os.replace(staged, final)
    for stale in complete_checkpoints(root)[:-keep_last]:
        shutil.rmtree(stale, ignore_errors=True)
    for leftover in root.glob(".staging-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    return final


def verify(path: Path) -> dict:
    """The checkpoint's marker, after checking every recorded file is present with the recorded hash."""
    try:
        marker = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"checkpoint marker is unreadable ({err})", path=path / MARKER) from None
    for name, digest in marker["files"].items():
        file = path / name
        if not file.is_file():
            raise InputError("checkpoint file is missing", path=file)
        if sha256_file(file) != digest:
            raise InputError("checkpoint file is damaged (its sha256 differs from when it was saved)", path=file)
    return marker


def load_latest(root: Path, load: Callable[[Path, dict], None], warn: Callable[[str], None]) -> Path | None:
    """Load the newest checkpoint that verifies; report and skip damaged ones. ``None`` when there is none."""
    candidates = complete_checkpoints(root)
    for path in reversed(candidates):
        try:
            marker = verify(path)
        except InputError as err:
            warn(f"skipping damaged checkpoint: {err}")
            continue
        load(path, marker["info"])
        return path
    if candidates:
        raise InputError(f"none of the {len(candidates)} checkpoints under {root} is intact")
    return None
