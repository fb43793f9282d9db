"""make-bucc hides gold pairs among same-corpus distractors in the BUCC layout the BUCC task reads."""

from __future__ import annotations

import pytest

from mlsimcse.errors import InputError
from mlsimcse.evaluation.bucc_builder import SplitSize, build_bucc_benchmark, parse_split_size
from mlsimcse.evaluation.loaders.bucc import read_bucc_split


@pytest.fixture()
def corpus(tmp_path):
    rows = [(f"phrase {i}", f"sentence {i}") for i in range(60)]
    rows[7] = ("phrase 3", "sentence 7")  # repeats a source text: must be skipped
    source = tmp_path / "corpus.fr"
    target = tmp_path / "corpus.en"
    source.write_text("".join(f"{s}\n" for s, _ in rows), encoding="utf-8")
    target.write_text("".join(f"{t}\n" for _, t in rows), encoding="utf-8")
    return source, target


def test_splits_hold_the_gold_pairs_and_disjoint_distractors(corpus, tmp_path):
    source, target = corpus
    folder = tmp_path / "bench" / "fr-en"
    splits = [parse_split_size("sample=5:10"), parse_split_size("training=10:21")]
    manifest = build_bucc_benchmark([source], [target], folder, splits, seed=3)

    assert manifest["usable_rows"] == 59 and manifest["rows_skipped"] == {"repeated_text": 1, "tab_in_text": 0}
    row_of = {f"phrase {i}": i for i in range(60)} | {f"sentence {i}": i for i in range(60)}
    seen_rows = set()
    for split, (gold_count, distractors) in (("sample", (5, 10)), ("training", (10, 21))):
        data = read_bucc_split(folder, split)
        assert len(data.gold) == gold_count
        assert len(data.source_ids) == gold_count + (distractors + 1) // 2
        assert len(data.target_ids) == gold_count + distractors // 2
        text_of = dict(zip(data.source_ids, data.source_sentences)) | dict(zip(data.target_ids, data.target_sentences))
        for source_id, target_id in data.gold:  # gold ids point at translations of each other
            assert row_of[text_of[source_id]] == row_of[text_of[target_id]]
        gold_rows = {row_of[text_of[source_id]] for source_id, _ in data.gold}
        source_rows = {row_of[text] for text in data.source_sentences}
        target_rows = {row_of[text] for text in data.target_sentences}
        assert source_rows & target_rows == gold_rows  # distractors have no translation on the other side
        assert not (source_rows | target_rows) & seen_rows  # splits are disjoint
        seen_rows |= source_rows | target_rows


def test_same_seed_same_benchmark(corpus, tmp_path):
    source, target = corpus
    splits = [SplitSize("sample", 4, 6)]
    build_bucc_benchmark([source], [target], tmp_path / "a" / "fr-en", splits, seed=1)
    build_bucc_benchmark([source], [target], tmp_path / "b" / "fr-en", splits, seed=1)
    for suffix in ("fr", "en", "gold"):
        name = f"fr-en/fr-en.sample.{suffix}"
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()


def test_bad_requests_are_input_errors(corpus, tmp_path):
    source, target = corpus
    with pytest.raises(InputError, match="NAME=GOLD_PAIRS:DISTRACTORS"):
        parse_split_size("training=1000")
    with pytest.raises(InputError, match="need 100 distinct rows but the corpus has only 59"):
        build_bucc_benchmark([source], [target], tmp_path / "fr-en", [SplitSize("s", 50, 50)])
    with pytest.raises(InputError, match="named SRC-TGT"):
        build_bucc_benchmark([source], [target], tmp_path / "french", [SplitSize("s", 5, 5)])
    existing = tmp_path / "old" / "fr-en"
    existing.mkdir(parents=True)
    (existing / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        build_bucc_benchmark([source], [target], existing, [SplitSize("s", 5, 5)])
    assert (existing / "keep.txt").exists()
