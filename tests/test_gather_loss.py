"""Cross-process negatives: two gloo processes give the single-process loss and gradients on the joint batch."""

from __future__ import annotations

import pytest
import torch

from mlsimcse.losses import InfoNCELoss
from process_support import run_workers

WORLD, B, D = 2, 4, 8


def _columns(n_columns: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    return [torch.randn(WORLD * B, D, generator=g, dtype=torch.float64) for _ in range(n_columns)]


def _groups() -> torch.Tensor:
    groups = torch.arange(WORLD * B)
    groups[B + 1] = 0  # rank 1's second example repeats rank 0's first: masked across processes
    return groups


def _worker(rank: int, n_columns: int, symmetric: bool, out: str) -> None:
    local = [c[rank * B:(rank + 1) * B].clone().requires_grad_() for c in _columns(n_columns)]
    groups = _groups()[rank * B:(rank + 1) * B]
    loss = InfoNCELoss(symmetric=symmetric)(*local, groups=groups)
    loss.backward()
    torch.save({"loss": loss.detach(), "grads": [t.grad for t in local]}, f"{out}/rank{rank}.pt")
    # Returns None: run_workers checks that destroy_process_group then stops gloo's threads, which fails if the
    # loss's gather kept the group alive (the cause of workers dying with SIGABRT at exit).


@pytest.mark.parametrize("n_columns,symmetric", [(2, False), (3, False), (2, True)])
def test_two_processes_equal_one_process_on_joint_batch(tmp_path, n_columns, symmetric):
    run_workers(_worker, n_columns, symmetric, str(tmp_path), world_size=WORLD, folder=tmp_path)
    joint = [c.clone().requires_grad_() for c in _columns(n_columns)]
    expected = InfoNCELoss(symmetric=symmetric)(*joint, groups=_groups())
    expected.backward()
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    # Data-parallel training averages the processes' losses and gradients.
    torch.testing.assert_close(sum(r["loss"] for r in results) / WORLD, expected.detach())
    for r, result in enumerate(results):
        for got, full in zip(result["grads"], joint):
            torch.testing.assert_close(got / WORLD, full.grad[r * B:(r + 1) * B])
