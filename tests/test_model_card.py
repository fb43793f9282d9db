"""Every training run's model/ carries a model card: Hub front matter, recipe, data, the strictest licence, scores."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from mlsimcse.config import load_config
from mlsimcse.export import export_model
from mlsimcse.licences import UNKNOWN, Licence, classify, manifest_licences, most_restrictive
from mlsimcse.model_card import write_model_card
from mlsimcse.paths import hub_model_name
from mlsimcse.training import loop

ENGLISH = ["the man plays the guitar", "the woman eats food", "a dog runs in the park", "a cat sits on the car",
           "the red house", "a big blue car", "the man plays the piano", "the dog eats"]
GERMAN = ["der mann spielt gitarre", "die frau isst", "der hund rennt im park", "die katze sitzt auf dem auto",
          "das rote haus", "ein grosses blaues auto", "der mann spielt klavier", "der hund frisst"]
FRENCH = ["le chat joue", "la femme mange", "le chien court", "la maison rouge", "une grande voiture bleue",
          "le homme joue du piano", "le chien mange", "la rue verte"]
MANIFEST = """\
# Data — manifest

## stsb_multi_mt/ — a stand-in: pairs
- Source: `x/y` @ `0` (2 files)
- Licence: scores CC BY-SA 4.0; texts keep their own terms.

## mydata/ — a stand-in: sentences
- Licence: CC BY-NC 4.0 (NON-COMMERCIAL).
"""


def _recipe(folder: Path, name: str, shape: str, data: str, languages: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: {name}
        decontaminate: false
        sources:
          - name: {name}-lines
            kind: aligned_text
            shape: {shape}
            languages: {languages}
            local: {{format: lines, sets: ["{data}/{{lang}}.txt"]}}
        """), encoding="utf-8")
    return path


