"""File helpers shared by every command that writes results: safe output paths, atomic writes, content hashes.

An interrupted run must never leave a truncated output behind, and nothing a user already has may be
clobbered half-way. Everything that writes a final artefact goes through :func:`atomic_path`, which first
checks the output with :func:`check_output_path`: an output that resolves (through symlinks and ``..``) to
one of the command's inputs, or a folder output that holds one, is refused, and so is a file output naming
a folder. Commands call :func:`check_output_path` themselves too, before any slow work, so a bad output
path costs nothing. Temporary names carry the host and the process id, so the next write of the same output
removes what a killed run left (:func:`remove_stale_temporaries`) and never touches a live writer's file.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any, Collection, Iterable, Iterator

from mlsimcse.errors import InputError

logger = logging.getLogger(__name__)

_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"
"""This machine in temporary names: a pid means something only on the host that issued it (shared caches)."""


def refuse_overwriting_inputs(outputs: Iterable[str | Path], inputs: Iterable[str | Path | None]) -> None:
    """Raise :class:`InputError` when writing any of ``outputs`` would destroy one of ``inputs``.

    Paths are compared after resolving symlinks and ``..`` (and by inode where both exist, which also
    catches bind mounts); an output folder that holds an input is refused as well, since an output folder is
    replaced whole. Inputs that do not exist on disk (a Hub model name) cannot be destroyed and are skipped.
    """
    sources = [(given, _real(given)) for given in inputs if given is not None and os.path.lexists(given)]
    for output in outputs:
        written = _real(output)
        for given, source in sources:
            if source == written or _same_file(source, written):
                raise InputError(f"this output is also an input of the command ({given}); writing it would "
                                 "destroy that input: choose another output path", path=output)
            if written in source.parents:
                raise InputError(f"this output folder holds an input of the command ({given}), which writing "
                                 "the folder would delete: choose another output path", path=output)


def refuse_existing_output(out: str | Path, message: str, *, ignore: Collection[str] = (),
                           empty_ok: bool = True) -> None:
    """Raise :class:`InputError` with ``message`` when ``out`` already holds something a new output would replace.

    Held: a file or link of that name, or a folder with any entry but those named in ``ignore`` (a run's own
    lock file); an empty folder only when ``empty_ok`` is false. Every command that writes a whole new
    folder asks this one question before its slow work, so none of them clobbers what a user put there;
    ``message`` says what to do instead (``--overwrite``, ``--resume``, another folder).
    """
    out = Path(out)
    if not os.path.lexists(out):
        return
    if not out.is_dir() or out.is_symlink() or not empty_ok or any(p.name not in ignore for p in out.iterdir()):
        raise InputError(message, path=out)


def check_output_path(target: str | Path, *, inputs: Iterable[str | Path | None] = (), is_dir: bool = False) -> Path:
    """Refuse an output that cannot be written as asked; return the path that will actually be written.

    Refused with a one-line :class:`InputError`: an output that is one of ``inputs`` (or, for a folder, holds
    one), a file output naming an existing folder, a folder output naming an existing file, and an output
    whose parent folder cannot exist because a file is in the way. A symlinked output is followed: the file
    it points to is replaced and the link kept, as a shell redirection would.
    """
    written = _real(target) if os.path.islink(target) else Path(target)
    refuse_overwriting_inputs([target], inputs)
    if written.is_dir() and not is_dir:
        raise InputError("is a folder; give the path of the file to write", path=target)
    if written.exists() and not written.is_dir() and is_dir:
        raise InputError("is a file, but a folder is written here; choose another path", path=target)
    for ancestor in written.absolute().parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise InputError(f"cannot be written: {ancestor} is a file, not a folder", path=target)
            break
    return written


@contextlib.contextmanager
def atomic_path(target: str | Path, *, is_dir: bool = False,
                inputs: Iterable[str | Path | None] = ()) -> Iterator[Path]:
    """Yield a temporary sibling of ``target``; on success rename it onto ``target``, on any error delete it.

    The temporary lives in the same folder so the final ``os.replace`` is atomic on POSIX file systems.
    For folders an existing ``target`` is replaced only after the new one is complete, and put back if the
    swap fails. ``target`` is checked first (:func:`check_output_path`, against ``inputs``), and temporaries
    a killed run left for the same target are removed.
    """
    target = check_output_path(target, inputs=inputs, is_dir=is_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    prefix = f".{target.name}.tmp-{_HOST}.{os.getpid()}."
    try:
        if is_dir:
            tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
        else:
            fd, name = tempfile.mkstemp(prefix=prefix, dir=target.parent)
            os.close(fd)
            tmp = Path(name)
    except OSError as err:
        if isinstance(err, PermissionError) or err.errno == errno.EROFS:
            raise InputError(f"cannot write in this folder ({err.strerror})", path=target.parent) from None
        raise
    try:
        yield tmp
        os.chmod(tmp, (0o777 if is_dir else 0o666) & ~_umask())  # mkstemp/mkdtemp create private files
        _move_into_place(tmp, target, is_dir)
    except BaseException:
        _remove(tmp)
        raise


def _move_into_place(tmp: Path, target: Path, is_dir: bool) -> None:
    if not (is_dir and target.exists()):
        os.replace(tmp, target)
        return
    old = target.with_name(f".{target.name}.old-{_HOST}.{os.getpid()}")
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def remove_stale_temporaries(target: str | Path, *, unrecognised: bool = False) -> list[Path]:
    """Delete the temporaries of ``target`` whose writing process (on this host) is gone; return them.

    A folder a killed swap had moved aside (``.NAME.old-*``) is put back when ``target`` is missing, else
    deleted. Temporaries of live processes and of other hosts are kept; names in another form (left by an
    older mlsimcse, whose writer cannot be told) are kept too unless ``unrecognised`` is set, for folders
    where every complete file is known to be in place.
    """
    target = Path(target)
    removed = []
    for leftover in sorted(target.parent.glob(f".{glob.escape(target.name)}.tmp-*")):
        owner = _owner(leftover, f".{target.name}.tmp-", fields=3)  # HOST.PID.RANDOM
        if _stale(owner) if owner else unrecognised:
            _remove(leftover)
            removed.append(leftover)
    for moved in sorted(target.parent.glob(f".{glob.escape(target.name)}.old-*")):
        owner = _owner(moved, f".{target.name}.old-", fields=2)  # HOST.PID
        if owner and _stale(owner):
            if target.exists():
                _remove(moved)
            else:
                os.replace(moved, target)
                logger.warning("put %s back: an interrupted run had moved it aside to %s", target, moved.name)
            removed.append(moved)
    return removed


def _owner(leftover: Path, prefix: str, fields: int) -> list[str] | None:
    """``[host, pid]`` from a temporary's name after ``prefix``: ``HOST.PID.RANDOM`` or ``HOST.PID``."""
    parts = leftover.name[len(prefix):].split(".")
    return parts[:2] if len(parts) == fields else None


def _stale(owner: list[str]) -> bool:
    """Whether ``[host, pid]`` names a process of this host that no longer runs."""
    host, pid = owner
    if host != _HOST or not pid.isdigit() or int(pid) <= 0 or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, owned by another user
        pass
    return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _real(path: str | Path) -> Path:
    return Path(os.path.realpath(path))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented UTF-8 JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()

