"""One training run per output folder at a time: an OS lock on ``.mlsimcse.lock`` naming the process that holds it.

Two runs in one folder would interleave their metrics and overwrite each other's checkpoints, so the second one
must refuse at once and say who holds the folder. The lock is ``flock`` on a file inside the folder: the kernel
drops it when its holder dies, so a run killed with SIGKILL leaves a file that blocks nobody (the next run takes
it over). The file records the holder's pid, host and command only to name it in the refusal; whether the
folder is taken is decided by the kernel lock alone, never by the recorded pid. Only the main process of a
multi-process run takes the lock: the others are the same run.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

from mlsimcse.errors import InputError

LOCK_FILE = ".mlsimcse.lock"
_ATTEMPTS, _PAUSE_S = 5, 0.05  # another process may hold the lock for an instant just to read who holds it

log = logging.getLogger(__name__)


class RunLock:
    """The lock of one output folder; :meth:`acquire` it before writing there, :meth:`release` it at the end."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self._fd: int | None = None

    def refuse_if_held(self) -> None:
        """Raise naming the holder when a live process holds the lock; reads only, creates nothing."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return  # no lock file, or none readable: the checks that follow say what is wrong
        try:
            if not _try_lock(fd):
                raise self._in_use(fd)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def acquire(self) -> None:
        """Take the lock (the folder must exist) and record this process in the file; raise if it is taken."""
        for attempt in range(_ATTEMPTS):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if not _try_lock(fd):
                if attempt + 1 < _ATTEMPTS:
                    os.close(fd)
                    time.sleep(_PAUSE_S)
                    continue
                error = self._in_use(fd)
                os.close(fd)
                raise error
            if not _names_the_file_at(fd, self.path):  # locked a file that a finishing run had just unlinked
                os.close(fd)
                continue
            previous = _holder(fd)
            if previous:
                log.info("taking over %s from %s (that process is gone)", self.path, _describe(previous))
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(_this_process()).encode("utf-8"), 0)
            self._fd = fd
            return
        raise InputError("could not take the run lock: its file kept being replaced by another process",
                         path=self.path)

    def release(self) -> None:
        """Remove the file while still holding it (so nobody locks a file about to vanish), then unlock."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None

    def _in_use(self, fd: int) -> InputError:
        return InputError(f"output folder is in use by another training run ({_describe(_holder(fd))}); "
                          "wait for it to end or stop it, or choose another output_dir", path=self.folder)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    return True


def _names_the_file_at(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (opened.st_dev, opened.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _holder(fd: int) -> dict:
    """What the lock file says about its holder ({} while it is still being written or if it was edited)."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _this_process() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": " ".join(sys.argv)}


def _describe(holder: dict) -> str:
    if not holder.get("pid"):
        return "a process that has not recorded itself yet"
    return f"pid {holder['pid']} on host {holder.get('host', '?')}, started {holder.get('started', '?')}"
