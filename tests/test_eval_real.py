"""The loaders on the real shared data, and the shared MiniLM's published numbers through the whole pipeline."""

from __future__ import annotations

import json

import pytest

from mlsimcse.evaluation import build_task, evaluate_tasks
from mlsimcse.evaluation.languages import STSB_NON_ENGLISH_10
from mlsimcse.evaluation.loaders.sts17 import STS17_TRACKS


MINING_F1_FLOOR = 30.0
"""Well above chance (about 0) and below what the English-only MiniLM reaches on this cut."""


def shared_sums(shared_data) -> dict[str, str]:
    lines = (shared_data / "SHA256SUMS").read_text().splitlines()
    return {name.lstrip("*./"): digest for digest, name in (line.split(maxsplit=1) for line in lines)}


@pytest.mark.parametrize("split, rows", [("test", 1379), ("dev", 1500)])
def test_every_stsb_language_reads_its_rows_and_cross_lingual_rows_align(shared_data, split, rows):
    english = build_task(f"stsb{'-dev' if split == 'dev' else ''}:en").load()
    assert len(english.gold) == rows
    assert english.origin.sha256 == shared_sums(shared_data)[f"stsb_multi_mt/stsb-en-{split}.csv"]
    for language in STSB_NON_ENGLISH_10:
        pairs = build_task(f"xstsb{'-dev' if split == 'dev' else ''}:en-{language}").load()
        assert pairs.sentences1 == english.sentences1 and (pairs.gold == english.gold).all()


def test_sts17_tracks_read_250_scored_pairs_each(shared_data):
    for track in STS17_TRACKS:
        pairs = build_task(f"sts17:{track}").load()
        assert len(pairs.gold) == 250, track
    assert build_task("sts17:tr-en").load().notes == {"unscored_input_lines_ignored": 250}


@pytest.mark.parametrize(
    "task, scored, missing",
    [("sts12", 3108 - 750, ["MSRvid"]), ("sts13", 1500, None), ("sts14", 3750, None), ("sts15", 3000, None),
     ("sts16", 1186, None), ("sickr", 4927, None), ("sickr-dev", 5000, None)],
)
def test_senteval_sets_have_senteval_row_counts(shared_data, task, scored, missing):
    pairs = build_task(task).load()
    assert len(pairs.gold) == scored
    assert pairs.notes.get("missing_subsets") == missing


def test_tatoeba_sides_are_parallel(shared_data):
    assert len(build_task("tatoeba:deu").load().sources) == 1000
    assert len(build_task("tatoeba:swh").load().targets) == 390


@pytest.mark.slow
def test_minilm_english_stsb_test_spearman_is_the_published_figure(minilm, shared_data):
    from mlsimcse.encoder import SentenceEncoder

    encoder = SentenceEncoder.from_pretrained(minilm, pooling="mean")
    (result,) = evaluate_tasks(encoder, ["stsb:en"], batch_size=128)
    assert result.main_score == pytest.approx(82.03, abs=0.05)


@pytest.mark.slow
def test_minilm_mines_un_pairs_hidden_among_distractors(minilm, shared_data, tmp_path):
    """A small cut of the README's benchmark (1000 UN pairs among 5000 distractors), through both commands."""
    from mlsimcse.cli import main

    un = shared_data / "un_parallel_v1" / "devset"
    folder = tmp_path / "es-en"
    build = ["make-bucc", "--src", str(un / "UNv1.0.devset.es"), "--tgt", str(un / "UNv1.0.devset.en"),
             "--out", str(folder), "--split", "sample=40:160", "training=100:400"]
    assert main(build) == 0
    output = tmp_path / "bucc.json"
    assert main(["eval", str(minilm), "--pooling", "mean", "--tasks", f"bucc:{folder}", "--output", str(output)]) == 0
    (result,) = json.loads(output.read_text())["runs"][0]["results"]
    assert result["details"]["gold_pairs"] == 100 and "applied to split 'training'" in result["protocol"]
    assert result["scores"]["f1"] > MINING_F1_FLOOR
    assert result["scores"]["oracle_f1"] >= result["scores"]["f1"]
