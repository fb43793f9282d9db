"""Deterministic crash points: SIGKILL the process at a named place, for the tests that prove runs survive a crash.

A kill test that polls a run's files and sends SIGKILL when it sees the moment it wants can miss that moment
under load (the run moves past it between two polls). Instead, the code under test calls :func:`fault_point`
at the places worth crashing in, and a test arms one of them through the environment::

    MLSIMCSE_FAULT=NAME[:N][@RANK]

``NAME`` is one of :data:`POINTS`; ``N``, the number the point is reached with (a step, a shard), picks
one passage (absent: the first passage); ``@RANK`` limits the fault to the process whose ``RANK``
environment variable (set by ``torchrun`` and ``accelerate launch``; ``0`` when unset) is that rank
(absent: every process). ``MLSIMCSE_FAULT=after_step:14@0`` kills rank 0 of a run right after it logs step
14. The process kills itself with SIGKILL, so no handler, ``finally`` or buffered write runs: what it leaves
on disk is what a real crash at that place leaves. One line goes to stderr first (straight to the file
descriptor) so a test can tell its fault from any other death.

The variable is read once, on the first call; unset, :func:`fault_point` returns at once.
"""

from __future__ import annotations

import functools
import os
import re
import signal
from dataclasses import dataclass

from mlsimcse.errors import InputError

ENV = "MLSIMCSE_FAULT"
POINTS = {
    "after_step": "training: step N's metrics line has been written (before its checkpoint is saved)",
    "mid_checkpoint_save": "training: checkpoint N is staged and sealed, not yet renamed into place",
    "after_shard_written": "mining embed: shard N of a corpus has been written to the embedding cache",
    "mid_pairs_write": "mining output: N pairs are in the temporary output file, the rest are not",
}
_SYNTAX = re.compile(r"(?P<name>[a-z_]+)(?::(?P<number>\d+))?(?:@(?P<rank>\d+))?")


@dataclass(frozen=True)
class Fault:
    """One armed fault point: its name, the passage it fires on and the process it fires in (None: any)."""

    name: str
    number: int | None = None
    rank: int | None = None

    def hits(self, name: str, number: int | None, rank: int) -> bool:
        return (name == self.name and (self.number is None or number == self.number)
                and (self.rank is None or rank == self.rank))


def parse_fault(value: str) -> Fault:
    """The :class:`Fault` that ``value`` (the variable's text) names; :class:`InputError` when it names none."""
    match = _SYNTAX.fullmatch(value.strip())
    if match is None:
        raise InputError(f"{ENV}={value!r} is not NAME[:N][@RANK]")
    if match["name"] not in POINTS:
        raise InputError(f"{ENV}={value!r} names no fault point; the points are: {', '.join(POINTS)}")
    number, rank = match["number"], match["rank"]
    return Fault(match["name"], None if number is None else int(number), None if rank is None else int(rank))


@functools.cache
def armed_fault() -> Fault | None:
    """The fault this process was started with (read once), or None."""
    value = os.environ.get(ENV, "")
    return parse_fault(value) if value.strip() else None


def fault_point(name: str, number: int | None = None) -> None:
    """SIGKILL this process here when ``MLSIMCSE_FAULT`` names this point (and ``number``, and this rank)."""
    fault = armed_fault()
    if fault is None or not fault.hits(name, number, int(os.environ.get("RANK", "0"))):
        return
    place = name if number is None else f"{name}:{number}"
    os.write(2, f"mlsimcse: fault point {place} reached ({ENV}); killing this process with SIGKILL\n".encode())
    os.kill(os.getpid(), signal.SIGKILL)
