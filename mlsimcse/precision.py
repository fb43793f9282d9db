"""Reduced-precision inference for ``SentenceEncoder.encode``: fp32, a bf16 copy, fp16 autocast and an int8 copy.

Encoding is most of what evaluation and mining spend their time on, and on a CPU the encoder's projections are
nearly all of encoding. Modern CPUs multiply in bf16 (AVX512-BF16, AMX, ARMv8.6 BF16) and int8 (AVX512-VNNI,
AVX-VNNI, AMX, ARM dot product) several times faster than in fp32, so ``encode(precision=...)`` offers both:

- ``bf16`` runs a bfloat16 copy of the backbone: every layer computes in bf16 and only the last hidden state
  comes back in fp32, for pooling. Autocast, which computes the projections in bf16 and everything else in fp32,
  spent a fifth of a CPU encode casting each projection's input and output (benchmarks/README.md). bf16 keeps
  fp32's exponent range, so residual sums and LayerNorms do not overflow in it; fp16, which has no such range,
  stays under autocast;
- ``int8`` runs a copy of the backbone whose ``nn.Linear`` layers multiply int8 by int8 into int32
  (``torch._int_mm``), with every other layer, the embeddings and the pooling shared with the fp32 model.

Neither copy duplicates the token-embedding matrix (most of a multilingual model's weights) of a model that
names it (``get_input_embeddings``), and both are built once per model and rebuilt only when a weight changes.

The int8 scheme was chosen by measuring embeddings against fp32 on real sentences (benchmarks/README.md): PyTorch's
stock dynamic quantisation (one scale for a whole batch's activations) falls to cosine 0.66 of fp32 on the worst
sentence, because a few hidden channels of a transformer carry values tens of times larger than the rest and one
batch-wide scale rounds everything else away. What keeps the vectors (min cosine 0.997 on MiniLM) is:

- a scale per output channel for the weights, and a scale *and offset* per token for the activations, computed
  afresh for every row, so a vector does not depend on which other sentences share its batch;
- for a projection fed by a LayerNorm (query, key, value, the feed-forward input), the LayerNorm's outlier
  channels are damped before rounding and the projection's weights scaled up to match (SmoothQuant's migration,
  with the channel sizes read from the LayerNorm's own weight and bias, so no calibration data is needed).

Projections that read the same tensor (query, key and value) are found by tracing one tiny forward and run as one
int8 product over their stacked weights, which quantises the input once instead of three times.
"""

from __future__ import annotations

import copy
import logging
import weakref
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from mlsimcse.choices import PRECISIONS
from mlsimcse.errors import InputError

logger = logging.getLogger(__name__)

SMOOTHING_ALPHA = 0.5
"""How much of a LayerNorm channel's size moves into the weights (SmoothQuant's alpha): 0.3-0.5 kept MiniLM's
embeddings best (min cosine 0.9966-0.9967 on 1,000 real sentences), 0.85 lost them (0.949)."""

_DTYPE_PRECISION = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")
"""CPU flags of a bf16 matrix instruction (x86 AVX512-BF16 and AMX, ARM's BF16 extension)."""

REPORTED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8",
                  "asimddp", "i8mm", "bf16")
"""The features a benchmark prints: which fast matrix paths this CPU has."""


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (x86 ``flags``, ARM ``Features``); torch's own capability
    report (``AVX512``, ``AVX2``) where that file is absent."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        capability = torch.backends.cpu.get_cpu_capability().lower()
        return frozenset({"avx512f", "avx2"} if capability.startswith("avx512") else {capability})
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def has_native(flags: tuple[str, ...]) -> bool:
    return any(flag in cpu_flags() for flag in flags)


