"""The multi-process test helpers report a failing worker with its traceback, and catch a leaked process group."""

from __future__ import annotations

import time

import pytest
import torch.distributed as dist

from process_support import run_workers

_KEPT = []


def _rank_one_raises(rank: int) -> None:
    if rank == 1:
        raise ValueError("rank 1 fails on purpose")
    time.sleep(3600)  # rank 0 would wait an hour: the helper must stop it, not wait with it


def _group_kept_alive(rank: int) -> None:
    if rank == 0:
        _KEPT.append(dist.group.WORLD)  # as torch.distributed.nn.functional did, imported after init


@pytest.mark.parametrize("worker,reported", [
    (_rank_one_raises, ["worker-1 raised:", "ValueError: rank 1 fails on purpose",
                        "worker-0 was stopped once another worker had failed"]),
    (_group_kept_alive, ["worker-0 raised:", "outlived destroy_process_group"]),
])
def test_a_failing_worker_fails_the_test_with_its_traceback(tmp_path, worker, reported):
    with pytest.raises(AssertionError) as failure:
        run_workers(worker, world_size=2, folder=tmp_path)
    assert all(text in str(failure.value) for text in reported), str(failure.value)
