"""The sentence encoder: a Hugging Face backbone, a pooling rule, and the encode/save API users call.

It is an ``nn.Module`` whose ``forward`` maps tokenised batches to sentence vectors (what the trainer
differentiates) and whose ``encode`` maps raw strings to embeddings fast (what evaluation and mining call).
``save_pretrained`` writes a folder that this class, sentence-transformers and ``transformers.AutoModel``
all load, so training output is used as-is.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from mlsimcse.devices import resolve_device
from mlsimcse.encoder_loading import backbone_load_kwargs, hub_settings, load_backbone, looks_like_local_path
from mlsimcse.errors import InputError, check_at_least_one
from mlsimcse.io_utils import atomic_path
from mlsimcse.paths import resolve_model_name
from mlsimcse.pooling import MLPHead, check_pooling, pool_tokens
from mlsimcse.precision import bf16_backbone, int8_backbone, resolve_precision
from mlsimcse.progress import progress_bar
from mlsimcse.prompts import resolve_prompt, with_prompt
from mlsimcse.st_layout import EncoderSettings, check_model_folder, write_layout
from mlsimcse.st_settings import read_mlp_state, read_settings

CPU_BATCH_TOKENS = 1024
"""Padded tokens per inference batch on CPU: measured on 2 EPYC cores, batches of ~1k tokens keep the layer
activations cache-resident and encode 1.2-2x faster than 128 long sentences at once (benchmarks/README.md)."""

_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
           "float16": torch.float16, "fp16": torch.float16}


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise InputError(f"unknown dtype {dtype!r}; choose one of {', '.join(_DTYPES)}")
    return _DTYPES[dtype]


class SentenceEncoder(nn.Module):
    """A transformers encoder plus pooling (``cls``, ``cls_mlp`` or ``mean``)."""

    def __init__(self, backbone: nn.Module, tokenizer, settings: EncoderSettings,
                 mlp: MLPHead | None = None, name_or_path: str = ""):
        super().__init__()
        check_pooling(settings.pooling)
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.settings = settings
        self.name_or_path = name_or_path
        if settings.pooling == "cls_mlp" and mlp is None:
            mlp = MLPHead(self.embedding_dim)
        self.mlp = mlp if settings.pooling == "cls_mlp" else None

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, pooling: str | None = None, *,
                        max_length: int | None = None, keep_mlp: bool | None = None,
                        normalize: bool | None = None, trust_remote_code: bool = False,
                        dtype: str | torch.dtype | None = None) -> "SentenceEncoder":
        """Load a saved mlsimcse folder, a sentence-transformers folder, a transformers folder or a Hub name.

        Explicit arguments override what the folder says; a plain transformers model defaults to ``cls``
        pooling (SimCSE's choice) and 128 tokens. ``shared:NAME`` names a shared model (``mlsimcse.paths``).
        """
        if pooling is not None:
            check_pooling(pooling)
        check_at_least_one(max_length=max_length)
        name = resolve_model_name(str(name_or_path))
        path = Path(name).expanduser()
        if path.is_dir():
            settings, backbone_sub = read_settings(path)
            backbone_source = str(path / backbone_sub) if backbone_sub else str(path)
            check_model_folder(Path(backbone_source))
        elif path.exists():
            raise InputError("model path is a file, not a folder", path=name)
        elif looks_like_local_path(name):
            raise InputError("model folder not found", path=name)
        else:
            settings, backbone_source = hub_settings(name), name
        if settings is None:
            settings = EncoderSettings(pooling=pooling or "cls", base_model=name)
        if pooling is not None and pooling != settings.pooling:
            settings.pooling = pooling
            settings.keep_mlp = False
        for attr, value in (("max_length", max_length), ("keep_mlp", keep_mlp), ("normalize", normalize)):
            if value is not None:
                setattr(settings, attr, value)
        if settings.base_model is None:
            settings.base_model = name
        tokenizer, backbone = load_backbone(name, backbone_source, trust_remote_code, resolve_dtype(dtype))
        positions = getattr(backbone.config, "max_position_embeddings", None)
        if positions and settings.max_length > positions:  # longer inputs would index past the position table
            settings.max_length = positions
        mlp = None
        if settings.pooling == "cls_mlp" and path.is_dir():
            state = read_mlp_state(path)
            if state is not None:
                mlp = MLPHead(backbone.config.hidden_size)
                mlp.load_state_dict(state)
        return cls(backbone, tokenizer, settings, mlp=mlp, name_or_path=name)

    # ------------------------------------------------------------------ properties
    @property
    def embedding_dim(self) -> int:
        return int(self.backbone.config.hidden_size)

    @property
    def pooling(self) -> str:
        return self.settings.pooling

    @property
    def device(self) -> torch.device:
        return next(self.backbone.parameters()).device

    @property
    def prompts(self) -> dict[str, str]:
        """Named prompts (``config_sentence_transformers.json``), e.g. e5's ``query: `` and ``passage: ``."""
        return self.settings.prompts

    @property
    def default_prompt_name(self) -> str | None:
        return self.settings.default_prompt_name

    def freeze_word_embeddings(self) -> int:
        """Stop training the token-embedding matrix; returns how many weights that freezes.

        In a multilingual encoder it is most of the model (XLM-R's 250k rows x 384 are 96M of e5-small's 118M
        weights) and costs a dense gradient plus two AdamW moments every step, though a batch reads a few
        thousand of its rows. Position and token-type embeddings and the embedding LayerNorm stay trainable.
        """
        matrix = self.backbone.get_input_embeddings().weight
        matrix.requires_grad_(False)
        return matrix.numel()

    def set_dropout(self, p: float) -> int:
        """Run every dropout of the backbone at probability ``p``; returns how many layers that sets.

        Both kinds read their ``nn.Dropout`` module's ``p`` when they run: the hidden-state dropouts directly,
        the attention-probability dropout through the attention function (eager, SDPA or mlsimcse's CPU one),
        so setting the modules sets all of it. The saved config keeps the base's rates: they only act in training.
        """
        layers = [module for module in self.backbone.modules() if isinstance(module, torch.nn.Dropout)]
        for module in layers:
            module.p = p
        return len(layers)

    # ------------------------------------------------------------------ forward
    def tokenize(self, texts: Sequence[str], max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Pad to the longest text in the batch, truncate at ``max_length`` (default: the encoder's)."""
        return self.tokenizer(list(texts), padding=True, truncation=True,
                              max_length=max_length or self.settings.max_length, return_tensors="pt")

    def forward(self, features: dict[str, torch.Tensor], *, use_mlp: bool | None = None,
                chunk_size: int | None = None, chunk_tokens: int | None = None) -> torch.Tensor:
        """Sentence vectors for a tokenised batch; the MLP applies in training, and at inference if kept.

        With ``chunk_size`` and/or ``chunk_tokens``, rows are sorted by length and run through the backbone in
        chunks of at most ``chunk_size`` rows and ``chunk_tokens`` padded tokens, each chunk cut to its own
        longest row: the same vectors for much less padding when lengths vary (a training batch of short and
        long sentences pads everything to the longest otherwise), and a token budget lets short rows run in
        bigger, faster matrix products than long ones. It happens inside one ``forward`` call so distributed
        wrappers see a single forward per step.
        """
        inputs = {k: v for k, v in features.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        mask = inputs["attention_mask"]
        rows, width = mask.shape
        if (chunk_size or rows) >= rows and (chunk_tokens or rows * width) >= rows * width:
            pooled = pool_tokens(self.settings.pooling, self.backbone(**inputs).last_hidden_state, mask)
        else:
            pooled = self._forward_length_chunks(inputs, chunk_size or rows, chunk_tokens)
        if use_mlp is None:
            use_mlp = self.training or self.settings.keep_mlp
        if self.mlp is not None and use_mlp:
            pooled = self.mlp(pooled)
        return pooled

    def _forward_length_chunks(self, inputs: dict[str, torch.Tensor], chunk_size: int,
                               chunk_tokens: int | None) -> torch.Tensor:
        lengths = inputs["attention_mask"].sum(dim=1)
        order = torch.argsort(lengths, descending=True, stable=True)
        sorted_lengths = lengths[order].tolist()
        parts = []
        for start, stop in _length_batches(sorted_lengths, chunk_size, chunk_tokens):
            rows = order[start:stop]
            chunk = {k: v[rows, :sorted_lengths[start]] for k, v in inputs.items()}
            states = self.backbone(**chunk).last_hidden_state
            parts.append(pool_tokens(self.settings.pooling, states, chunk["attention_mask"]))
        pooled = torch.cat(parts)
        return pooled[torch.argsort(order)]

    # ------------------------------------------------------------------ inference
    def encode(self, sentences: Sequence[str], batch_size: int = 64, max_length: int | None = None,
               normalize: bool | None = None, device: str | torch.device | None = None,
               dtype: str | torch.dtype | None = None, convert_to_tensor: bool = False,
               show_progress_bar: bool | None = None,
               max_batch_tokens: int | None = None, prompt_name: str | None = None,
               prompt: str | None = None, precision: str | None = None) -> np.ndarray | torch.Tensor:
        """Embeddings for ``sentences`` in input order, as float32 numpy (or a tensor on request).

        Sentences are tokenised once, sorted by token count so each batch pads little, and run under
        ``torch.inference_mode``. A batch holds at most ``batch_size`` sentences and, where set,
        ``max_batch_tokens`` padded tokens (default: 1024 on CPU, where small batches run faster, no limit on
        accelerators). ``prompt`` (a text), else the named ``prompt_name``, else the model's default prompt goes
        before every sentence, as in sentence-transformers (``prompt=""`` for none). ``precision``: ``fp32``,
        ``bf16`` (a bf16 copy of the encoder, as ``dtype="bfloat16"``), ``fp16`` (autocast), ``int8`` (an int8
        copy, CPU only) or ``auto`` (the fastest this device runs natively;
        mlsimcse/precision.py); default: what ``dtype`` says.
        """
        if isinstance(sentences, str) or not isinstance(sentences, Sequence):
            raise InputError("encode expects a list of sentences")
        if len(sentences) == 0:
            raise InputError("no sentences to encode")
        for i, text in enumerate(sentences):
            if not isinstance(text, str):
                raise InputError(f"sentence {i} is {type(text).__name__}, not a string")
        check_at_least_one(batch_size=batch_size, max_length=max_length)
        sentences = with_prompt(sentences, resolve_prompt(self.prompts, self.default_prompt_name, prompt_name, prompt))
        normalize = self.settings.normalize if normalize is None else normalize
        max_length = max_length or self.settings.max_length
        target = resolve_device(device) if device is not None else self.device
        precision = resolve_precision(precision, resolve_dtype(dtype), target)
        if target != self.device:
            self.to(target)
        ids = self.tokenizer(list(sentences), truncation=True, max_length=max_length,
                             add_special_tokens=True)["input_ids"]
        order = np.argsort([-len(x) for x in ids], kind="stable")
        if max_batch_tokens is None and target.type == "cpu":
            max_batch_tokens = CPU_BATCH_TOKENS
        batches = _length_batches([len(ids[i]) for i in order], batch_size, max_batch_tokens)
        pad_id = self.tokenizer.pad_token_id or 0
        out = torch.empty(len(sentences), self.embedding_dim, dtype=torch.float32)
        was_training = self.training
        self.eval()
        copy_for = {"bf16": bf16_backbone, "int8": int8_backbone}.get(precision)
        runner = self if copy_for is None else SentenceEncoder(
            copy_for(self.backbone), self.tokenizer, self.settings, mlp=self.mlp, name_or_path=self.name_or_path)
        autocast = (torch.autocast(device_type=target.type, dtype=torch.float16)
                    if precision == "fp16" else contextlib.nullcontext())
        if show_progress_bar is None:
            show_progress_bar = len(sentences) > 10 * batch_size
        try:
            with torch.inference_mode(), autocast:
                for start, stop in progress_bar(batches, desc="encode", unit="batch", enabled=show_progress_bar):
                    rows = order[start:stop]
                    batch = _pad([ids[i] for i in rows], pad_id)
                    vectors = runner({k: v.to(target) for k, v in batch.items()}, use_mlp=self.settings.keep_mlp)
                    out[torch.as_tensor(rows)] = vectors.float().cpu()
        finally:
            self.train(was_training)
        if normalize:
            out = torch.nn.functional.normalize(out, dim=-1)
        return out if convert_to_tensor else out.numpy()

    # ------------------------------------------------------------------ saving
    def save_pretrained(self, folder: str | Path) -> None:
        """Write a folder loadable here, by sentence-transformers and by ``AutoModel`` (replaced atomically)."""
        with atomic_path(folder, is_dir=True) as tmp:
            self.backbone.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
            write_layout(tmp, self.settings, self.embedding_dim, self.mlp, backbone_load_kwargs(self.backbone))


def _length_batches(sorted_lengths: list[int], batch_size: int, max_tokens: int | None) -> list[tuple[int, int]]:
    """(start, stop) spans over lengths sorted longest first: ``batch_size`` rows, fewer if the padded
    size (rows x first row's length) would pass ``max_tokens``; a single over-long row still gets a batch."""
    spans, start = [], 0
    while start < len(sorted_lengths):
        rows = batch_size
        if max_tokens:
            rows = max(1, min(batch_size, max_tokens // max(1, sorted_lengths[start])))
        spans.append((start, min(start + rows, len(sorted_lengths))))
        start = spans[-1][1]
    return spans


def _pad(rows: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, :len(row)] = torch.as_tensor(row)
        attention[i, :len(row)] = 1
    return {"input_ids": input_ids, "attention_mask": attention}
