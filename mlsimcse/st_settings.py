"""What a saved folder says about its encoder, read so that mlsimcse loads it as sentence-transformers does.

The sentence-transformers files are the one source of truth for every setting they can hold, so the two
libraries cannot load a folder differently, even after sentence-transformers re-saved it (adding Normalize,
changing the pooling) and left an older ``mlsimcse_config.json`` beside it. Field by field:

- ``pooling``: the Pooling module's ``config.json`` (``cls`` or ``mean``); ``cls_mlp`` when modules.json has a
  Dense module after cls pooling, or when, without one, ``train_head/`` holds the MLP that only training uses
  (sentence-transformers never reads that folder; at inference it is plain cls, as sentence-transformers runs it).
- ``keep_mlp``: whether modules.json has that Dense module.
- ``normalize``: whether modules.json has a Normalize module.
- ``max_length``: ``max_seq_length`` in the Transformer module's ``sentence_bert_config.json`` (what mlsimcse and
  sentence-transformers up to 5 write); else, as sentence-transformers 6 reads it, the tokenizer's
  ``model_max_length`` capped at the backbone's ``max_position_embeddings``; else mlsimcse's default, 128.
- ``prompts``, ``default_prompt_name``: ``config_sentence_transformers.json``.
- ``base_model``: ``mlsimcse_config.json``, which holds only this, since no sentence-transformers file names the
  model that training started from (the model card names its Hub form, but the card is prose, rewritten freely).

Older mlsimcse versions also wrote pooling, keep_mlp, max_length and normalize into ``mlsimcse_config.json``. Such
a folder loads when those agree with the sentence-transformers files; where one disagrees (the folder changed
after mlsimcse saved it), loading stops with an error naming both files and values rather than picking one.
A folder with ``mlsimcse_config.json`` and no ``modules.json`` (mlsimcse always writes both) is read from
``mlsimcse_config.json`` alone, as before: it has no other settings to go by.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from mlsimcse.errors import InputError
from mlsimcse.pooling import POOLINGS
from mlsimcse.prompts import check_prompts
from mlsimcse.st_layout import (MLSIMCSE_CONFIG, OWN_FIELDS, PROMPT_FIELDS, ST_MODEL_CONFIG, TRAIN_HEAD_DIR,
                                WEIGHTS_FILE, EncoderSettings, check_safetensors, read_json)

LEGACY_FIELDS = ("pooling", "keep_mlp", "max_length", "normalize")
"""Settings older mlsimcse versions also wrote into ``mlsimcse_config.json``: read only to check them against
the sentence-transformers files, which hold them now."""
MODULE_ORDERS = (("Transformer", "Pooling"), ("Transformer", "Pooling", "Dense"),
                 ("Transformer", "Pooling", "Normalize"), ("Transformer", "Pooling", "Dense", "Normalize"))
"""The module pipelines mlsimcse runs as sentence-transformers does; any other order would give other vectors."""


def read_settings(folder: Path) -> tuple[EncoderSettings | None, str]:
    """Settings and backbone sub-path of a local folder; ``None`` settings for a plain transformers folder."""
    own_file = folder / MLSIMCSE_CONFIG
    own = _read_own_config(own_file) if own_file.is_file() else {}
    if not (folder / "modules.json").is_file():
        if not own_file.is_file():
            return None, ""
        settings, backbone = EncoderSettings(**own), ""
    else:
        settings, backbone, said_by = _from_modules(folder)
        settings.base_model = own.get("base_model")
        _check_agreement(own_file, own, settings, said_by)
    _read_prompts(folder, settings)
    return settings, backbone


def _from_modules(folder: Path) -> tuple[EncoderSettings, str, dict[str, str]]:
    """Settings from modules.json and the module folders, the backbone's sub-path, and which file said what."""
    modules_file = folder / "modules.json"
    modules = read_json(modules_file, list)
    for module in modules:
        if not (isinstance(module, dict) and isinstance(module.get("type"), str)
                and isinstance(module.get("path", ""), str)):
            raise InputError("every module must be an object with a 'type' and a 'path'", path=modules_file)
        if module["type"].rsplit(".", 1)[-1] not in MODULE_ORDERS[-1]:  # the longest order names every kind
            raise InputError(f"sentence-transformers module {module['type']!r} is not supported", path=modules_file)
    kinds = tuple(module["type"].rsplit(".", 1)[-1] for module in modules)
    if kinds not in MODULE_ORDERS:
        raise InputError(f"modules {', '.join(kinds) or '(none)'} are not supported: mlsimcse runs Transformer, "
                         "Pooling, then optionally Dense and Normalize, in that order", path=modules_file)
    paths = {kind: module.get("path", "") for kind, module in zip(kinds, modules)}
    pooling_file = folder / paths["Pooling"] / "config.json"
    try:
        pooling = _pooling_from_st_config(read_json(pooling_file))
    except InputError as err:
        raise InputError(err.reason, path=err.path or pooling_file) from None
    said_by = {"pooling": _shown(folder, pooling_file), "keep_mlp": "modules.json", "normalize": "modules.json"}
    if "Dense" in paths:
        if pooling != "cls":
            raise InputError(f"a Dense module after {pooling} pooling is not supported: mlsimcse's MLP head runs "
                             "on [CLS] (cls pooling)", path=modules_file)
        _check_dense(folder / paths["Dense"] / "config.json")
        pooling, said_by["pooling"] = "cls_mlp", "modules.json (a Dense module)"
    elif pooling == "cls" and (folder / TRAIN_HEAD_DIR / WEIGHTS_FILE).is_file():
        pooling, said_by["pooling"] = "cls_mlp", f"{TRAIN_HEAD_DIR}/ (the MLP used in training only)"
    max_length, length_file = _max_length(folder / paths["Transformer"])
    if length_file is not None:
        said_by["max_length"] = _shown(folder, length_file)
    settings = EncoderSettings(pooling=pooling, keep_mlp="Dense" in paths, normalize="Normalize" in paths)
    if max_length is not None:
        settings.max_length = max_length
    return settings, paths["Transformer"], said_by


