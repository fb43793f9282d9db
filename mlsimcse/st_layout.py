"""Read and write the sentence-transformers folder layout, so a trained model needs no conversion step.

A saved mlsimcse encoder *is* a sentence-transformers folder: the backbone and tokenizer at the root
(loadable by ``transformers.AutoModel``), ``modules.json`` listing Transformer -> Pooling [-> Dense(tanh)]
[-> Normalize], plus ``mlsimcse_config.json`` with the few settings sentence-transformers has no slot for.
We write the long-standing ``sentence_transformers.models.*`` module names and config keys, which every
sentence-transformers release from 2.x to 6.x loads.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from mlsimcse.errors import InputError

MLSIMCSE_CONFIG = "mlsimcse_config.json"
DENSE_DIR = "2_Dense"
TRAIN_HEAD_DIR = "train_head"
"""Where an MLP head used only in training is kept, outside modules.json, so training can continue."""


@dataclass
class EncoderSettings:
    """What besides the backbone defines the sentence vector."""

    pooling: str = "cls"
    keep_mlp: bool = False
    max_length: int = 128
    normalize: bool = False
    base_model: str | None = None


def _pooling_from_st_config(cfg: dict) -> str:
    mode = cfg.get("pooling_mode")
    if isinstance(mode, str):
        if mode in ("cls", "mean"):
            return mode
        raise InputError(f"sentence-transformers pooling mode {mode!r} is not supported (cls or mean)")
    if cfg.get("pooling_mode_cls_token"):
        return "cls"
    if cfg.get("pooling_mode_mean_tokens"):
        return "mean"
    raise InputError("sentence-transformers pooling config uses a mode mlsimcse does not support (cls or mean)")


def read_settings(folder: Path) -> tuple[EncoderSettings | None, str]:
    """Settings and backbone sub-path of a local folder; ``None`` settings for a plain transformers folder."""
    own = folder / MLSIMCSE_CONFIG
    if own.is_file():
        data = json.loads(own.read_text(encoding="utf-8"))
        return EncoderSettings(**data), ""
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return None, ""
    modules = json.loads(modules_file.read_text(encoding="utf-8"))
    settings = EncoderSettings(max_length=128)
    backbone = ""
    for module in modules:
        kind = module["type"].rsplit(".", 1)[-1]
        sub = folder / module["path"]
        if kind == "Transformer":
            backbone = module["path"]
            st_cfg = sub / "sentence_bert_config.json"
            if st_cfg.is_file():
                max_len = json.loads(st_cfg.read_text(encoding="utf-8")).get("max_seq_length")
                if max_len:
                    settings.max_length = int(max_len)
            elif (sub / "tokenizer_config.json").is_file():  # sentence-transformers 6 keeps it with the tokenizer
                max_len = json.loads((sub / "tokenizer_config.json").read_text(encoding="utf-8")).get("model_max_length")
                if isinstance(max_len, int) and 0 < max_len < 100_000:
                    settings.max_length = max_len
        elif kind == "Pooling":
            settings.pooling = _pooling_from_st_config(json.loads((sub / "config.json").read_text(encoding="utf-8")))
        elif kind == "Dense":
            settings.pooling, settings.keep_mlp = "cls_mlp", True
        elif kind == "Normalize":
            settings.normalize = True
        else:
            raise InputError(f"sentence-transformers module {module['type']!r} is not supported", path=modules_file)
    return settings, backbone


def write_layout(folder: Path, settings: EncoderSettings, dim: int, mlp: torch.nn.Module | None,
                 backbone_kwargs: dict | None = None) -> None:
    """Write modules.json and the per-module configs beside an already saved backbone.

    ``backbone_kwargs`` go to sentence-transformers' ``AutoModel.from_pretrained`` (its ``model_args``, read by
    every release from 2.x on), so it rebuilds the backbone exactly as saved.
    """
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}]

    def add(path: str, kind: str) -> Path:
        modules.append({"idx": len(modules), "name": str(len(modules)), "path": path,
                        "type": f"sentence_transformers.models.{kind}"})
        sub = folder / path
        sub.mkdir(parents=True, exist_ok=True)
        return sub

    pooling_dir = add("1_Pooling", "Pooling")
    _dump(pooling_dir / "config.json", {
        "word_embedding_dimension": dim,
        "pooling_mode_cls_token": settings.pooling != "mean",
        "pooling_mode_mean_tokens": settings.pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    })
    if mlp is not None:
        head_dir = add(DENSE_DIR, "Dense") if settings.keep_mlp else folder / TRAIN_HEAD_DIR
        head_dir.mkdir(parents=True, exist_ok=True)
        _dump(head_dir / "config.json", {"in_features": dim, "out_features": dim, "bias": True,
                                         "activation_function": "torch.nn.modules.activation.Tanh"})
        save_file({k: v.detach().contiguous().cpu() for k, v in mlp.state_dict().items()},
                  str(head_dir / "model.safetensors"))
    if settings.normalize:
        add(f"{len(modules)}_Normalize", "Normalize")
    _dump(folder / "modules.json", modules)
    st_config = {"max_seq_length": settings.max_length, "do_lower_case": False}
    if backbone_kwargs:
        st_config["model_args"] = backbone_kwargs
    _dump(folder / "sentence_bert_config.json", st_config)
    _dump(folder / "config_sentence_transformers.json", {"similarity_fn_name": "cosine", "prompts": {},
                                                         "default_prompt_name": None})
    _dump(folder / MLSIMCSE_CONFIG, asdict(settings))


def read_mlp_state(folder: Path) -> dict[str, torch.Tensor] | None:
    """The saved MLP head's weights (kept for inference or training only), if the folder has one."""
    for sub in (DENSE_DIR, TRAIN_HEAD_DIR):
        weights = folder / sub / "model.safetensors"
        if weights.is_file():
            return load_file(str(weights))
    return None


def _dump(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")