def resolve_precision(precision: str | None, dtype: torch.dtype, device: torch.device) -> str:
    """The precision ``encode`` runs: ``precision`` if given (``auto`` resolved for ``device``), else the one
    ``dtype`` names. Giving both is allowed only when they agree."""
    if precision is None:
        return _DTYPE_PRECISION[dtype]
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if dtype != torch.float32 and precision != _DTYPE_PRECISION[dtype]:
        raise InputError(f"precision {precision!r} contradicts dtype {dtype}; give one of them")
    if precision == "auto":
        return auto_precision(device)
    if precision == "int8" and device.type != "cpu":
        raise InputError(f"precision 'int8' runs on the CPU only, not on {device.type}")
    return precision


def auto_precision(device: torch.device) -> str:
    """The fastest precision that ``device`` runs natively *and* that keeps a model's scores: bf16 where the
    device multiplies in bf16 natively, else fp32.

    int8 is as fast as bf16 on a CPU that has both, but it is never chosen for the user: it keeps the untrained
    models' quick suites within bounds (multilingual-e5-small: every task within 0.50, averages within 0.14), not a
    fine-tuned one's (the multilingual quickstart's model: xSTS en-zh −0.93, its average −0.49; benchmarks/README.md).
    Emulated bf16 is several times slower than fp32, so a CPU without a bf16 instruction stays in fp32.
    """
    if device.type == "cpu":
        return "bf16" if has_native(NATIVE_BF16_FLAGS) else "fp32"
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


# ------------------------------------------------------------------------------------------ reduced-precision copies
_COPIES: "weakref.WeakKeyDictionary[nn.Module, dict[str, tuple[tuple, nn.Module]]]" = weakref.WeakKeyDictionary()


def bf16_backbone(backbone: nn.Module) -> nn.Module:
    """A bfloat16 inference copy of ``backbone`` (``backbone`` itself if it already is one); see the module
    docstring. The copy reads token embeddings from ``backbone``'s own matrix, rounding each row as it is looked
    up, and returns ``last_hidden_state`` in fp32."""
    if all(p.dtype == torch.bfloat16 for p in backbone.parameters() if p.is_floating_point()):
        return backbone
    return _cached_copy(backbone, "bf16", _bf16_copy)


def int8_backbone(backbone: nn.Module) -> nn.Module:
    """An int8 inference copy of ``backbone``. It shares every tensor but the projections' weights with
    ``backbone``, so it costs a quarter of the projections' fp32 size."""
    return _cached_copy(backbone, "int8", quantize_backbone)


def _cached_copy(backbone: nn.Module, kind: str, build) -> nn.Module:
    """``build(backbone)``, made once and made again only when a weight of ``backbone`` changed: a copy's weights
    are a snapshot, so a weight changed in place (an optimizer step between two evaluations) or moved to another
    device calls for a new one."""
    key = tuple((id(p), p._version, p.device) for p in backbone.parameters())
    copies = _COPIES.setdefault(backbone, {})
    if kind not in copies or copies[kind][0] != key:
        copies[kind] = (key, build(backbone))
    return copies[kind][1]


def _bf16_copy(backbone: nn.Module) -> nn.Module:
    try:
        embedding = backbone.get_input_embeddings()
    except (AttributeError, NotImplementedError):  # a model that does not say: its matrix is copied too
        embedding = None
    shared = {id(embedding): _RoundedLookup(embedding)} if isinstance(embedding, nn.Embedding) else {}
    copied = copy.deepcopy(backbone, shared)
    copied.to(torch.bfloat16).register_forward_hook(_fp32_last_hidden_state)
    return copied.eval()


class _RoundedLookup(nn.Module):
    """The bf16 copy's token embeddings: rows of the original fp32 matrix, rounded to bf16 as they are read."""

    def __init__(self, embedding: nn.Embedding):
        super().__init__()
        object.__setattr__(self, "source", embedding)  # not a submodule: the copy's .to() leaves it alone

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.source(input_ids).to(torch.bfloat16)


def _fp32_last_hidden_state(module, args, output):
    output["last_hidden_state"] = output["last_hidden_state"].float()
    return output


