"""Shared-model resolution: the shared copy where it exists (materialised once), the Hub name elsewhere."""

from __future__ import annotations

import sys
import threading

import pytest

from mlsimcse.encoder import SentenceEncoder
from mlsimcse.errors import InputError
from mlsimcse.paths import (MULTILINGUAL_HUB_NAME, SHARED_E5, multilingual_base_model, resolve_model_name,
                            shared_multilingual_model)

FAKE_MATERIALISER = """
import argparse, os, sys, time
args = argparse.ArgumentParser()
args.add_argument("--out")
out = args.parse_args().out
with open(os.path.join(os.path.dirname(__file__), "runs"), "a") as log:
    log.write("run\\n")
if os.environ.get("FAIL_MATERIALISE"):
    sys.exit("refusing to overwrite a non-empty folder")
time.sleep(0.5)
os.makedirs(out)
open(os.path.join(out, ".materialized"), "w").write("sha\\n")
print(out)
"""


@pytest.fixture()
def roots(tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("MLSIMCSE_MODELS_ROOT", str(models))
    monkeypatch.setenv("MLSIMCSE_MODEL_CACHE", str(tmp_path / "cache" / "e5"))
    return models


def _install_fake(models):
    folder = models / SHARED_E5
    folder.mkdir()
    (folder / "materialize.py").write_text(FAKE_MATERIALISER)
    return folder / "runs"


def test_without_the_shared_copy_the_hub_names_are_used(roots):
    assert shared_multilingual_model() is None
    assert multilingual_base_model() == MULTILINGUAL_HUB_NAME
    assert resolve_model_name("shared:multilingual-e5-small") == MULTILINGUAL_HUB_NAME
    assert resolve_model_name("shared:all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"
    assert resolve_model_name("xlm-roberta-base") == "xlm-roberta-base"


def test_the_shared_copy_is_materialised_once_even_by_concurrent_callers(roots, tmp_path):
    runs = _install_fake(roots)
    found = []
    threads = [threading.Thread(target=lambda: found.append(shared_multilingual_model())) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == [tmp_path / "cache" / "e5"] * 3
    assert multilingual_base_model() == str(tmp_path / "cache" / "e5")
    assert runs.read_text() == "run\n", "one build; the others waited for it and later calls found it"


def test_a_failed_materialisation_is_one_clear_error(roots, monkeypatch):
    _install_fake(roots)
    monkeypatch.setenv("FAIL_MATERIALISE", "1")
    with pytest.raises(InputError, match="materialising the shared multilingual model failed: refusing"):
        shared_multilingual_model()


def test_unknown_shared_names_are_input_errors(roots):
    with pytest.raises(InputError, match="unknown shared model 'shared:e5'.*shared:multilingual-e5-small"):
        SentenceEncoder.from_pretrained("shared:e5")


def test_the_materialiser_runs_under_this_interpreter(roots, monkeypatch):
    """The child must see the same packages (numpy, safetensors, tokenizers) as the caller."""
    runs = _install_fake(roots)
    (roots / SHARED_E5 / "materialize.py").write_text(
        FAKE_MATERIALISER.replace('log.write("run\\n")', 'log.write(sys.executable + "\\n")'))
    shared_multilingual_model()
    assert runs.read_text().strip() == sys.executable
