"""Export: the copy loads in sentence-transformers with identical embeddings and carries a model card."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from mlsimcse.encoder import SentenceEncoder
from mlsimcse.errors import InputError
from mlsimcse.export import export_model
from mlsimcse.licences import manifest_licences
from mlsimcse.shipped import resolve_recipe

SENTENCES = ["the man plays the guitar", "der hund spielt", "le chat"]


def _fake_run(tmp_path, tiny_bert):
    run = tmp_path / "run"
    SentenceEncoder.from_pretrained(tiny_bert, pooling="mean").save_pretrained(run / "model")
    config = {"max_steps": 5, "batch_size": 4, "learning_rate": 1e-3, "model": {"max_length": 32},
              "loss": {"temperature": 0.05},
              "data": {"sources": [{"path": str(resolve_recipe("parallel-stsb-de"))}]}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    results = {"mlsimcse_version": "0.1.0", "date": "2026-11-28", "runs": [
        {"model": "base", "results": [{"task": "stsb:en", "main_score": 80.0, "main_metric": "spearman"}]},
        {"model": "trained", "results": [{"task": "stsb:en", "main_score": 81.5, "main_metric": "spearman"}]}]}
    (run / "results.json").write_text(json.dumps(results))
    return run


def test_export_loads_in_sentence_transformers_with_a_model_card(tmp_path, tiny_bert):
    from sentence_transformers import SentenceTransformer

    run = _fake_run(tmp_path, tiny_bert)
    out = export_model(run / "model", tmp_path / "exported")
    expected = SentenceEncoder.from_pretrained(run / "model").encode(SENTENCES)
    got = SentenceTransformer(str(out), device="cpu").encode(SENTENCES)
    assert np.abs(got - expected).max() < 1e-5
    card = (out / "README.md").read_text()
    assert "library_name: sentence-transformers" in card
    assert "| steps | 5 |" in card and "| learning rate | 0.001 |" in card
    assert "| stsb:en (spearman) | 80.00 | 81.50 |" in card
    assert "stsb-train-pairs" in card


@pytest.mark.slow
def test_model_card_names_the_data_licence(tmp_path, tiny_bert, shared_data):
    run = _fake_run(tmp_path, tiny_bert)
    card = (export_model(run / "model", tmp_path / "exported") / "README.md").read_text()
    assert manifest_licences()["stsb_multi_mt"] in card


def test_export_refuses_to_overwrite_and_rejects_non_models(tmp_path, tiny_bert):
    run = _fake_run(tmp_path, tiny_bert)
    (tmp_path / "taken").mkdir()
    with pytest.raises(InputError, match="already exists"):
        export_model(run / "model", tmp_path / "taken")
    with pytest.raises(InputError, match="no modules.json"):
        export_model(tmp_path, tmp_path / "new")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("older_config", [False, True], ids=["config", "older-config"])
def test_export_leaves_the_training_only_head_behind_and_loads_alike_in_both_libraries(tmp_path, tiny_bert,
                                                                                      older_config):
    from sentence_transformers import SentenceTransformer

    model = tmp_path / "run" / "model"
    encoder = SentenceEncoder.from_pretrained(tiny_bert, pooling="cls_mlp")  # unsupervised SimCSE: MLP in training
    torch.nn.init.normal_(encoder.mlp.linear.weight)
    encoder.save_pretrained(model)
    if older_config:  # as mlsimcse wrote it before: every setting, the sentence-transformers ones too
        (model / "mlsimcse_config.json").write_text(json.dumps({"pooling": "cls_mlp", "keep_mlp": False,
                                                                "max_length": 64, "normalize": False,
                                                                "base_model": str(tiny_bert)}))
    expected = SentenceEncoder.from_pretrained(model).encode(SENTENCES)
    out = export_model(model, tmp_path / "exported")
    assert (model / "train_head").is_dir() and not (out / "train_head").exists()
    assert json.loads((out / "mlsimcse_config.json").read_text()) == {"base_model": str(tiny_bert)}
    exported = SentenceEncoder.from_pretrained(out)
    assert exported.pooling == "cls" and exported.mlp is None
    np.testing.assert_allclose(exported.encode(SENTENCES), expected, atol=1e-6)
    assert np.abs(SentenceTransformer(str(out), device="cpu").encode(SENTENCES) - expected).max() < 1e-5
    assert "(cls pooling, max length 64)" in (out / "README.md").read_text()