def _check_agreement(own_file: Path, own: dict, settings: EncoderSettings, said_by: dict[str, str]) -> None:
    """:class:`InputError` where an older ``mlsimcse_config.json`` says other than the sentence-transformers files."""
    for key in LEGACY_FIELDS:
        if key not in own or key not in said_by or own[key] == getattr(settings, key):
            continue
        if key == "keep_mlp" and settings.pooling != "cls_mlp":
            continue  # without an MLP head there is nothing to keep, whatever the old file says
        source, new = said_by[key], getattr(settings, key)
        raise InputError(f"{MLSIMCSE_CONFIG} says {key} {own[key]!r} but {source} says {new!r}: the folder changed "
                         f"after mlsimcse saved it (re-saved by sentence-transformers?), and sentence-transformers "
                         f"loads it as {source} says. To load it that way here too, delete {key!r} from "
                         f"{MLSIMCSE_CONFIG} (mlsimcse no longer writes it there)", path=own_file)


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


def _check_dense(config_file: Path) -> None:
    """Refuse a Dense module that is not SimCSE's MLP head (square, with a bias, tanh), which mlsimcse would run
    differently; a folder without the config (a Hub model read before its module files arrive) is let through."""
    if not config_file.is_file():
        return
    cfg = read_json(config_file)
    activation = str(cfg.get("activation_function", "torch.nn.modules.activation.Tanh")).rsplit(".", 1)[-1]
    if cfg.get("in_features") != cfg.get("out_features") or cfg.get("bias", True) is not True or activation != "Tanh":
        raise InputError(f"a Dense module of {cfg.get('in_features')} -> {cfg.get('out_features')} features, bias "
                         f"{cfg.get('bias', True)}, activation {activation} is not supported: mlsimcse runs only "
                         "SimCSE's MLP head (square, with a bias, tanh)", path=config_file)


def _max_length(backbone: Path) -> tuple[int | None, Path | None]:
    """The input length limit sentence-transformers reads for this backbone folder, and the file that sets it."""
    st_config = backbone / "sentence_bert_config.json"
    if st_config.is_file():
        value = read_json(st_config).get("max_seq_length")
        if value is not None:
            return _positive(value, "max_seq_length", st_config), st_config
    limits = []
    for name, key in (("tokenizer_config.json", "model_max_length"), ("config.json", "max_position_embeddings")):
        path = backbone / name
        value = read_json(path).get(key) if path.is_file() else None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            limits.append((value, path))
    return min(limits, default=(None, None))


def _shown(folder: Path, path: Path) -> str:
    return path.relative_to(folder).as_posix()


def _read_prompts(folder: Path, settings: EncoderSettings) -> None:
    """The folder's prompts and default prompt name, from ``config_sentence_transformers.json`` when it has one."""
    path = folder / ST_MODEL_CONFIG
    if not path.is_file():
        return
    data = read_json(path)
    settings.prompts = check_prompts(data.get("prompts"), data.get("default_prompt_name"), where=str(path))
    settings.default_prompt_name = data.get("default_prompt_name")


def _read_own_config(path: Path) -> dict[str, Any]:
    """``mlsimcse_config.json``, every key known and of the type it must have (prompts an older version wrote
    there are left to ``config_sentence_transformers.json``)."""
    data = {k: v for k, v in read_json(path).items() if k not in PROMPT_FIELDS}
    known = set(OWN_FIELDS) | set(LEGACY_FIELDS)
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}", path=path)
    if "pooling" in data and data["pooling"] not in POOLINGS:
        raise InputError(f"pooling must be one of {', '.join(POOLINGS)}, not {data['pooling']!r}", path=path)
    for name in ("keep_mlp", "normalize"):
        if name in data and not isinstance(data[name], bool):
            raise InputError(f"{name} must be true or false, not {data[name]!r}", path=path)
    if "base_model" in data and not isinstance(data["base_model"], (str, type(None))):
        raise InputError(f"base_model must be a string, not {data['base_model']!r}", path=path)
    if "max_length" in data:
        _positive(data["max_length"], "max_length", path)
    return data


def _positive(value: Any, name: str, path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a whole number of at least 1, not {value!r}", path=path)
    return value


def read_mlp_state(folder: Path) -> dict[str, torch.Tensor] | None:
    """The saved MLP head's weights: the Dense module's (kept for inference), else ``train_head/``'s (training
    only); ``None`` when the folder has neither. Called after :func:`read_settings` checked modules.json."""
    modules_file = folder / "modules.json"
    modules = read_json(modules_file, list) if modules_file.is_file() else []
    dense = [module.get("path", "") for module in modules if module["type"].rsplit(".", 1)[-1] == "Dense"]
    for sub in dense + [TRAIN_HEAD_DIR]:
        weights = folder / sub / WEIGHTS_FILE
        if weights.is_file():
            check_safetensors(weights)
            return load_file(str(weights))
    return None
