"""A damaged or foreign model folder is a one-line error naming the file at fault, never a traceback or a model
loaded wrong; pickled weights are refused with the conversion that makes them loadable."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mlsimcse.cli import main
from mlsimcse.encoder import SentenceEncoder
from mlsimcse.errors import InputError


def _write(path, text):
    path.write_text(text, encoding="utf-8")


def _truncate(path):
    path.write_bytes(path.read_bytes()[:5000])


def _randomise(path):
    path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))


DAMAGES = {
    # name: (file under the model folder, how it is damaged, what the error says)
    "truncated weights": ("model.safetensors", _truncate, "damaged weights file"),
    "random weights": ("model.safetensors", _randomise, "damaged weights file"),
    "empty weights": ("model.safetensors", lambda p: p.write_bytes(b""), "damaged weights file"),
    "no weights": ("model.safetensors", lambda p: p.unlink(), "no weights: model.safetensors is missing"),
    "config not JSON": ("mlsimcse_config.json", lambda p: _write(p, "{bad"), "not valid JSON"),
    "config a list": ("mlsimcse_config.json", lambda p: _write(p, "[1]"), "must hold a JSON object"),
    "unknown setting": ("mlsimcse_config.json", lambda p: _write(p, '{"poolng": "mean"}'), "unknown setting(s) poolng"),
    "bad length": ("mlsimcse_config.json", lambda p: _write(p, '{"max_length": "abc"}'), "max_length must be"),
    "bad pooling": ("mlsimcse_config.json", lambda p: _write(p, '{"pooling": "max"}'), "pooling must be one of"),
    "modules not JSON": ("modules.json", lambda p: (p.parent.joinpath("mlsimcse_config.json").unlink(),
                                                    _write(p, "{bad")), "not valid JSON"),
    "backbone config": ("config.json", lambda p: _write(p, "{bad"), "not valid JSON"),
    "no backbone config": ("config.json", lambda p: p.unlink(), "not a model folder: it has no config.json"),
    "no tokenizer": ("tokenizer.json", lambda p: (p.unlink(), p.with_name("tokenizer_config.json").unlink()),
                     "the tokenizer has no vocabulary"),
}


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, tiny_bert):
    folder = tmp_path_factory.mktemp("saved") / "model"
    SentenceEncoder.from_pretrained(tiny_bert, pooling="mean").save_pretrained(folder)
    return folder


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_model_folder_names_the_file_and_the_problem(saved_model, tmp_path, capsys, damage):
    name, spoil, message = DAMAGES[damage]
    model = shutil.copytree(saved_model, tmp_path / "model")
    spoil(model / name)
    with pytest.raises(InputError, match=re.escape(message)) as raised:
        SentenceEncoder.from_pretrained(model)
    assert raised.value.path in (str(model / name), str(model))
    sentences = tmp_path / "x.txt"
    _write(sentences, "the dog\n")
    assert main(["encode", str(model), "--input", str(sentences), "--output", str(tmp_path / "v.npy")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {raised.value.path}") and message in err and "Traceback" not in err


def test_a_folder_that_is_no_model_says_so(tmp_path):
    (tmp_path / "notes").mkdir()
    _write(tmp_path / "notes" / "a.txt", "hello")
    with pytest.raises(InputError, match="not a model folder: it has no config.json") as raised:
        SentenceEncoder.from_pretrained(tmp_path / "notes")
    assert "sentencepiece" not in str(raised.value)


def test_pickled_weights_are_refused_with_a_conversion_that_works(tiny_bert, tmp_path):
    model = shutil.copytree(tiny_bert, tmp_path / "old-model")
    torch.save(load_file(str(model / "model.safetensors")), model / "pytorch_model.bin")
    (model / "model.safetensors").unlink()
    with pytest.raises(InputError, match="pickle format; mlsimcse loads weights only from safetensors") as raised:
        SentenceEncoder.from_pretrained(model)
    assert raised.value.path == str(model / "pytorch_model.bin")
    command = re.search(r'python -c "(.*)"$', str(raised.value)).group(1)
    subprocess.run([sys.executable, "-c", command], check=True, timeout=300)
    converted = SentenceEncoder.from_pretrained(model, pooling="mean").encode(["the dog plays"])
    expected = SentenceEncoder.from_pretrained(tiny_bert, pooling="mean").encode(["the dog plays"])
    assert np.abs(converted - expected).max() < 1e-6


def test_a_broken_pooling_config_of_a_sentence_transformers_folder_names_its_file(saved_model, tmp_path):
    model = shutil.copytree(saved_model, tmp_path / "model")
    (model / "mlsimcse_config.json").unlink()
    pooling = model / "1_Pooling" / "config.json"
    _write(pooling, json.dumps({"pooling_mode": "weightedmean"}))
    with pytest.raises(InputError, match="pooling mode 'weightedmean' is not supported") as raised:
        SentenceEncoder.from_pretrained(model)
    assert raised.value.path == str(pooling)
    pooling.unlink()
    with pytest.raises(InputError, match="file not found") as raised:
        SentenceEncoder.from_pretrained(model)
    assert raised.value.path == str(pooling)
