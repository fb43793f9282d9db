"""What this machine can do, measured in the benchmark's own process: the ceiling that throughput is set against."""

from __future__ import annotations

import time


def matmul_peak(dtype, size: int = 2048, repeats: int = 5) -> float:
    """Best FLOP/s of a square ``size`` matmul in ``dtype`` (a CPU without native bf16 shows it here at once)."""
    import torch

    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - began)
    return 2 * size ** 3 / best
