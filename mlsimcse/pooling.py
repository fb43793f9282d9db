"""Token states -> one sentence vector.

SimCSE trains with an MLP over [CLS] (``cls_mlp``) and, in its unsupervised setting, drops the MLP at test
time; supervised SimCSE keeps it. sentence-transformers models mostly use ``mean``. All three live here so
the encoder, the exporter and the sentence-transformers layout agree on one definition.
"""

from __future__ import annotations

import torch
from torch import nn

from mlsimcse.choices import POOLINGS
from mlsimcse.errors import InputError



def check_pooling(name: str) -> str:
    if name not in POOLINGS:
        raise InputError(f"unknown pooling {name!r}; choose one of {', '.join(POOLINGS)}")
    return name


def pool_tokens(pooling: str, token_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """[CLS] state for ``cls``/``cls_mlp``; mask-weighted average of token states for ``mean``."""
    if pooling == "mean":
        mask = attention_mask.unsqueeze(-1).to(token_states.dtype)
        summed = (token_states * mask).sum(dim=1)
        return summed / mask.sum(dim=1).clamp(min=1e-9)
    return token_states[:, 0]


class MLPHead(nn.Module):
    """SimCSE's projection over [CLS]: Linear(d, d) then tanh (the BERT pooler's shape, freshly initialised)."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, dim)
        self.activation = nn.Tanh()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.activation(self.linear(features))
