"""BUCC margin mining: the evaluator equals a brute-force reference written here, on a planted-pair fixture."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mlsimcse.errors import InputError
from mlsimcse.evaluation import EmbeddingCache, build_task, load_tasks, score_loaded
from mlsimcse.evaluation.evaluators.bitext import distinct_sentences, mine_id_candidates
from mlsimcse.evaluation.loaders.bucc import read_bucc_split

K = 4


def fixed_encoder(vectors: dict[str, np.ndarray]) -> SimpleNamespace:
    """An encoder whose embedding of each text is set in ``vectors``."""
    return SimpleNamespace(encode=lambda sentences, **options: np.stack([vectors[text] for text in sentences]))


def write_split(folder: Path, split: str, seed: int, vectors: dict[str, np.ndarray], gold_pairs=20, distractors=15):
    """Planted pairs (shared base vector plus noise) among random distractors on both sides.

    One gold target text is repeated under a second id that is not gold, so id expansion is exercised.
    """
    rng = np.random.default_rng(seed)
    dim = 32
    source_lines, target_lines, gold_lines = [], [], []
    for i in range(gold_pairs):
        base = rng.standard_normal(dim)
        source, target = f"{split} de gold {i}", f"{split} en gold {i}"
        vectors[source] = base + 0.15 * rng.standard_normal(dim)
        vectors[target] = base + 0.15 * rng.standard_normal(dim)
        source_lines.append(f"de-{split}-{i}\t{source}")
        target_lines.append(f"en-{split}-{i}\t{target}")
        gold_lines.append(f"de-{split}-{i}\ten-{split}-{i}")
    target_lines.append(f"en-{split}-copy\t{split} en gold 0")
    for i in range(distractors):
        for side, lines in (("de", source_lines), ("en", target_lines)):
            text = f"{split} {side} distractor {i}"
            vectors[text] = rng.standard_normal(dim)
            lines.append(f"{side}-{split}-d{i}\t{text}")
    rng.shuffle(source_lines)
    rng.shuffle(target_lines)
    for suffix, lines in (("de", source_lines), ("en", target_lines), ("gold", gold_lines)):
        (folder / f"de-en.{split}.{suffix}").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture()
def bucc_folder(tmp_path):
    folder = tmp_path / "de-en"
    folder.mkdir()
    vectors: dict[str, np.ndarray] = {}
    write_split(folder, "sample", 3, vectors)
    write_split(folder, "training", 4, vectors)
    return folder, fixed_encoder(vectors)


def brute_force_mining(source: np.ndarray, target: np.ndarray, k: int = K):
    """Ratio margin over the full cosine matrix, best-margin of each side's k nearest, union, greedy 1:1."""
    source = source / np.linalg.norm(source, axis=1, keepdims=True)
    target = target / np.linalg.norm(target, axis=1, keepdims=True)
    cosine = source @ target.T
    source_knn = np.sort(cosine, axis=1)[:, -k:].mean(axis=1)
    target_knn = np.sort(cosine, axis=0)[-k:, :].mean(axis=0)
    margin = cosine / ((source_knn[:, None] + target_knn[None, :]) / 2)
    candidates = {}
    for i in range(len(source)):
        neighbours = np.argsort(-cosine[i])[:k]
        j = max(neighbours, key=lambda col: margin[i, col])
        candidates[(i, j)] = margin[i, j]
    for j in range(len(target)):
        neighbours = np.argsort(-cosine[:, j])[:k]
        i = max(neighbours, key=lambda row: margin[row, j])
        candidates[(i, j)] = margin[i, j]
    kept, used_source, used_target = [], set(), set()
    for (i, j), score in sorted(candidates.items(), key=lambda item: -item[1]):
        if i not in used_source and j not in used_target:
            used_source.add(i)
            used_target.add(j)
            kept.append((i, j, score))
    return kept


def brute_force_ids(split, encoder):
    source = distinct_sentences(split.source_ids, split.source_sentences)
    target = distinct_sentences(split.target_ids, split.target_sentences)
    mined = brute_force_mining(encoder.encode(source.texts), encoder.encode(target.texts))
    return {
        (source_id, target_id): score
        for i, j, score in mined
        for source_id in source.ids_of_text[i]
        for target_id in target.ids_of_text[j]
    }


