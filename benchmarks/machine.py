"""What this machine can do, measured in the benchmark's own process: the ceiling that throughput is set against."""

from __future__ import annotations

import time


def matmul_peak(dtype, size: int = 2048, repeats: int = 5, clock=time.perf_counter) -> float:
    """Best FLOP/s of a square ``size`` product in ``dtype``, in ``nn.Linear``'s layout (x @ W.T).

    That is the layout of every projection an encoder runs forward, and the layout matters: on a CPU without
    native bf16 a bf16 product with an untransposed right-hand side takes a generic kernel about 20x slower
    than this one (0.9 against 17.5 GFLOP/s at 1024 here), which would put the ceiling below what the
    encoder itself reaches.
    """
    import torch
    from torch.nn.functional import linear

    x, weight = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    return _best_rate(lambda: linear(x, weight), 2 * size ** 3, repeats, clock)


def int8_matmul_peak(size: int = 2048, repeats: int = 5, clock=time.perf_counter) -> float:
    """Best integer OP/s of a square int8 × int8 → int32 product (``torch._int_mm``) in the layout mlsimcse's int8
    projections use (activations row-major, weights stored transposed once at quantisation)."""
    import torch

    x = torch.randint(-128, 128, (size, size), dtype=torch.int8)
    weight_t = torch.randint(-127, 128, (size, size), dtype=torch.int8)
    return _best_rate(lambda: torch._int_mm(x, weight_t), 2 * size ** 3, repeats, clock)


def _best_rate(run, operations: float, repeats: int, clock) -> float:
    """``operations`` over the best of ``repeats`` timings of ``run`` on ``clock`` (wall, or the process's CPU
    time, which on a machine shared with other jobs counts only this process's work)."""
    run()
    best = float("inf")
    for _ in range(repeats):
        began = clock()
        run()
        best = min(best, clock() - began)
    return operations / best
