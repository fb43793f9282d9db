"""mteb v2 scores mlsimcse encoders directly and through their saved sentence-transformers folders, on local
tasks built from mlsimcse's own rows; its numbers relate to mlsimcse's exactly as the adapter documents."""

from __future__ import annotations

import copy
import json

import mteb
import numpy as np
import pytest
import torch
from datasets import Dataset
from torch.utils.data import DataLoader

from mlsimcse.encoder import SentenceEncoder
from mlsimcse.errors import InputError
from mlsimcse.evaluation import EmbeddingCache, average_results, evaluate_tasks
from mlsimcse.evaluation.evaluators.retrieval import nearest_neighbours
from mlsimcse.evaluation.loaders.parallel import read_tatoeba
from mlsimcse.evaluation.mteb_adapter import MTEBEncoder, evaluate_with_mteb, mteb_task, mteb_task_results
from mlsimcse.evaluation.report import ModelRun, results_document

pytestmark = pytest.mark.filterwarnings("ignore:To copy construct from a tensor")  # inside mteb's bitext search

TASKS = ["sts17:es-en-4a", "tatoeba:deu"]

ENGLISH = ["the man plays the guitar", "a woman eats food", "the dog runs in the park", "a cat sits on the car",
           "the red house is big", "a small blue car", "the woman is playing piano", "a dog eats in the street",
           "the cat is running", "a man sits in the house", "the green car is small", "a big dog plays"]
GERMAN = ["der mann spielt gitarre", "die frau isst", "der hund rennt im park", "die katze sitzt auf dem auto",
          "das rote haus ist gross", "ein kleines blaues auto", "die frau spielt piano", "ein hund isst auf der strasse",
          "die katze rennt", "ein mann sitzt im haus", "das gruene auto ist klein", "ein grosser hund spielt"]
SPANISH = ["el hombre toca la guitarra", "la mujer come", "el perro corre en el parque", "el gato en el coche",
           "la casa roja es grande", "un coche azul", "la mujer toca el piano", "un perro come en la calle",
           "el gato corre", "un hombre en la casa", "el coche verde", "un perro grande juega"]


@pytest.fixture()
def small_root(tmp_path, monkeypatch):
    """A data root holding STS17 track 4a (es-en) and LASER Tatoeba deu-eng in their real layouts, in miniature."""
    monkeypatch.setenv("MLSIMCSE_DATA_ROOT", str(tmp_path))
    sts = tmp_path / "sts2017"
    (sts / "STS2017.eval.v1.1").mkdir(parents=True)
    (sts / "STS2017.gs").mkdir()
    pairs = [(SPANISH[i], ENGLISH[(i * 5) % 12]) for i in range(12)]
    (sts / "STS2017.eval.v1.1" / "STS.input.track4a.es-en.txt").write_text("".join(f"{a}\t{b}\n" for a, b in pairs))
    (sts / "STS2017.gs" / "STS.gs.track4a.es-en.txt").write_text("".join(f"{(i * 7) % 11 / 2:.1f}\n" for i in range(12)))
    tatoeba = tmp_path / "tatoeba_laser"
    tatoeba.mkdir()
    (tatoeba / "tatoeba.deu-eng.deu").write_text("\n".join(GERMAN) + "\n")
    (tatoeba / "tatoeba.deu-eng.eng").write_text("\n".join(ENGLISH) + "\n")
    return tmp_path


def mteb_f1_in_closed_form(found: np.ndarray) -> float:
    """The README's formula: mean over queries of hit_i * 2 / (1 + c_i), c_i = queries that retrieved target i."""
    counts = np.bincount(found, minlength=len(found))
    hits = found == np.arange(len(found))
    return 100.0 * float(np.mean(np.where(hits, 2.0 / (1.0 + counts[found]), 0.0)))