def brute_force_f1(scored: dict, gold: frozenset, threshold: float):
    predicted = {pair for pair, score in scored.items() if score >= threshold}
    correct = len(predicted & gold)
    precision, recall = correct / len(predicted), correct / len(gold)
    return 2 * precision * recall / (precision + recall)


def brute_force_best_threshold(scored: dict, gold: frozenset) -> float:
    """The candidate score whose '>= score' selection has the best F1 (highest such score on ties)."""
    return max(sorted(set(scored.values()), reverse=True), key=lambda t: brute_force_f1(scored, gold, t))


def test_mined_pairs_and_scores_equal_brute_force(bucc_folder):
    folder, encoder = bucc_folder
    split = read_bucc_split(folder, "training")
    source = distinct_sentences(split.source_ids, split.source_sentences)
    target = distinct_sentences(split.target_ids, split.target_sentences)
    ours = mine_id_candidates(source, target, encoder.encode(source.texts), encoder.encode(target.texts), split.gold)
    reference = brute_force_ids(split, encoder)

    assert set(ours.pairs) == set(reference)
    assert ours.scores == pytest.approx([reference[pair] for pair in ours.pairs], rel=1e-5)
    assert list(ours.scores) == sorted(ours.scores, reverse=True)
    assert ours.correct.tolist() == [pair in split.gold for pair in ours.pairs]


def test_bucc_f1_with_threshold_from_another_split_equals_brute_force(bucc_folder):
    folder, encoder = bucc_folder
    result = score_loaded(load_tasks([build_task(f"bucc:{folder}:sample:training")]), EmbeddingCache(encoder))[0]

    tune, report = read_bucc_split(folder, "sample"), read_bucc_split(folder, "training")
    threshold = brute_force_best_threshold(brute_force_ids(tune, encoder), tune.gold)
    reported = brute_force_ids(report, encoder)
    expected_f1 = brute_force_f1(reported, report.gold, threshold)

    assert result.main_metric == "f1"
    assert result.main_score == pytest.approx(100 * expected_f1)
    assert "applied to split 'training'" in result.protocol and "oracle" not in result.protocol
    assert result.scores["recall"] == pytest.approx(100.0)  # the planted pairs stand out
    oracle = brute_force_f1(reported, report.gold, brute_force_best_threshold(reported, report.gold))
    assert result.scores["oracle_f1"] == pytest.approx(100 * oracle)


def test_same_split_is_labelled_oracle_and_hits_the_known_answer(bucc_folder):
    folder, encoder = bucc_folder
    result = score_loaded(load_tasks([build_task(f"bucc:{folder}:training:training")]), EmbeddingCache(encoder))[0]
    assert "oracle threshold" in result.protocol
    assert result.scores["f1"] == pytest.approx(result.scores["oracle_f1"])
    # known answer: all 20 planted pairs, plus the gold text's copy under a non-gold id (same text, same score)
    assert result.scores["precision"] == pytest.approx(100 * 20 / 21)
    assert result.scores["recall"] == pytest.approx(100.0)
    assert result.details["candidates"] >= 21


def test_gold_naming_an_unknown_id_is_an_input_error(bucc_folder):
    folder, _ = bucc_folder
    with (folder / "de-en.sample.gold").open("a", encoding="utf-8") as handle:
        handle.write("de-sample-404\ten-sample-0\n")
    with pytest.raises(InputError, match=r"de-en\.sample\.gold:21: gold names source id 'de-sample-404'"):
        read_bucc_split(folder, "sample")


def test_sentence_line_without_id_is_an_input_error(bucc_folder):
    folder, _ = bucc_folder
    with (folder / "de-en.sample.en").open("a", encoding="utf-8") as handle:
        handle.write("a line with no id\n")
    with pytest.raises(InputError, match="expected 2 tab-separated fields"):
        read_bucc_split(folder, "sample")
