"""Cross-process helpers for contrastive losses.

In-batch negatives are only as many as the batch the loss sees. Under multi-process training each process
gathers every process's candidates *with* gradients, so anchors are contrasted with the global batch and
each process's embeddings still receive the gradient from every process's loss.
"""

from __future__ import annotations

import warnings

import torch
import torch.distributed as dist

if dist.is_available():
    # Imported with this module, before any process group exists. torch binds ``group.WORLD`` as the default
    # argument of its functional collectives when their module is first imported; imported after
    # init_process_group, it keeps that group (and gloo's threads) alive past destroy_process_group until the
    # interpreter exits, and a worker leaving with those threads running can die with SIGABRT.
    from torch.distributed.nn.functional import all_gather as _all_gather_autograd


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank_and_world() -> tuple[int, int]:
    if is_distributed():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from all processes in rank order; gradients flow back to each owner.

    ``torch.distributed.nn.functional.all_gather`` sums the incoming gradients across processes in its
    backward, which is what the global loss needs. Returns the tensor unchanged outside distributed runs.
    """
    if not is_distributed():
        return tensor
    with warnings.catch_warnings():
        # torch points to a private functional-collectives replacement; this public autograd op still works.
        warnings.filterwarnings("ignore", message=".*all_gather is deprecated", category=FutureWarning)
        return torch.cat(_all_gather_autograd(tensor.contiguous()), dim=0)


def all_gather_no_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` (e.g. group ids) from all processes in rank order, without autograd."""
    if not is_distributed():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)
