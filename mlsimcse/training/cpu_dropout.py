"""Dropout masks drawn sixteen bits at a time, for training on CPU.

Dropout is SimCSE's augmentation, so every step draws a fresh mask for every hidden state and attention map:
about 25 million Bernoulli draws a step for MiniLM at batch 64 pairs and 64 tokens. PyTorch's CPU dropout draws
each one as a separate random number (``bernoulli_``), then scales and multiplies in two more passes, and SDPA
attention sends its attention maps through the same path. The step-time gain is measured in benchmarks/README.md
(training throughput).

Each 64-bit word from torch's default generator is cut into four 16-bit draws, and a unit is kept when its draw
falls below round((1 - p) · 65,536): the keep probability is exact to 1/65,536 and the mask is scaled by
1 / (1 - p), as ``nn.Dropout`` does. The words come from the same seeded generator, so ``torch.manual_seed`` and
GradCache's replay of generator states (:mod:`mlsimcse.training.gradcache`) work unchanged. Tensors on an
accelerator keep PyTorch's own fused dropout.

:func:`use_cpu_dropout` puts this into a Hugging Face encoder: its ``nn.Dropout`` modules become
:class:`CpuDropout`, and models that take their attention function from transformers' ``AttentionInterface``
(BERT, XLM-R and most current encoders) get :func:`attention_with_cpu_dropout`, which is SDPA whenever no dropout
applies (evaluation) and the plain softmax-dropout-matmul otherwise. The function is registered with transformers
(under :data:`ATTENTION_NAME`) by :func:`use_cpu_dropout`, not on import, so importing mlsimcse leaves
transformers' registries as they were.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

ATTENTION_NAME = "mlsimcse_cpu_dropout"
_DRAWS_PER_WORD = 4  # 16-bit draws cut from each 64-bit word
_DRAW_RANGE = 1 << 16


def keep_mask(shape: torch.Size, p: float, dtype: torch.dtype) -> torch.Tensor:
    """A CPU tensor of 0 and 1 / (1 - p), each entry kept with probability 1 - p (to 1/65,536)."""
    count = shape.numel()
    words = torch.empty((count + _DRAWS_PER_WORD - 1) // _DRAWS_PER_WORD, dtype=torch.int64)
    words.random_(-(1 << 63), None)  # the full 64-bit range: every bit uniform
    draws = words.view(torch.int16)[:count].view(shape)  # uniform over [-32768, 32767]
    threshold = round((1.0 - p) * _DRAW_RANGE) - _DRAW_RANGE // 2
    return (draws < threshold).to(dtype).mul_(1.0 / (1.0 - p))


def cpu_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``nn.functional.dropout(x, p, training)`` with masks from :func:`keep_mask` for CPU tensors."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu":
        return nn.functional.dropout(x, p, training)
    if p == 1.0:
        return x * 0.0
    return x * keep_mask(x.shape, p, x.dtype)


class CpuDropout(nn.Dropout):
    """``nn.Dropout`` (same ``p``, same place in the model) drawing its masks with :func:`keep_mask` on CPU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inplace:
            return super().forward(x)
        return cpu_dropout(x, self.p, self.training)


def attention_with_cpu_dropout(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                               attention_mask: torch.Tensor | None, scaling: float | None = None,
                               dropout: float = 0.0, **kwargs):
    """Transformers' attention-function signature: SDPA without dropout, else softmax → CPU dropout → matmul.

    The mask is SDPA's (registered below): boolean, True where a key may be attended, or additive floats.
    """
    if dropout == 0.0 or query.device.type != "cpu":
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout,
                                      **kwargs)
    scores = torch.matmul(query, key.transpose(2, 3)) * (query.size(-1) ** -0.5 if scaling is None else scaling)
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + attention_mask
    weights = cpu_dropout(scores.softmax(dim=-1), dropout)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


def register_attention() -> None:
    """Make :data:`ATTENTION_NAME` a known attention function (with SDPA's mask) in transformers' registries.

    Registering again changes nothing, so every model switched to it may call this.
    """
    AttentionInterface.register(ATTENTION_NAME, attention_with_cpu_dropout)
    AttentionMaskInterface.register(ATTENTION_NAME, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])


def use_cpu_dropout(backbone: nn.Module) -> list[str]:
    """Swap ``backbone``'s dropout for :class:`CpuDropout` and, where it can, its attention function; in place.

    Returns what changed, for the log. A model that cannot switch attention functions keeps its own attention
    dropout; its other dropout layers still change.
    """
    changed = []
    swapped = 0
    for parent in backbone.modules():
        for name, child in parent.named_children():
            if type(child) is nn.Dropout:
                setattr(parent, name, CpuDropout(child.p, child.inplace).train(child.training))
                swapped += 1
    if swapped:
        changed.append(f"{swapped} dropout layers")
    config = getattr(backbone, "config", None)
    if getattr(config, "_attn_implementation", None) in ("sdpa", "eager") and \
            getattr(backbone, "_supports_attention_backend", False):
        register_attention()
        backbone.set_attn_implementation(ATTENTION_NAME)
        changed.append("attention dropout")
    return changed
