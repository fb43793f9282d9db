"""The held-out tasks on tiny synthetic data: NTREX-128 news retrieval and the UN testset mining benchmark."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mlsimcse.errors import InputError
from mlsimcse.evaluation import EmbeddingCache, build_task, load_tasks, resolve_tasks, score_loaded
from mlsimcse.evaluation.aggregates import aggregate_results
from mlsimcse.evaluation.languages import NEWS_XNLI_14, TATOEBA_XNLI_14, UN_BUCC_5
from mlsimcse.evaluation.loaders.ntrex import NTREX_CODES
from mlsimcse.evaluation.results import TaskResult
from mlsimcse.evaluation.un_bucc import UN_BUCC_REPORT, UN_BUCC_TUNE

GERMAN = ["Der Hund schläft.", "Die Katze spielt.", "Es regnet."]
ENGLISH = ["The dog sleeps.", "The cat plays.", "It rains."]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture()
def data_root(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("MLSIMCSE_DATA_ROOT", str(root))
    monkeypatch.setenv("MLSIMCSE_CACHE_DIR", str(tmp_path / "cache"))
    return root


def fixed_encoder(vectors: dict[str, np.ndarray]) -> SimpleNamespace:
    return SimpleNamespace(encode=lambda sentences, **options: np.stack([vectors[text] for text in sentences]))


def score(task_names: list[str], vectors: dict[str, np.ndarray]) -> list[TaskResult]:
    return score_loaded(load_tasks(resolve_tasks(task_names)), EmbeddingCache(fixed_encoder(vectors)))


def test_news_reads_the_ntrex_files_and_an_alias_names_the_same_task(data_root):
    write_lines(data_root / "ntrex128" / "newstest2019-ref.deu.txt", GERMAN)
    write_lines(data_root / "ntrex128" / "newstest2019-ref.eng-US.txt", ENGLISH)
    tasks = resolve_tasks(["news:de", "news:deu"])
    assert [task.name for task in tasks] == ["news:deu"]
    assert "NTREX-128 newstest2019" in tasks[0].protocol and "1,997 sentences, both directions" in tasks[0].protocol
    data = tasks[0].load()
    assert (data.sources, data.targets) == (GERMAN, ENGLISH)
    assert build_task("news:zh").name == build_task("news:cmn").name == "news:zho_Hans"


def test_news_scores_retrieval_in_both_directions(data_root):
    write_lines(data_root / "ntrex128" / "newstest2019-ref.deu.txt", GERMAN)
    write_lines(data_root / "ntrex128" / "newstest2019-ref.eng-US.txt", ENGLISH)
    axes = np.eye(3, dtype=np.float32)
    vectors = {**dict(zip(ENGLISH, axes)), **dict(zip(GERMAN, axes))}
    vectors[GERMAN[2]] = axes[1] + 0.1 * axes[2]  # "Es regnet." lands nearest "The cat plays."
    (result,) = score(["news:deu"], vectors)
    assert result.scores["xx2en"] == pytest.approx(200 / 3)  # 2 of 3 German queries find their English
    assert result.scores["en2xx"] == pytest.approx(100)  # every English query still finds its German best
    assert result.main_score == pytest.approx(250 / 3)


def test_news_language_names_and_missing_files(data_root, monkeypatch):
    with pytest.raises(InputError, match="unknown NTREX-128 language 'xx'; choose one of arb ben"):
        resolve_tasks(["news:xx"])
    with pytest.raises(InputError, match=r"newstest2019-ref\.deu\.txt: not in the data root and not loadable"):
        build_task("news:deu").load()
    import datasets

    calls = []

    def fake_load_dataset(name, config, split):
        calls.append((name, config, split))
        return datasets.Dataset.from_dict({"deu_Latn": GERMAN, "eng_Latn": ENGLISH, "fra_Latn": ["x", "y", "z"]})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    data = build_task("news:deu").load()
    assert calls == [("mteb/NTREX", None, "test")]
    assert (data.sources, data.targets, data.origin.hub) == (GERMAN, ENGLISH, "hf://mteb/NTREX:test")


def test_heldout_suite_is_news_in_the_xnli_languages_and_un_mining():
    names = [task.name for task in resolve_tasks("heldout")]
    assert names == [f"news:{code}" for code in NEWS_XNLI_14] + [f"un-bucc:{code}" for code in UN_BUCC_5]
    # The same 14 languages as Tatoeba-14, so the two averages compare one domain with another.
    assert [NTREX_CODES[code].code for code in TATOEBA_XNLI_14] == list(NEWS_XNLI_14)
    with pytest.raises(InputError, match="unknown UN language 'de'"):
        resolve_tasks(["un-bucc:de"])


def test_news_average_needs_all_14_languages():
    results = [TaskResult(f"news:{code}", "p", float(i), {"mean": float(i)}, data_sha256=code, main_metric="mean")
               for i, code in enumerate(NEWS_XNLI_14)]
    (average,) = aggregate_results(results)
    assert (average.task, average.details["title"], average.main_score) == ("news-xnli14-avg", "News-14 avg", 6.5)
    assert aggregate_results(results[1:]) == []


def write_un_testset(root: Path, rows: int = 2100) -> tuple[Path, Path]:
    folder = root / "un_parallel_v1" / "testset"
    arabic = write_lines(folder / "UNv1.0.testset.ar", [f"ar row {i}" for i in range(rows)])
    english = write_lines(folder / "UNv1.0.testset.en", [f"en row {i}" for i in range(rows)])
    return arabic, english


def planted_vectors(rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Row i's two sides share a random direction (plus a little noise); rows differ."""
    rng = np.random.default_rng(seed)
    vectors = {}
    for i in range(rows):
        base = rng.standard_normal(48)
        vectors[f"ar row {i}"] = base + 0.2 * rng.standard_normal(48)
        vectors[f"en row {i}"] = base + 0.2 * rng.standard_normal(48)
    return vectors


