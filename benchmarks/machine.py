"""What this machine can do, measured in the benchmark's own process: the ceiling that throughput is set against."""

from __future__ import annotations

import time


def matmul_peak(dtype, size: int = 2048, repeats: int = 5) -> float:
    """Best FLOP/s of a square ``size`` product in ``dtype``, in ``nn.Linear``'s layout (x @ W.T).

    That is the layout of every projection an encoder runs forward, and the layout matters: on a CPU without
    native bf16 a bf16 product with an untransposed right-hand side takes a generic kernel about 20x slower
    than this one (0.9 against 17.5 GFLOP/s at 1024 here), which would put the ceiling below what the
    encoder itself reaches.
    """
    import torch
    from torch.nn.functional import linear

    x, weight = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    linear(x, weight)
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        linear(x, weight)
        best = min(best, time.perf_counter() - began)
    return 2 * size ** 3 / best
