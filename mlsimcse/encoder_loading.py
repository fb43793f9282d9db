"""Finding and loading the parts a :class:`~mlsimcse.encoder.SentenceEncoder` is built from.

Where a model name points (a local folder, a Hub repository, a typo), which sentence-transformers settings a
Hub repository carries, and the tokenizer and bare backbone, loaded from safetensors only and with
transformers' chatter about the pooler it leaves out kept quiet. Kept apart from the module that runs the
encoder so that what can go wrong while loading, and the errors that say so, read in one place.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from torch import nn
from transformers import AutoModel, AutoTokenizer
from transformers.utils import logging as hf_logging

from mlsimcse.errors import InputError
from mlsimcse.st_layout import WEIGHTS_FILE, EncoderSettings, pickled_weights_message
from mlsimcse.st_settings import read_settings


def looks_like_local_path(name: str) -> bool:
    """Whether a model name that is not an existing folder was meant as one (so "not found", not a Hub lookup)."""
    return name.startswith((".", "/", "~")) or os.sep in name.strip("/").split("/", 2)[-1] or name.count("/") > 1


def backbone_load_kwargs(backbone: nn.Module) -> dict:
    """What sentence-transformers must pass to ``AutoModel.from_pretrained`` to rebuild this backbone as saved.

    The backbone is loaded without its task pooler, so the saved weights have none; told nothing, sentence-
    transformers would build a pooler of random weights (unused by its pooling, but reported as missing).
    """
    takes_flag = "add_pooling_layer" in inspect.signature(type(backbone).__init__).parameters
    if takes_flag and getattr(backbone, "pooler", None) is None:
        return {"add_pooling_layer": False}
    return {}


def load_backbone(name: str, source: str, trust_remote_code: bool, dtype: torch.dtype):
    """Tokenizer and bare encoder (no task pooler: SimCSE's pooling lives here), with transformers kept quiet
    about the pooler weights it leaves out. Weights load only from safetensors (``use_safetensors=True``): a
    local folder with pickled weights was refused before (``check_model_folder``), and for a Hub model
    transformers looks for the safetensors conversion the Hub keeps for many older repositories."""
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    load = dict(trust_remote_code=trust_remote_code, dtype=dtype, use_safetensors=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
        try:
            backbone = AutoModel.from_pretrained(source, add_pooling_layer=False, **load)
        except TypeError:  # architectures without a pooler take no add_pooling_layer
            backbone = AutoModel.from_pretrained(source, **load)
    except (OSError, ValueError, SafetensorError) as err:
        if "use_safetensors" in str(err):  # a Hub model with pickled weights only
            raise InputError(f"could not load model {name!r}: the Hub repository has no {WEIGHTS_FILE}, only "
                             f"pickled weights; download it (hf download {name} --local-dir DIR), then: "
                             + pickled_weights_message("DIR")) from None
        raise InputError(f"could not load model {name!r}: {err}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    if len(tokenizer) <= len(set(tokenizer.all_special_ids)):  # transformers 5 builds one from config.json alone
        raise InputError("the tokenizer has no vocabulary: its files (tokenizer.json, vocab.txt or a sentencepiece "
                         "model) are missing", path=source)
    return tokenizer, backbone


def hub_settings(name: str) -> EncoderSettings | None:
    """Settings of a Hub repository that is a sentence-transformers model; ``None`` for a plain one."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        modules_file = hf_hub_download(name, "modules.json")
    except EntryNotFoundError:
        return None
    except Exception as err:  # offline, unknown repository, network failure
        raise InputError(f"could not load model {name!r}: not a local folder and the Hub lookup failed ({err})") from None
    folder = Path(modules_file).parent
    for extra in ("sentence_bert_config.json", "1_Pooling/config.json", "config_sentence_transformers.json",
                  "tokenizer_config.json", "config.json"):  # the last two: the length limit, as st_settings reads it
        try:
            hf_hub_download(name, extra)
        except EntryNotFoundError:
            pass
    settings, _ = read_settings(folder)
    return settings