@pytest.fixture
def data_and_models(tmp_path, tiny_bert, monkeypatch):
    """A data root with a manifest and two corpora, and a models root whose all-MiniLM-L6-v2 is the tiny BERT."""
    data = tmp_path / "data"
    for folder, lang, lines in (("stsb_multi_mt", "en", ENGLISH), ("stsb_multi_mt", "de", GERMAN),
                                ("mydata", "en", ENGLISH), ("mydata", "fr", FRENCH)):
        (data / folder).mkdir(parents=True, exist_ok=True)
        (data / folder / f"{lang}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (data / "MANIFEST.md").write_text(MANIFEST, encoding="utf-8")
    models = tmp_path / "models"
    shutil.copytree(tiny_bert, models / "all-MiniLM-L6-v2")
    monkeypatch.setenv("MLSIMCSE_DATA_ROOT", str(data))
    monkeypatch.setenv("MLSIMCSE_MODELS_ROOT", str(models))
    pairs = _recipe(tmp_path, "pairs", "parallel", "stsb_multi_mt", "[en, de]")
    sentences = _recipe(tmp_path, "sentences", "unsup", "mydata", "[en, fr]")
    return models / "all-MiniLM-L6-v2", pairs, sentences


def _front_matter(card: str) -> dict:
    found = re.match(r"^---\n(.*?)\n---\n", card, re.S)
    assert found, "the card starts with YAML front matter"
    return yaml.safe_load(found.group(1))


def test_a_training_run_writes_a_model_card_with_hub_metadata_and_the_strictest_licence(tmp_path, data_and_models):
    from sentence_transformers import SentenceTransformer

    base, pairs, sentences = data_and_models
    config = load_config(None, [
        f"output_dir={tmp_path / 'run'}", f"model.name_or_path={base}", "model.pooling=mean", "batch_size=4",
        "max_steps=3", "learning_rate=1e-3", "eval_task=null", "save_every=3", "log_every=1",
        f"data.sources=[{{name: pairs, path: {pairs}, weight: 0.7}}, {{name: dropout, path: {sentences}, weight: 0.3}}]"])
    model_dir = loop.train(config)

    card = (model_dir / "README.md").read_text(encoding="utf-8")
    meta = _front_matter(card)
    assert meta["library_name"] == "sentence-transformers" and meta["pipeline_tag"] == "sentence-similarity"
    assert "sentence-transformers" in meta["tags"]
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["language"] == ["en", "de", "fr"]
    assert meta["datasets"] == ["PhilipMay/stsb_multi_mt"]
    assert meta["license"] == "cc-by-nc-4.0"
    assert "forced by dropout (sentences-lines, mydata/): \"CC BY-NC 4.0 (NON-COMMERCIAL).\"" in card
    assert "| pairs | pairs-lines | parallel | 0.7 | `stsb_multi_mt/` | en, de |" in card
    assert "| steps | 3 |" in card and "| learning rate | 0.001 |" in card and "| temperature | 0.05 |" in card
    assert "Not evaluated yet" in card
    assert SentenceTransformer(str(model_dir), device="cpu").encode(["the red house"]).shape[0] == 1

    results = {"mlsimcse_version": "0.1.0", "date": "2026-12-01", "runs": [
        {"model": "base", "results": [{"task": "stsb:de", "main_score": 60.0, "main_metric": "spearman"}]},
        {"model": "trained", "results": [{"task": "stsb:de", "main_score": 64.25, "main_metric": "spearman"}]}]}
    write_model_card(model_dir, results=results)  # what the quickstart does once its evaluation is done
    card = (model_dir / "README.md").read_text(encoding="utf-8")
    assert "| stsb:de (spearman) | 60.00 | 64.25 |" in card and _front_matter(card)["license"] == "cc-by-nc-4.0"
    exported = (export_model(model_dir, tmp_path / "exported") / "README.md").read_text(encoding="utf-8")
    assert _front_matter(exported) == meta, "export writes the same metadata the run's card has"


def test_a_source_without_a_licence_line_makes_the_licence_unknown_and_the_card_says_so(tmp_path, data_and_models):
    base, pairs, _ = data_and_models
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    config = {"max_steps": 1, "data": {"sources": [{"path": str(pairs)}, {"path": str(tmp_path / "mine.jsonl")}]}}
    (run / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    from mlsimcse.encoder import SentenceEncoder

    SentenceEncoder.from_pretrained(base, "mean").save_pretrained(run / "model")
    card = write_model_card(run / "model").read_text(encoding="utf-8")
    assert _front_matter(card)["license"] == "unknown"
    assert f"the licence of {tmp_path / 'mine.jsonl'} (no licence recorded) is not recorded" in card


def test_licence_statements_are_classified_and_the_most_restrictive_wins():
    assert classify("CC BY-SA 4.0 (kornlu/LICENSE). KorNLI is a translation of XNLI (CC BY-NC 4.0).").hub_id == \
        "cc-by-nc-4.0", "a line naming several licences counts as its strictest"
    assert classify("CC BY-NC-SA 3.0 (NON-COMMERCIAL; sick2014/readme.txt).").hub_id == "cc-by-nc-sa-3.0"
    assert classify("Tatoeba corpus terms (sentences CC BY 2.0 FR); LASER code BSD.").hub_id == "cc-by-2.0"
    assert classify("SNLI: CC BY-SA 4.0; e-SNLI repo code MIT.").family == "cc-by-sa"
    assert classify("MIT").hub_id == "mit" and classify("Apache License 2.0").hub_id == "apache-2.0"
    assert classify("CC0").family == "public-domain"
    assert classify("free for research; no license file in source repo.").hub_id == "other"
    assert classify(None) == UNKNOWN and classify("  ") == UNKNOWN
    licences = [("a", classify("MIT")), ("b", classify("CC BY-NC 4.0")), ("c", classify("CC BY-SA 4.0")),
                ("d", classify("CC BY 4.0"))]
    assert most_restrictive(licences)[0] == "b"
    assert most_restrictive(licences + [("e", classify("research terms"))])[0] == "e"
    assert most_restrictive(licences + [("f", UNKNOWN), ("g", classify("research terms"))])[0] == "f"
    assert most_restrictive([("x", Licence("cc-by", "cc-by-2.0")), ("y", Licence("cc-by", "cc-by-4.0"))])[0] == "x"
    assert most_restrictive([]) == ("no training data recorded", UNKNOWN)


@pytest.mark.slow
def test_the_shared_data_manifest_licences_classify_as_their_summary_says(shared_data):
    found = {folder: classify(text).hub_id for folder, text in manifest_licences().items()}
    assert found["xnli"] == "cc-by-nc-4.0" and found["sick2014"] == "cc-by-nc-sa-3.0"
    assert found["kornlu"] == "cc-by-nc-4.0", "KorNLI holds XNLI content, which is non-commercial"
    assert found["stsb_multi_mt"] == found["snli_esnli"] == found["ntrex128"] == "cc-by-sa-4.0"
    assert found["tatoeba_challenge_test"] == found["tatoeba_laser"] == "cc-by-2.0"
    assert found["wmt_newstest"] == found["un_parallel_v1"] == found["semeval_sts_en_2012-2016"] == "other"


def test_base_model_names_the_hub_repository_never_a_local_folder(tmp_path, monkeypatch):
    (tmp_path / "all-MiniLM-L6-v2").mkdir()
    (tmp_path / "mine").mkdir()
    monkeypatch.setenv("MLSIMCSE_MODELS_ROOT", str(tmp_path))
    assert hub_model_name(str(tmp_path / "all-MiniLM-L6-v2")) == "sentence-transformers/all-MiniLM-L6-v2"
    assert hub_model_name("shared:multilingual-e5-small") == "intfloat/multilingual-e5-small"
    assert hub_model_name("xlm-roberta-base") == "xlm-roberta-base"
    assert hub_model_name("intfloat/multilingual-e5-small") == "intfloat/multilingual-e5-small"
    assert hub_model_name(str(tmp_path / "mine")) is None
    assert hub_model_name(None) is None
