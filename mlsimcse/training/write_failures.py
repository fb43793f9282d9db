"""A write that fails for want of room or permission is the machine's state, not a bug: say so in one line.

The writers in a training run report such failures three ways: Python raises ``OSError`` with its errno,
safetensors raises its own error with ``(os error N)`` in the text, and torch's zip writer (``torch.save``, so
the optimizer and RNG states) raises ``RuntimeError: [enforce fail at inline_container.cc...]`` with no errno
at all. For the last one the cause is read off the machine: a finite file-size limit (``ulimit -f``) or a disk
left with almost no free space.
"""

from __future__ import annotations

import contextlib
import errno
import re
import resource
import shutil
from pathlib import Path
from typing import Iterator

from mlsimcse.errors import InputError

CAUSES = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "a file reached the file-size limit (ulimit -f)",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EIO: "input/output error from the disk",
}
_OS_ERROR = re.compile(r"\(os error (\d+)\)")
_TORCH_WRITER = "inline_container"
NEARLY_FULL = 64 << 20  # bytes: what a disk that just refused a write typically has left (reserved blocks aside)


def write_failure_cause(err: BaseException, folder: Path) -> str | None:
    """What stopped a write into ``folder``, in words; ``None`` when ``err`` is not a failed write."""
    if isinstance(err, OSError):
        return CAUSES.get(err.errno)
    text = str(err)
    found = _OS_ERROR.search(text)
    if found:
        return CAUSES.get(int(found.group(1)))
    if isinstance(err, RuntimeError) and _TORCH_WRITER in text:
        guessed = _torch_writer_errno(folder)
        return CAUSES[guessed] if guessed else f"a write failed (torch: {text.strip().splitlines()[0]})"
    return None


@contextlib.contextmanager
def reported_write_failure(action: str, folder: Path) -> Iterator[None]:
    """Turn a failed write inside the block into a one-line :class:`InputError`: "<cause> while <action>"."""
    try:
        yield
    except Exception as err:
        cause = write_failure_cause(err, folder)
        if cause is None:
            raise
        raise InputError(f"{cause} while {action}") from err


def _torch_writer_errno(folder: Path) -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY:
        return errno.EFBIG
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return None
    return errno.ENOSPC if free < NEARLY_FULL else None
