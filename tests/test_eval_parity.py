"""Metric parity on fixed embeddings: sentence-transformers' evaluators, hand computation, brute force."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sentence_transformers.sentence_transformer.evaluation import (
    EmbeddingSimilarityEvaluator,
    TranslationEvaluator,
)

from mlsimcse.evaluation import EmbeddingCache, build_task, load_tasks, score_loaded
from mlsimcse.evaluation.loaders.origin import DataOrigin
from mlsimcse.evaluation.loaders.parallel import ParallelSet
from mlsimcse.evaluation.loaders.sts_pairs import STSPairs
from mlsimcse.evaluation.tasks.retrieval import TranslationRetrievalTask
from mlsimcse.evaluation.tasks.sts import STSTask


class DictEncoder:
    """An encoder whose embedding of each text is fixed in advance."""

    def __init__(self, vectors: dict[str, np.ndarray]):
        self.vectors = vectors

    def encode(self, sentences, batch_size=64, show_progress_bar=None, **kwargs):
        return np.stack([self.vectors[text] for text in sentences]).astype(np.float32)


class DictSentenceTransformer:
    """The slice of SentenceTransformer that its evaluators call, over the same fixed vectors."""

    similarity_fn_name = "cosine"
    model_card_data = SimpleNamespace(set_evaluation_metrics=lambda *args, **kwargs: None)

    def __init__(self, encoder: DictEncoder):
        self.encoder = encoder

    def encode(self, sentences, convert_to_numpy=True, **kwargs):
        vectors = self.encoder.encode(list(sentences))
        return vectors if convert_to_numpy else list(torch.from_numpy(vectors))


def evaluate(task, encoder):
    return score_loaded(load_tasks([task]), EmbeddingCache(encoder))[0]


def sts_fixture(seed: int = 0, pairs: int = 300, dim: int = 24):
    rng = np.random.default_rng(seed)
    first = [f"first sentence {i}" for i in range(pairs)]
    second = [f"second sentence {i % 250}" for i in range(pairs)]  # repeated sentences, as in real sets
    gold = np.round(rng.uniform(0, 5, pairs) * 5) / 5  # 0.2 steps: many ties, as in STS gold
    vectors = {text: rng.standard_normal(dim) for text in first + second}
    for i in range(pairs):  # make similarity follow the gold loosely
        vectors[first[i]] = vectors[second[i]] + rng.standard_normal(dim) * (5.5 - gold[i])
    return first, second, gold, DictEncoder(vectors)


def test_sts_spearman_and_pearson_equal_sentence_transformers():
    first, second, gold, encoder = sts_fixture()
    pairs = STSPairs(first, second, gold, DataOrigin(sha256="fixture"))
    ours = evaluate(STSTask("fixture", "protocol", lambda: pairs), encoder)

    reference = EmbeddingSimilarityEvaluator(first, second, gold.tolist(), main_similarity="cosine", write_csv=False)
    theirs = reference(DictSentenceTransformer(encoder))

    assert ours.main_metric == "spearman"
    assert ours.scores["spearman"] == pytest.approx(100 * theirs["spearman_cosine"], abs=1e-9)
    assert ours.scores["pearson"] == pytest.approx(100 * theirs["pearson_cosine"], abs=1e-5)
    assert 20 < ours.main_score < 95  # the fixture is informative, not degenerate


def test_tatoeba_accuracy_equals_translation_evaluator_including_duplicate_texts():
    rng = np.random.default_rng(1)
    count, dim = 200, 16
    sources = [f"source {i}" for i in range(count)]
    targets = [f"target {i}" if i % 17 else "the same short sentence" for i in range(count)]
    vectors: dict[str, np.ndarray] = {}
    for source, target in zip(sources, targets):
        base = vectors.setdefault(target, rng.standard_normal(dim))
        vectors[source] = base + rng.standard_normal(dim) * 0.9
    encoder = DictEncoder(vectors)
    parallel = ParallelSet(sources, targets, DataOrigin(sha256="fixture"))
    task = TranslationRetrievalTask("fixture", "protocol", lambda: parallel, source_label="xx", target_label="en")
    ours = evaluate(task, encoder)

    reference = TranslationEvaluator(sources, targets, write_csv=False)
    theirs = reference(DictSentenceTransformer(encoder))

    assert ours.scores["xx2en"] == pytest.approx(100 * theirs["src2trg_accuracy"])
    assert ours.scores["en2xx"] == pytest.approx(100 * theirs["trg2src_accuracy"])
    assert ours.main_score == pytest.approx(100 * theirs["mean_accuracy"])
    assert 10 < ours.scores["xx2en"] < 100


POOLED_ROWS = {  # subset -> rows of (gold or "" when unscored, cosine); SentEval STS13's three subsets
    "FNWN": [("4.0", 0.9), ("", 0.7), ("1.0", 0.5)],
    "headlines": [("3.0", 0.2), ("2.0", 0.6)],
    "OnWN": [("0.5", 0.1), ("5.0", 0.8), ("", 0.05), ("2.5", 0.3)],
}


def write_pooled_fixture(root: Path) -> DictEncoder:
    """STS13 files whose pair cosines are set exactly by 2-D unit vectors at the given angles."""
    folder = root / "semeval_sts_en_2012-2016" / "2013"
    folder.mkdir(parents=True)
    vectors = {}
    for subset, rows in POOLED_ROWS.items():
        lines = []
        for row, (gold, cosine) in enumerate(rows):
            first, second = f"{subset}  left   {row}", f"{subset} right {row} "
            lines.append(f"{gold}\t{first}\t{second}\n")
            vectors[" ".join(first.split())] = np.array([1.0, 0.0])
            vectors[" ".join(second.split())] = np.array([cosine, np.sqrt(1 - cosine**2)])
        (folder / f"{subset}.test.tsv").write_text("".join(lines), encoding="utf-8")
    return DictEncoder(vectors)


def test_senteval_all_aggregation_equals_hand_computation(tmp_path, monkeypatch):
    monkeypatch.setenv("MLSIMCSE_DATA_ROOT", str(tmp_path))
    encoder = write_pooled_fixture(tmp_path)
    result = evaluate(build_task("sts13"), encoder)

    # Scored rows pooled in subset order: gold 4, 1, 3, 2, 0.5, 5, 2.5 and cosine .9 .5 .2 .6 .1 .8 .3.
    gold_ranks = [6, 2, 5, 3, 1, 7, 4]
    cosine_ranks = [7, 4, 2, 5, 1, 6, 3]
    squared = sum((g - c) ** 2 for g, c in zip(gold_ranks, cosine_ranks))
    assert squared == 20
    n = 7
    hand_spearman = 1 - 6 * squared / (n * (n * n - 1))  # = 9/14, no ties

    assert result.main_score == pytest.approx(100 * hand_spearman)
    assert result.details["pairs"] == 7
    assert result.details["unscored_rows_dropped"] == 2
    per_subset = {name: values["spearman"] for name, values in result.details["subsets"].items()}
    assert per_subset == pytest.approx({"FNWN": 100.0, "headlines": -100.0, "OnWN": 100.0})
    # the pooled "all" number is not the mean of the subsets (which would be 33.3)
    assert result.main_score != pytest.approx(np.mean(list(per_subset.values())))