def quantize_backbone(backbone: nn.Module, alpha: float = SMOOTHING_ALPHA) -> nn.Module:
    """Copy ``backbone`` with each ``nn.Linear`` replaced by an int8 one (see the module docstring)."""
    groups, feeding_norm = _trace_inputs(backbone)
    shared = {id(t): t for t in (*backbone.parameters(), *backbone.buffers())}
    quantized = copy.deepcopy(backbone, shared)
    modules = dict(quantized.named_modules())
    for names in groups:
        linears = [modules[name] for name in names]
        norm = feeding_norm.get(names[0])
        smoothing = _smoothing(linears, modules[norm], alpha) if norm is not None else None
        stacked = Int8Linear(linears, smoothing)
        for index, name in enumerate(names):
            parent, _, child = name.rpartition(".")
            replacement = stacked if len(names) == 1 else _GroupMember(stacked, index)
            setattr(modules[parent] if parent else quantized, child, replacement)
    return quantized.eval()


def _trace_inputs(backbone: nn.Module) -> tuple[list[list[str]], dict[str, str]]:
    """Run one tiny forward and record, for every ``nn.Linear``, which others read the very same input tensor
    (the groups, in call order) and which LayerNorm produced that input, if one did."""
    linear_inputs: list[tuple[str, int]] = []
    norm_outputs: dict[int, str] = {}
    keep: list[torch.Tensor] = []  # every traced tensor stays alive, so no id is reused during the trace

    def on_linear(name, inputs):
        keep.append(inputs[0])
        linear_inputs.append((name, id(inputs[0])))

    def on_norm(name, output):
        keep.append(output)
        norm_outputs[id(output)] = name

    hooks = []
    for name, module in backbone.named_modules():
        if isinstance(module, nn.Linear):
            hooks.append(module.register_forward_hook(lambda mod, args, out, name=name: on_linear(name, args)))
        elif isinstance(module, nn.LayerNorm):
            hooks.append(module.register_forward_hook(lambda mod, args, out, name=name: on_norm(name, out)))
    tokens = torch.ones(1, 4, dtype=torch.long, device=next(backbone.parameters()).device)
    try:
        with torch.inference_mode():
            backbone(input_ids=tokens, attention_mask=torch.ones_like(tokens))
    finally:
        for hook in hooks:
            hook.remove()
    by_input: dict[int, list[str]] = {}
    for name, tensor_id in linear_inputs:
        if name not in (n for names in by_input.values() for n in names):
            by_input.setdefault(tensor_id, []).append(name)
    feeding = {names[0]: norm_outputs[tensor_id] for tensor_id, names in by_input.items() if tensor_id in norm_outputs}
    traced = {n for names in by_input.values() for n in names}
    untraced = [[name] for name, m in backbone.named_modules() if isinstance(m, nn.Linear) and name not in traced]
    return list(by_input.values()) + untraced, feeding


def _smoothing(linears: list[nn.Linear], norm: nn.LayerNorm, alpha: float) -> torch.Tensor:
    """Per input channel, how much to shrink the activation (and grow the weights) before rounding.

    A LayerNorm's output channel j is about ``|weight_j| + |bias_j|`` in size, so that stands in for the
    activation statistics SmoothQuant calibrates on data.
    """
    activation = (norm.weight.detach().abs() + norm.bias.detach().abs()).float().clamp_min(1e-5)
    weight = torch.stack([lin.weight.detach().abs().amax(dim=0) for lin in linears]).amax(dim=0).float()
    return (activation ** alpha / weight.clamp_min(1e-5) ** (1 - alpha)).clamp_min(1e-5)


@lru_cache(maxsize=1)
def int8_weight_limit() -> int:
    """The largest int8 weight magnitude this CPU's ``torch._int_mm`` multiplies exactly: 127, or 63 where it
    saturates.

    Without an int8 dot-product instruction (x86 AVX2 with neither AVX-VNNI nor AVX512-VNNI), oneDNN multiplies
    s8 by s8 through ``vpmaddubsw``, which adds two u8 × s8 products into an int16 and clips: 255 × 127 × 2 is
    past 32,767, and MiniLM's int8 rows came out up to 1.7 times their own size off (seen with
    ``ONEDNN_MAX_CPU_ISA=AVX2``). Weights within ±63 keep every such sum in range. Probed once, on the product
    itself, so it holds whatever the CPU flags or oneDNN's ISA setting say.
    """
    rows = torch.tensor([127, -128], dtype=torch.int8).repeat(16)[:, None].expand(32, 64).contiguous()
    weights = torch.tensor([127, -127], dtype=torch.int8).repeat(16)[None, :].expand(64, 32).contiguous()
    exact = rows.double() @ weights.double()
    return 127 if torch.equal(torch._int_mm(rows, weights).double(), exact) else 63


