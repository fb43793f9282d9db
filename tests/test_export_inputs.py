"""Export takes any sentence-transformers folder, refuses bad run files with a clear error, and never carries
files from outside the model folder into the folder meant for publishing."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mlsimcse.cli import main
from mlsimcse.encoder import SentenceEncoder
from mlsimcse.errors import InputError
from mlsimcse.export import export_model

SENTENCES = ["the man plays the guitar", "der hund spielt"]


@pytest.fixture()
def run(tmp_path, tiny_bert):
    """A run folder holding a saved mlsimcse model (``run/model``)."""
    SentenceEncoder.from_pretrained(tiny_bert, pooling="mean").save_pretrained(tmp_path / "run" / "model")
    return tmp_path / "run"


@pytest.fixture()
def plain_folder(run, tmp_path):
    """A sentence-transformers folder mlsimcse did not write: no mlsimcse_config.json, its own card, run files
    beside it that are not its own."""
    folder = shutil.copytree(run / "model", tmp_path / "hub" / "some-st-model")
    (folder / "mlsimcse_config.json").unlink()
    (folder / "README.md").write_text("---\nlicense: apache-2.0\ntags: [x]\n---\n# the authors' card\n")
    (folder.parent / "results.json").write_text("{not ours")
    return folder


def test_a_plain_sentence_transformers_folder_exports_with_a_card_of_what_it_says(plain_folder, tmp_path):
    from sentence_transformers import SentenceTransformer

    out = export_model(plain_folder, tmp_path / "exported")
    card = (out / "README.md").read_text()
    assert "# some-st-model" in card and "mean pooling, max length 64" in card
    assert "not trained with mlsimcse" in card and "license: apache-2.0" in card
    assert "## Training" not in card and "Not evaluated yet" in card
    expected = SentenceEncoder.from_pretrained(plain_folder).encode(SENTENCES)
    assert np.abs(SentenceTransformer(str(out), device="cpu").encode(SENTENCES) - expected).max() < 1e-5


@pytest.mark.slow
def test_the_shared_minilm_exports(minilm, tmp_path, capsys):
    assert main(["export", str(minilm), str(tmp_path / "minilm")]) == 0
    card = (tmp_path / "minilm" / "README.md").read_text()
    assert "# all-MiniLM-L6-v2" in card and "mean pooling, max length 256" in card
    assert (tmp_path / "minilm" / "model.safetensors").stat().st_size == (minilm / "model.safetensors").stat().st_size


@pytest.mark.parametrize("content, message", [
    ("{bad", "not a valid JSON results file"),
    ('{"runs": [{"model": "m"}]}', "not an mlsimcse results file"),
    ("[1, 2]", "not an mlsimcse results file"),
])
def test_a_bad_results_file_is_a_clear_error(run, tmp_path, capsys, content, message):
    (run / "results.json").write_text(content)
    assert main(["export", str(run / "model"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run / 'results.json'}: {message}") and "Traceback" not in err
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.tmp-*"))


def test_a_bad_run_config_is_a_clear_error(run, tmp_path):
    (run / "config.yaml").write_text("max_steps: [1\n")
    with pytest.raises(InputError, match="not a valid YAML file") as raised:
        export_model(run / "model", tmp_path / "out")
    assert raised.value.path == str(run / "config.yaml")


def test_symlinks_leading_out_of_the_model_folder_are_refused(run, tmp_path):
    model = run / "model"
    (tmp_path / "secret.txt").write_text("private")
    (model / "notes.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(InputError, match="outside the model folder") as raised:
        export_model(model, tmp_path / "out")
    assert raised.value.path == str(model / "notes.txt")
    (model / "notes.txt").unlink()
    (model / "loop").symlink_to(model)
    with pytest.raises(InputError, match="a folder that holds it"):
        export_model(model, tmp_path / "out")
    (model / "loop").unlink()
    (model / "dangling").symlink_to(tmp_path / "gone")
    with pytest.raises(InputError, match="does not exist"):
        export_model(model, tmp_path / "out")
    (model / "dangling").unlink()
    (model / "vocab-copy.json").symlink_to(model / "tokenizer.json")  # inside the folder: copied as a file
    out = export_model(model, tmp_path / "out")
    assert not (out / "vocab-copy.json").is_symlink()
    assert (out / "vocab-copy.json").read_bytes() == (model / "tokenizer.json").read_bytes()
    assert not (tmp_path / "out" / "secret.txt").exists()


def test_export_refuses_a_target_inside_the_model_and_a_damaged_model(run, tmp_path):
    with pytest.raises(InputError, match="lies inside the model folder"):
        export_model(run / "model", run / "model" / "exported")
    (run / "model" / "model.safetensors").write_bytes(b"")
    with pytest.raises(InputError, match="damaged weights file"):
        export_model(run / "model", tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert json.loads((run / "model" / "1_Pooling" / "config.json").read_text())["pooling_mode_mean_tokens"]
