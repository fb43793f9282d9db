"""A saved folder has one source of truth: mlsimcse reads every setting sentence-transformers can hold from the
sentence-transformers files, so a folder sentence-transformers re-saved loads alike in both libraries, and an
older mlsimcse_config.json that says otherwise is a clear error rather than a silent choice."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mlsimcse.encoder import SentenceEncoder
from mlsimcse.errors import InputError
from mlsimcse.st_layout import MLSIMCSE_CONFIG, TRAIN_HEAD_DIR

LONG = ["the man plays the guitar in the park with the red dog and the small cat",
        "der mann spielt gitarre und die frau spielt piano in the big house",
        "le chat"]
MAX_LENGTH = 8
"""Shorter than the first two sentences, so a reader that got the length wrong gives other vectors."""


def _saved(tiny_bert, folder, pooling, keep_mlp=False):
    encoder = SentenceEncoder.from_pretrained(tiny_bert, pooling=pooling, keep_mlp=keep_mlp, max_length=MAX_LENGTH)
    if encoder.mlp is not None:
        torch.nn.init.normal_(encoder.mlp.linear.weight)  # a head far from identity, so using it shows
    encoder.save_pretrained(folder)
    return folder


def _write_legacy_config(folder, **settings):
    """``mlsimcse_config.json`` as mlsimcse wrote it before: every setting, the sentence-transformers ones too."""
    (folder / MLSIMCSE_CONFIG).write_text(json.dumps(
        {"pooling": "cls", "keep_mlp": False, "max_length": MAX_LENGTH, "normalize": False, "base_model": "x"}
        | settings))


def _re_save(folder, target, *, pooling=None):
    """Load ``folder`` in sentence-transformers, append Normalize (and swap the pooling), save it to ``target``."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

    st = SentenceTransformer(str(folder), device="cpu")
    modules = list(st)
    if pooling:
        modules[1] = Pooling(st.get_embedding_dimension(), pooling_mode=pooling)
    SentenceTransformer(modules=modules + [Normalize()], device="cpu").save(str(target))
    return target


@pytest.mark.parametrize("in_place", [False, True], ids=["new-folder", "in-place"])
@pytest.mark.parametrize("pooling,keep_mlp", [("mean", False), ("cls_mlp", True), ("cls_mlp", False)])
def test_a_folder_re_saved_by_sentence_transformers_loads_as_sentence_transformers_loads_it(
        tiny_bert, tmp_path, pooling, keep_mlp, in_place):
    from sentence_transformers import SentenceTransformer

    saved = _saved(tiny_bert, tmp_path / "model", pooling, keep_mlp)
    re_saved = _re_save(saved, saved if in_place else tmp_path / "re-saved")
    reference = SentenceTransformer(str(re_saved), device="cpu")
    assert reference.max_seq_length == MAX_LENGTH

    loaded = SentenceEncoder.from_pretrained(re_saved)
    assert loaded.settings.normalize and loaded.settings.max_length == MAX_LENGTH
    assert loaded.settings.keep_mlp == keep_mlp
    np.testing.assert_allclose(loaded.encode(LONG), reference.encode(LONG), atol=1e-5)


def test_mlsimcse_config_holds_only_what_the_sentence_transformers_files_cannot(tiny_bert, tmp_path):
    saved = _saved(tiny_bert, tmp_path / "model", "cls_mlp")
    assert json.loads((saved / MLSIMCSE_CONFIG).read_text()) == {"base_model": str(tiny_bert)}
    again = SentenceEncoder.from_pretrained(saved)
    assert (again.pooling, again.settings.keep_mlp, again.settings.base_model) == ("cls_mlp", False, str(tiny_bert))
    assert again.mlp is not None and (saved / TRAIN_HEAD_DIR).is_dir(), "training can continue from the head"


@pytest.mark.parametrize("change,message", [
    ({}, "mlsimcse_config.json says normalize False but modules.json says True"),
    ({"pooling": "mean"}, "mlsimcse_config.json says pooling 'cls' but 1_Pooling/config.json says 'mean'"),
])
def test_an_older_mlsimcse_config_loads_while_it_agrees_and_is_a_clear_error_once_it_does_not(
        tiny_bert, tmp_path, change, message):
    saved = _saved(tiny_bert, tmp_path / "model", "cls")
    _write_legacy_config(saved)
    loaded = SentenceEncoder.from_pretrained(saved)
    assert (loaded.pooling, loaded.settings.normalize, loaded.settings.base_model) == ("cls", False, "x")
    _re_save(saved, saved, **change)  # sentence-transformers leaves mlsimcse_config.json as it was
    with pytest.raises(InputError, match=message) as raised:
        SentenceEncoder.from_pretrained(saved)
    assert raised.value.path == str(saved / MLSIMCSE_CONFIG)


def test_a_head_or_module_order_mlsimcse_would_run_differently_is_refused(tiny_bert, tmp_path):
    saved = _saved(tiny_bert, tmp_path / "model", "cls_mlp", keep_mlp=True)
    dense = saved / "2_Dense" / "config.json"
    dense.write_text(json.dumps(json.loads(dense.read_text()) | {"activation_function": "torch.nn.Identity"}))
    with pytest.raises(InputError, match="activation Identity is not supported") as raised:
        SentenceEncoder.from_pretrained(saved)
    assert raised.value.path == str(dense)

    other = _saved(tiny_bert, tmp_path / "other", "cls", keep_mlp=False)
    modules = json.loads((other / "modules.json").read_text())
    (other / "modules.json").write_text(json.dumps(modules[:1]))  # no Pooling: token vectors, not one per text
    with pytest.raises(InputError, match="modules Transformer are not supported"):
        SentenceEncoder.from_pretrained(other)
