"""The embedding cache encodes each distinct sentence once per run and keeps rows in request order."""

from __future__ import annotations

import numpy as np
import pytest

from mlsimcse.evaluation import EmbeddingCache, evaluate_tasks


class CountingEncoder:
    """Vector of a sentence = [its length, its first character code]; records every call."""

    def __init__(self):
        self.calls: list[list[str]] = []

    def encode(self, sentences, batch_size=64, show_progress_bar=None, **kwargs):
        self.calls.append(list(sentences))
        return np.array([[len(text), ord(text[0])] for text in sentences], dtype=np.float32)


def test_each_distinct_sentence_is_encoded_once_and_rows_follow_the_request():
    encoder = CountingEncoder()
    cache = EmbeddingCache(encoder, batch_size=8, encode_kwargs={"dtype": "bfloat16"})
    cache.prefetch(["bb", "a", "bb", "ccc"])
    first = cache.embed(["ccc", "a", "a"])
    second = cache.embed(["dddd", "bb"])

    assert encoder.calls == [["bb", "a", "ccc"], ["dddd"]]
    assert first.tolist() == [[3, ord("c")], [1, ord("a")], [1, ord("a")]]
    assert second.tolist() == [[4, ord("d")], [2, ord("b")]]
    assert cache.stats() == {"sentences_referenced": 5, "sentences_encoded": 4}


def test_encoder_options_reach_the_encoder():
    seen = {}

    class RecordingEncoder(CountingEncoder):
        def encode(self, sentences, batch_size=64, show_progress_bar=None, **kwargs):
            seen.update(batch_size=batch_size, show_progress_bar=show_progress_bar, **kwargs)
            return super().encode(sentences)

    options = {"batch_size": 7, "show_progress_bar": False, "encode_kwargs": {"dtype": "bfloat16"}}
    EmbeddingCache(RecordingEncoder(), **options).embed(["x"])
    assert seen == {"batch_size": 7, "show_progress_bar": False, "dtype": "bfloat16"}


def test_wrong_shaped_encoder_output_is_caught():
    class BrokenEncoder:
        def encode(self, sentences, **kwargs):
            return np.zeros((len(sentences) + 1, 3))

    with pytest.raises(RuntimeError, match="shape"):
        EmbeddingCache(BrokenEncoder()).embed(["a", "b"])


def test_tasks_sharing_sentences_encode_them_once(tmp_path, monkeypatch):
    monkeypatch.setenv("MLSIMCSE_DATA_ROOT", str(tmp_path))
    folder = tmp_path / "stsb_multi_mt"
    folder.mkdir()
    (folder / "stsb-en-test.csv").write_text("a cat,a dog,1.0\r\nthe sun,the moon,2.5\r\nrain,snow,4.0\r\n")
    (folder / "stsb-de-test.csv").write_text(
        "eine katze,ein hund,1.0\r\ndie sonne,der mond,2.5\r\nregen,schnee,4.0\r\n"
    )
    encoder = CountingEncoder()
    cache = EmbeddingCache(encoder)
    results = evaluate_tasks(encoder, ["stsb:en", "stsb:de", "xstsb:en-de", "xstsb:de-en"], cache=cache)

    assert [result.task for result in results] == ["stsb:en", "stsb:de", "xstsb:en-de", "xstsb:de-en"]
    assert len(encoder.calls) == 1 and len(encoder.calls[0]) == 12
    assert cache.stats() == {"sentences_referenced": 24, "sentences_encoded": 12}


def test_a_cache_cannot_serve_another_encoder():
    with pytest.raises(ValueError, match="different encoder"):
        evaluate_tasks(CountingEncoder(), ["stsb:en"], cache=EmbeddingCache(CountingEncoder()))
