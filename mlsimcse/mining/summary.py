"""What a mining run reports at the end: corpus sizes, pairs, seconds per stage and peak memory.

Mining jobs run for hours on shared machines; the summary is what tells a user which stage to speed up
(encoding on a GPU, an approximate index for the search) and how much memory to request next time.
"""

from __future__ import annotations

import contextlib
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far.

    Linux's ``VmHWM`` is preferred: ``ru_maxrss`` survives ``exec``, so a command started from a large
    parent process would report the parent's peak. Elsewhere ``ru_maxrss`` (kibibytes, bytes on macOS).
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


@dataclass
class StageClock:
    """Wall-clock seconds per named stage, in the order the stages ran."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


@dataclass
class MiningSummary:
    """The end-of-run report of ``mine`` and ``mine-merge``."""

    src_lines: int
    src_unique: int
    tgt_lines: int
    tgt_unique: int
    pairs: int
    rows_written: int
    stage_seconds: dict[str, float]
    peak_rss: int

    def format(self) -> str:
        stages = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in self.stage_seconds.items())
        return "\n".join([
            f"sentences: source {self.src_lines:,} ({self.src_unique:,} unique), "
            f"target {self.tgt_lines:,} ({self.tgt_unique:,} unique)",
            f"pairs: {self.pairs:,} mined, {self.rows_written:,} rows written",
            f"time: {stages}; total {sum(self.stage_seconds.values()):.1f}s",
            f"peak memory (RSS): {self.peak_rss / 2 ** 20:,.0f} MiB",
        ])