def test_un_bucc_builds_its_benchmark_once_in_the_cache_and_scores_it(data_root, tmp_path, monkeypatch):
    arabic, _ = write_un_testset(data_root)
    before = sorted(path.relative_to(data_root) for path in data_root.rglob("*"))
    (result,) = score(["un-bucc:ar"], planted_vectors(2100))
    assert "UN v1.0 testset mining ar->en" in result.protocol and "seed 0" in result.protocol
    assert result.details["gold_pairs"] == UN_BUCC_REPORT.gold_pairs == 300
    assert result.details["source_sentences"] == result.details["target_sentences"] == 300 + 600
    assert result.scores["f1"] > 95
    assert sorted(path.relative_to(data_root) for path in data_root.rglob("*")) == before, "wrote in the data root"
    (folder,) = (tmp_path / "cache" / "bucc-un").glob("*/ar-en")
    assert {path.name for path in folder.iterdir()} >= {"ar-en.dev.gold", "ar-en.test.gold", "manifest.json"}
    assert len((folder / "ar-en.dev.gold").read_text().splitlines()) == UN_BUCC_TUNE.gold_pairs

    import mlsimcse.evaluation.un_bucc as un_bucc

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the cached benchmark was built again")

    with monkeypatch.context() as patch:
        patch.setattr(un_bucc, "build_bucc_benchmark", no_rebuild)
        assert build_task("un-bucc:ar").load().report.gold == load_tasks([build_task("un-bucc:ar")])[0].data.report.gold
    write_lines(arabic, [f"ar row {i}" for i in range(2099)] + ["ar row changed"])
    build_task("un-bucc:ar").load()
    assert len(list((tmp_path / "cache" / "bucc-un").glob("*/ar-en"))) == 2, "a changed input builds a new folder"


def test_un_bucc_without_the_testset_or_with_too_few_rows(data_root):
    with pytest.raises(InputError, match=r"UNv1\.0\.testset\.es: UN v1\.0 testset file not found"):
        build_task("un-bucc:es").load()
    write_un_testset(data_root, rows=1000)
    with pytest.raises(InputError, match="the splits need 2000 distinct rows but the corpus has only 1000"):
        build_task("un-bucc:ar").load()
