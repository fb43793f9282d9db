"""Helpers for tests that start several processes: gloo workers of one test, and ``accelerate launch`` runs.

Two things made such tests fail at random on a busy machine (issue 16):

* A worker died with SIGABRT ("terminate called without an active exception") at exit. Its process group was
  still alive after ``destroy_process_group`` (``torch.distributed.nn.functional`` had bound it as a default
  argument, see ``mlsimcse/distributed.py``), so gloo's threads were still running when the interpreter shut
  down. :func:`run_workers` ends each worker with a barrier, ``destroy_process_group``, a check that no gloo
  thread outlived it, and ``os._exit``, so no C++ destructor runs during interpreter shutdown at all.
* Ports were picked free, released, then bound by the workers' rendezvous; anything on the machine could take
  the port in between. :func:`run_workers` meets in a file instead (``FileStore``), and :func:`launch_port`
  makes ``accelerate launch`` bind its rendezvous to a port the kernel picks.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import sys
import time
import traceback
from multiprocessing.connection import wait
from pathlib import Path
from typing import Callable, Iterator

WORKER_TIMEOUT_S = 600.0


def run_workers(worker: Callable, *args, world_size: int, folder: Path, timeout_s: float = WORKER_TIMEOUT_S) -> None:
    """Run ``worker(rank, *args)`` in ``world_size`` fresh processes that form one gloo process group.

    ``worker`` must be a module-level function (the processes are spawned, not forked, as torch requires), and
    passes its results back through files under ``folder``. Whatever it returns is kept alive until the process
    ends, so objects whose destructors talk to the group (DDP's reducer joins gloo's thread holding the GIL, a
    deadlock) never run; a worker that returns ``None`` must leave nothing holding the group, which is checked.
    A worker that raises, dies or outlives ``timeout_s`` fails the test with its traceback (the rest are stopped).
    """
    folder = Path(folder)
    store = folder / f"rendezvous-{time.monotonic_ns()}"  # a FileStore file, fresh for every group
    errors = [folder / f"worker-{rank}.error" for rank in range(world_size)]
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_worker_main, args=(worker, rank, world_size, store, errors[rank], args),
                                 name=f"worker-{rank}") for rank in range(world_size)]
    for process in processes:
        process.start()
    deadline, running, failed = time.monotonic() + timeout_s, list(processes), False
    try:
        while running and not failed:
            ended = wait([p.sentinel for p in running], timeout=max(0.0, deadline - time.monotonic()))
            if not ended:
                raise AssertionError(f"{', '.join(p.name for p in running)} did not finish in {timeout_s:.0f} s")
            for process in [p for p in running if p.sentinel in ended]:
                process.join()
                running.remove(process)
                failed = failed or process.exitcode != 0
    finally:
        for process in running:  # the others cannot finish without it (or ran out of time): stop them
            process.kill()
            process.join()
    if failed:
        raise AssertionError(_failure_report(processes, errors, stopped=running))


def _failure_report(processes: list, errors: list[Path], stopped: list) -> str:
    """Each worker's traceback (written by the worker itself), or how it ended."""
    lines = []
    for process, error in zip(processes, errors):
        if error.is_file():
            lines.append(f"{process.name} raised:\n{error.read_text(encoding='utf-8')}")
        elif process in stopped:
            lines.append(f"{process.name} was stopped once another worker had failed")
        elif process.exitcode < 0:
            lines.append(f"{process.name} died of {signal.Signals(-process.exitcode).name}")
        elif process.exitcode > 0:
            lines.append(f"{process.name} exited with code {process.exitcode}")
    return "\n".join(lines)


def _worker_main(worker: Callable, rank: int, world_size: int, store: Path, error: Path, args: tuple) -> None:
    """One worker process: meet the others, run, leave in step with them, and exit without interpreter teardown."""
    import torch.distributed as dist

    code = 1
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_WORLD_SIZE=str(world_size))  # what torchrun tells its workers (Accelerate reads them)
    try:
        dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world_size)
        kept = worker(rank, *args)
        dist.barrier()  # no process leaves while another still has a collective under way with it
        dist.destroy_process_group()
        lingering = [name for name in _thread_names() if "gloo" in name]
        if kept is None and lingering:
            raise RuntimeError(f"gloo threads {lingering} outlived destroy_process_group: something still holds "
                               "the process group, and a process exiting with them running can die with SIGABRT")
        code = 0
    except BaseException:
        error.write_text(traceback.format_exc(), encoding="utf-8")
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _thread_names() -> list[str]:
    """The names of this process's threads, as the kernel knows them (C++ threads included; Linux only)."""
    names = []
    for task in Path("/proc/self/task").glob("*"):
        with contextlib.suppress(OSError):
            names.append((task / "comm").read_text().strip())
    return names


@contextlib.contextmanager
def launch_port() -> Iterator[int]:
    """A port for ``accelerate launch --main_process_port``, listened on by this process until the block ends.

    Accelerate (1.x, one machine) checks that port before starting torchrun and, finding it in use, starts
    torchrun's standalone rendezvous instead: a c10d store on ``localhost:0``, a port the kernel assigns to the
    store as it binds, which the workers are then told. Nothing can take that port first, so this is race
    free, unlike choosing a free port and releasing it for the launcher to bind. Should a later Accelerate stop
    falling back, the launch fails at once with "address already in use" rather than at random.
    """
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Torch on ``count`` intra-op threads inside the block, then back to what it was.

    A reference that must equal a worker's output to the bit is computed on the worker's thread count: on some
    CPUs (AVX2 only) the last bits of a vector depend on how many threads summed it.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
