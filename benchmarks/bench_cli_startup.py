"""CLI start-up time: what ``mlsimcse --help``, ``mlsimcse train --help`` and ``mlsimcse --version`` cost.

Every command pays the start-up before doing any work, and so does every subprocess test; the package's top
level and the parser are kept free of torch, transformers and the other heavy libraries so this stays small.
Each command runs as a fresh subprocess (the console script when it is on PATH, else ``python -m mlsimcse``),
``--runs`` times; the median wall time is printed, with the import of the bare interpreter for scale.

    python benchmarks/bench_cli_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

COMMANDS = (["--help"], ["train", "--help"], ["--version"])


def launcher() -> list[str]:
    """The installed ``mlsimcse`` script when there is one (what users run), else the module."""
    script = shutil.which("mlsimcse")
    return [script] if script else [sys.executable, "-m", "mlsimcse"]


def median_seconds(argv: list[str], runs: int) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per command; the median is reported (default 5)")
    args = parser.parse_args()
    base = launcher()
    print(f"launcher: {' '.join(base)}; median of {args.runs} runs; load average {os.getloadavg()[0]:.2f}")
    print(f"{'python -c pass':<28} {median_seconds([sys.executable, '-c', 'pass'], args.runs):6.3f} s")
    slowest = 0.0
    for command in COMMANDS:
        seconds = median_seconds(base + command, args.runs)
        slowest = max(slowest, seconds)
        print(f"{'mlsimcse ' + ' '.join(command):<28} {seconds:6.3f} s")
    print(f"slowest CLI start-up: {slowest:.3f} s")


if __name__ == "__main__":
    main()