def check_protocol_relations(ours, theirs, cache: EmbeddingCache, language: str, sts_tolerance: float) -> None:
    """mteb's STS Spearman is mlsimcse's; mteb's bitext accuracy is mlsimcse's per direction, its F1 the closed form."""
    ours, theirs = {r.task: r for r in ours}, {r.task: r for r in theirs}
    assert theirs["sts17:es-en-4a"].main_score == pytest.approx(ours["sts17:es-en-4a"].main_score, abs=sts_tolerance)
    tatoeba = f"tatoeba:{language}"
    mine, mteb_scores = ours[tatoeba].scores, theirs[tatoeba].scores
    assert mteb_scores["xx2en_accuracy"] == pytest.approx(mine["xx2en"], abs=1e-9)
    assert mteb_scores["en2xx_accuracy"] == pytest.approx(mine["en2xx"], abs=1e-9)
    data = read_tatoeba(language)
    sources, targets = cache.embed(data.sources), cache.embed(data.targets)
    for key, (queries, corpus) in {"xx2en": (sources, targets), "en2xx": (targets, sources)}.items():
        assert mteb_scores[f"{key}_f1"] == pytest.approx(mteb_f1_in_closed_form(nearest_neighbours(queries, corpus)),
                                                         abs=1e-6)
        assert mteb_scores[f"{key}_f1"] <= mteb_scores[f"{key}_accuracy"] + 1e-9


def test_the_wrapper_is_an_mteb_encoder_and_embeds_as_the_encoder_does(random_encoder):
    wrapped = MTEBEncoder(random_encoder, name="test/tiny")
    assert isinstance(wrapped, mteb.models.EncoderProtocol)
    texts = ENGLISH[:5]
    loader = DataLoader(Dataset.from_dict({"text": texts}), batch_size=2)
    metadata = mteb_task_metadata_stub()
    vectors = wrapped.encode(loader, task_metadata=metadata, hf_split="test", hf_subset="default", batch_size=2)
    # batches of 2 against one of 5: other padding and kernel blocking, so float32 rounding differs (1e-6 failed
    # with one torch thread)
    np.testing.assert_allclose(vectors, random_encoder.encode(texts), atol=1e-5)
    meta = wrapped.mteb_model_meta
    assert (meta.name, meta.embed_dim, meta.similarity_fn_name.value) == ("test/tiny", 32, "cosine")
    assert meta.revision == wrapped.revision and meta.revision.startswith("weights-")
    assert torch.allclose(torch.as_tensor(wrapped.similarity(vectors, vectors)).diagonal(), torch.ones(5), atol=1e-5)
    assert wrapped.applied_prompts == {metadata.name: ""}


def mteb_task_metadata_stub():
    return mteb.TaskMetadata(name="Stub", description="stub", dataset={"path": "none", "revision": "none"},
                             type="STS", eval_langs=["eng-Latn"], main_score="cosine_spearman")


def test_the_default_revision_changes_with_the_weights_and_names_come_from_the_folder(random_encoder, tiny_bert):
    changed = copy.deepcopy(random_encoder)
    with torch.no_grad():
        next(changed.parameters()).add_(1e-3)
    assert MTEBEncoder(changed).revision != MTEBEncoder(random_encoder).revision
    assert MTEBEncoder(random_encoder).revision == MTEBEncoder(random_encoder).revision
    assert MTEBEncoder(SentenceEncoder.from_pretrained(tiny_bert)).name == f"mlsimcse/{tiny_bert.name}"
    with pytest.raises(InputError, match="ORGANISATION/NAME"):
        MTEBEncoder(random_encoder, name="no-slash")


def test_local_tasks_carry_mlsimcse_rows_and_valid_metadata(small_root):
    sts, bitext = mteb_task("sts17:es-en-4a"), mteb_task("tatoeba:deu")
    for task in (sts, bitext):
        task.metadata._validate_metadata()  # mteb's own check of the language codes
    assert (sts.metadata.name, sts.metadata.main_score, sts.metadata.eval_langs) == (
        "mlsimcse.sts17:es-en-4a", "cosine_spearman", ["eng-Latn", "spa-Latn"])
    assert bitext.metadata.eval_langs == {"deu-eng": ["deu-Latn", "eng-Latn"], "eng-deu": ["eng-Latn", "deu-Latn"]}
    bitext.load_data()
    assert bitext.dataset["deu-eng"]["test"]["sentence1"] == GERMAN
    assert bitext.dataset["eng-deu"]["test"]["sentence1"] == ENGLISH
    with pytest.raises(InputError, match="no mteb form"):
        mteb_task("geometry")