class Int8Linear(nn.Module):
    """One or more ``nn.Linear`` layers that read the same input, as a single int8 × int8 → int32 product.

    Weights: symmetric int8 with a scale per output channel (7 bits where the CPU's product would saturate,
    :func:`int8_weight_limit`). Activations: per row, ``x ≈ scale·q + offset`` with
    ``q`` in [-128, 127] spanning the row's own minimum to maximum, so ``x @ W.T`` is
    ``scale·(q @ Wq.T)·w_scale + offset·Σ_k Wq·w_scale + bias``, the last two terms one rank-2 product.
    """

    def __init__(self, linears: list[nn.Linear], smoothing: torch.Tensor | None = None):
        super().__init__()
        weight = torch.cat([lin.weight.detach().float() for lin in linears])
        if smoothing is not None:
            weight = weight * smoothing
        limit = int8_weight_limit()
        scale = weight.abs().amax(dim=1).clamp_min(1e-12) / limit
        rounded = torch.round(weight / scale[:, None]).clamp_(-limit, limit)
        self.register_buffer("weight_t", rounded.to(torch.int8).t().contiguous())
        self.register_buffer("weight_scale", scale)
        bias = torch.cat([lin.bias.detach().float() if lin.bias is not None
                          else torch.zeros(lin.out_features, device=weight.device) for lin in linears])
        # rows of the rank-2 correction: offset · (column sums of the int8 weights · their scale) + 1 · bias
        self.register_buffer("correction", torch.stack([rounded.sum(dim=1) * scale, bias]))
        self.register_buffer("inverse_smoothing", None if smoothing is None else 1.0 / smoothing)
        self.splits = [lin.out_features for lin in linears]
        self.in_features = weight.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1]).float()
        if self.inverse_smoothing is not None:
            rows = rows * self.inverse_smoothing
        low = rows.amin(dim=1, keepdim=True)
        inverse = 255 / (rows.amax(dim=1, keepdim=True) - low).clamp_min(1e-12)
        offset = low * inverse + 128  # in units of the step; q = x/step - offset lies in [-128, 127]
        q = (rows * inverse).sub_(offset).round_().to(torch.int8)
        out = torch.mul(torch._int_mm(q, self.weight_t), self.weight_scale).div_(inverse)
        out.addmm_(torch.cat([offset / inverse, torch.ones_like(offset)], dim=1), self.correction)
        return out.reshape(*x.shape[:-1], out.shape[-1]).to(x.dtype)


class _GroupMember(nn.Module):
    """Stands in for one of the ``nn.Linear`` layers an :class:`Int8Linear` stacks: the first member called with
    a tensor runs the stacked product, and each member then takes its own columns of the result."""

    def __init__(self, stacked: Int8Linear, index: int):
        super().__init__()
        object.__setattr__(self, "stacked", stacked)  # shared, not a submodule of each member
        self.index = index
        self.stacked_module = stacked if index == 0 else None  # registered once, so .to() moves it once

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        memo = self.stacked.__dict__.setdefault("_memo", {})
        if memo.get("input") is not x or self.index in memo["served"]:
            memo.update(input=x, outputs=self.stacked(x).split(self.stacked.splits, dim=-1), served=set())
        memo["served"].add(self.index)
        output = memo["outputs"][self.index]
        if len(memo["served"]) == len(self.stacked.splits):
            memo.clear()  # every member has its columns: let the input and the stacked output go
        return output
