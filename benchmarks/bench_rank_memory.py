"""Peak memory of each process of a two-process training run on recipe sources, and how long data takes to build.

A recipe source is assembled (read, filtered, decontaminated) before the first step. This runs the real trainer as
``accelerate launch --multi_gpu --num_processes 2`` on CPU (gloo) for a few steps of ``--config`` (default: the
English quickstart recipe's five recipe sources on the shared MiniLM, whose weights are small enough that the data's
share of a process's memory shows) and follows every worker process from outside: its peak resident set
(``VmHWM`` in ``/proc/PID/status``, read until the process exits) and the time until the run's first logged step.
The launcher's own processes are left out; each worker is told apart by its ``RANK``.

    python benchmarks/bench_rank_memory.py [--config CFG] [--steps 2] [--batch 16]

Results are recorded in benchmarks/README.md ("Memory per training process").
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "mlsimcse" / "configs" / "quickstart-english-to-multilingual.yaml"
POLL_S = 0.05


def _peak_rss_kib(pid: int) -> int | None:
    """The kernel's high-water mark of the process's resident set, or None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _worker_rank(process: psutil.Process) -> int | None:
    try:
        environment = process.environ()
        if "mlsimcse" in " ".join(process.cmdline()) and "RANK" in environment and "LOCAL_RANK" in environment:
            return int(environment["RANK"])
    except (psutil.Error, ValueError):
        return None
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16, help="examples per process and step")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-rank-memory-") as scratch, socket.socket() as held:
        held.bind(("127.0.0.1", 0))  # a port in use makes Accelerate fall back to a kernel-chosen rendezvous
        held.listen()
        out = Path(scratch) / "run"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
               "OMP_NUM_THREADS": "1", "MLSIMCSE_PROGRESS": "off", "HF_HOME": str(Path(scratch) / "hf-home")}
        command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                   "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                   "--main_process_port", str(held.getsockname()[1]), "-m", "mlsimcse", "train", str(args.config),
                   f"output_dir={out}", f"max_steps={args.steps}", f"batch_size={args.batch}", "cpu=true",
                   "eval_task=null", "log_every=1", f"save_every={args.steps}"]
        started = time.perf_counter()
        launcher = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        peaks: dict[int, int] = {}
        workers: dict[int, int] = {}
        first_step_s = None
        while launcher.poll() is None:
            for child in psutil.Process(launcher.pid).children(recursive=True):
                if child.pid not in workers and (rank := _worker_rank(child)) is not None:
                    workers[child.pid] = rank
            for pid, rank in workers.items():
                if (peak := _peak_rss_kib(pid)) is not None:
                    peaks[rank] = max(peaks.get(rank, 0), peak)
            if first_step_s is None and (out / "metrics.jsonl").is_file() and (out / "metrics.jsonl").stat().st_size:
                first_step_s = time.perf_counter() - started
            time.sleep(POLL_S)
        wall = time.perf_counter() - started
        log = launcher.stdout.read().decode("utf-8", "replace")
        if launcher.returncode != 0:
            sys.exit(f"training failed (exit {launcher.returncode}):\n{log[-3000:]}")
        steps = [json.loads(line) for line in (out / "metrics.jsonl").open()]

    print(f"config {args.config.name}: {args.steps} steps of {args.batch} examples per process, 2 processes (gloo, "
          f"one torch thread each)")
    print("| rank | peak RSS |")
    print("|---:|---:|")
    for rank in sorted(peaks):
        print(f"| {rank} | {peaks[rank] / 2**20:.2f} GiB |")
    print(f"first step logged after {first_step_s:.1f} s; whole run {wall:.1f} s; losses "
          f"{[round(s['loss'], 4) for s in steps]}")
    print(f"peak RSS per rank: {', '.join(f'{peaks[r] / 2**20:.2f}' for r in sorted(peaks))} GiB")


if __name__ == "__main__":
    main()
