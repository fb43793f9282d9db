"""Read and write the sentence-transformers folder layout, so a trained model needs no conversion step.

A saved mlsimcse encoder *is* a sentence-transformers folder: the backbone and tokenizer at the root
(loadable by ``transformers.AutoModel``), ``modules.json`` listing Transformer -> Pooling [-> Dense(tanh)]
[-> Normalize], plus ``mlsimcse_config.json`` with the one setting sentence-transformers has no slot for (the base
model). Every other setting is written once, where sentence-transformers reads it, so the two libraries cannot
disagree about a folder; ``mlsimcse.st_settings`` reads it back from there.
We write the long-standing ``sentence_transformers.models.*`` module names and config keys, which every
sentence-transformers release from 2.x to 6.x loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from mlsimcse.errors import InputError

MLSIMCSE_CONFIG = "mlsimcse_config.json"
ST_MODEL_CONFIG = "config_sentence_transformers.json"
PROMPT_FIELDS = ("prompts", "default_prompt_name")
"""Settings kept only in ``config_sentence_transformers.json``, the file sentence-transformers reads them from,
so the two libraries can never disagree about a folder's prompts."""
OWN_FIELDS = ("base_model",)
"""What ``mlsimcse_config.json`` holds: the settings no sentence-transformers file has a slot for."""
DENSE_DIR = "2_Dense"
TRAIN_HEAD_DIR = "train_head"
"""Where an MLP head used only in training is kept, outside modules.json, so training can continue; export
leaves it out, as it is no part of the model sentence-transformers loads."""
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"
PICKLED_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")
"""Weights in PyTorch's pickle format. mlsimcse refuses them: unpickling runs whatever the file says, and even
``torch.load(weights_only=True)`` is a restricted unpickler, not a parser of plain data as safetensors is."""


@dataclass
class EncoderSettings:
    """What besides the backbone defines the sentence vector."""

    pooling: str = "cls"
    keep_mlp: bool = False
    max_length: int = 128
    normalize: bool = False
    base_model: str | None = None
    prompts: dict[str, str] = field(default_factory=dict)  # name -> text put before inputs (mlsimcse/prompts.py)
    default_prompt_name: str | None = None  # the prompt encode applies when asked for none


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
    _dump(folder / ST_MODEL_CONFIG, {"similarity_fn_name": "cosine", "prompts": dict(settings.prompts),
                                     "default_prompt_name": settings.default_prompt_name})
    write_own_config(folder, settings)


def write_own_config(folder: Path, settings: EncoderSettings) -> None:
    """``mlsimcse_config.json``: only :data:`OWN_FIELDS`, which no sentence-transformers file holds."""
    _dump(folder / MLSIMCSE_CONFIG, {name: getattr(settings, name) for name in OWN_FIELDS})


def read_json(path: Path, kind: type = dict) -> Any:
    """A JSON file of a model folder, which must hold a ``kind``; :class:`InputError` naming the file otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", path=path) from None
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON ({err.msg}, line {err.lineno} column {err.colno})", path=path) from None
    if not isinstance(data, kind):
        raise InputError(f"must hold a JSON {'object' if kind is dict else 'array'}, not {type(data).__name__}",
                         path=path)
    return data


def check_model_folder(folder: Path) -> None:
    """Refuse a local backbone folder that would fail to load with a traceback, or load as something else.

    It needs a ``config.json`` and safetensors weights whose headers parse (a truncated, empty or foreign file
    fails there, at the cost of reading a few kilobytes); pickled weights are refused, naming the file and the
    one-line conversion.
    """
    config = folder / "config.json"
    if not config.is_file():
        raise InputError("not a model folder: it has no config.json (every transformers and sentence-transformers "
                         "model has one)", path=folder)
    read_json(config)
    for weights in _weight_files(folder):
        check_safetensors(weights)


def _weight_files(folder: Path) -> list[Path]:
    if (folder / WEIGHTS_FILE).is_file():
        return [folder / WEIGHTS_FILE]
    index = folder / WEIGHTS_INDEX
    if index.is_file():
        weight_map = read_json(index).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise InputError("has no weight_map naming the weight files", path=index)
        shards = sorted({folder / str(name) for name in weight_map.values()})
        for shard in shards:
            if not shard.is_file():
                raise InputError(f"weight file {shard.name} named by {index.name} is missing", path=folder)
        return shards
    for name in PICKLED_WEIGHTS:
        if (folder / name).is_file():
            raise InputError(pickled_weights_message(folder, name), path=folder / name)
    raise InputError(f"no weights: {WEIGHTS_FILE} is missing", path=folder)


def pickled_weights_message(folder: Path | str, name: str = PICKLED_WEIGHTS[0]) -> str:
    """Why pickled weights are refused, and how to turn them into safetensors once."""
    if name != PICKLED_WEIGHTS[0]:
        how = (f"convert them with transformers into a new folder: AutoModel.from_pretrained({str(folder)!r}, "
               "use_safetensors=False).save_pretrained(NEW_FOLDER), then copy the tokenizer files beside them")
    else:
        how = ("convert the file once, beside it (torch.load with weights_only=True reads tensors only): "
               f"python -c \"import torch; from safetensors.torch import save_file; "
               f"state = torch.load({str(Path(folder) / name)!r}, weights_only=True); "
               f"save_file({{k: v.clone().contiguous() for k, v in state.items()}}, "
               f"{str(Path(folder) / WEIGHTS_FILE)!r}, metadata={{'format': 'pt'}})\"")
    return (f"weights in PyTorch's pickle format; mlsimcse loads weights only from safetensors ({WEIGHTS_FILE}), "
            f"since unpickling a file can run code. To use this model, {how}")


def check_safetensors(path: Path) -> None:
    """Parse a safetensors file's header, which also checks that its size matches what the header declares."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            handle.keys()
    except (SafetensorError, OSError) as err:
        raise InputError(f"damaged weights file ({err}): it is truncated or not a safetensors file; copy or "
                         "download it again", path=path) from None


def _dump(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")