def test_mteb_scores_relate_to_mlsimcse_scores_as_documented(random_encoder, small_root, tmp_path):
    cache = EmbeddingCache(random_encoder, batch_size=4)
    ours = evaluate_tasks(random_encoder, TASKS, cache=cache)
    theirs = evaluate_with_mteb(random_encoder, TASKS, cache_dir=tmp_path / "mteb-cache", batch_size=4)
    check_protocol_relations(ours, theirs, cache, "deu", sts_tolerance=1e-6)
    assert list((tmp_path / "mteb-cache").rglob("mlsimcse.tatoeba:deu.json"))  # mteb's cache went where it was told

    document = json.loads(json.dumps(results_document(
        [ModelRun("tiny", ours, 0.0, cache.stats()), ModelRun("tiny via mteb", theirs, 0.0, {})], TASKS)))
    mine, via_mteb = ({r["task"]: r for r in run["results"]} for run in document["runs"])
    assert {r["evaluator"] for r in mine.values()} == {"mlsimcse"}
    assert {r["evaluator"] for r in via_mteb.values()} == {f"mteb {mteb.__version__}"}
    assert "cosine nearest-neighbour accuracy" in mine["tatoeba:deu"]["protocol"]
    assert "support-weighted F1" in via_mteb["tatoeba:deu"]["protocol"]
    assert via_mteb["tatoeba:deu"]["main_metric"] == "f1" and via_mteb["sts17:es-en-4a"]["main_metric"] == "spearman"
    assert mine["sts17:es-en-4a"]["data_sha256"] == via_mteb["sts17:es-en-4a"]["data_sha256"]


def test_a_saved_folder_is_scored_by_mteb_through_sentence_transformers(random_encoder, small_root, tmp_path):
    from sentence_transformers import SentenceTransformer

    random_encoder.save_pretrained(tmp_path / "model")
    task = mteb_task("sts17:es-en-4a")
    via_st = mteb.evaluate(SentenceTransformer(str(tmp_path / "model"), device="cpu"), [task], cache=None,
                           show_progress_bar=False)
    direct = mteb.evaluate(MTEBEncoder(random_encoder), [mteb_task("sts17:es-en-4a")], cache=None,
                           show_progress_bar=False)
    st_record, = mteb_task_results(via_st, [task])
    direct_score = direct.task_results[0].scores["test"][0]["cosine_spearman"]
    assert st_record.main_score == pytest.approx(100 * direct_score, abs=1e-4)


def test_averages_refuse_to_mix_evaluators(random_encoder, small_root):
    ours = evaluate_tasks(random_encoder, ["sts17:es-en-4a"])[0]
    theirs = evaluate_with_mteb(random_encoder, ["sts17:es-en-4a"])[0]
    theirs.task = "other"
    with pytest.raises(InputError, match="different evaluators"):
        average_results([ours, theirs], ["sts17:es-en-4a", "other"], name="x", title="X")


@pytest.mark.slow
def test_shared_minilm_mteb_matches_mlsimcse_eval_offline(minilm, shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    encoder = SentenceEncoder.from_pretrained(minilm)
    cache = EmbeddingCache(encoder, batch_size=64)
    ours = evaluate_tasks(encoder, TASKS, cache=cache)
    theirs = evaluate_with_mteb(encoder, TASKS, cache_dir=tmp_path / "mteb-cache")
    check_protocol_relations(ours, theirs, cache, "deu", sts_tolerance=0.01)
    by_task = {r.task: r for r in ours}
    assert by_task["tatoeba:deu"].main_score == pytest.approx(12.65, abs=0.01)  # README's figure for this model
