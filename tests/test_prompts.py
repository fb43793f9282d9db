"""Prompts as sentence-transformers has them: resolution, encode, the saved folder, training sources, evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlsimcse.cli import main
from mlsimcse.data import MixtureBatchSampler, MixtureConfig
from mlsimcse.encoder import SentenceEncoder
from mlsimcse.errors import InputError
from mlsimcse.evaluation import evaluate_tasks
from mlsimcse.evaluation.cache import EmbeddingCache
from mlsimcse.prompts import resolve_prompt
from mlsimcse.records import Example
from mlsimcse.st_layout import MLSIMCSE_CONFIG, ST_MODEL_CONFIG

SENTENCES = ["the man plays the guitar", "a dog runs in the park", "der hund spielt"]
PROMPTS = {"query": "the ", "passage": "a big "}  # words of the tiny vocabulary, so no prompt is all [UNK]


@pytest.fixture()
def prompted_encoder(tiny_bert) -> SentenceEncoder:
    encoder = SentenceEncoder.from_pretrained(tiny_bert, "mean")
    encoder.settings.prompts = dict(PROMPTS)
    return encoder


def test_resolution_follows_sentence_transformers():
    assert resolve_prompt(PROMPTS, None) == ""
    assert resolve_prompt(PROMPTS, "query") == "the "
    assert resolve_prompt(PROMPTS, "query", prompt_name="passage") == "a big "
    assert resolve_prompt(PROMPTS, "query", prompt_name="passage", prompt="car ") == "car "
    assert resolve_prompt(PROMPTS, "query", prompt="") == "", "an explicit empty prompt turns the default off"
    with pytest.raises(InputError, match="unknown prompt name 'title'.*passage, query"):
        resolve_prompt(PROMPTS, None, prompt_name="title")


def test_encode_puts_the_prompt_before_each_sentence(prompted_encoder):
    by_hand = prompted_encoder.encode(["the " + text for text in SENTENCES])
    plain = prompted_encoder.encode(SENTENCES)
    np.testing.assert_array_equal(prompted_encoder.encode(SENTENCES, prompt="the "), by_hand)
    np.testing.assert_array_equal(prompted_encoder.encode(SENTENCES, prompt_name="query"), by_hand)
    assert not np.allclose(plain, by_hand)
    prompted_encoder.settings.default_prompt_name = "query"
    np.testing.assert_array_equal(prompted_encoder.encode(SENTENCES), by_hand)
    np.testing.assert_array_equal(prompted_encoder.encode(SENTENCES, prompt=""), plain)


def test_saved_prompts_are_read_back_here_and_by_sentence_transformers(prompted_encoder, tmp_path):
    from sentence_transformers import SentenceTransformer

    prompted_encoder.settings.default_prompt_name = "passage"
    prompted_encoder.save_pretrained(tmp_path / "model")
    st_config = json.loads((tmp_path / "model" / ST_MODEL_CONFIG).read_text())
    assert st_config["prompts"] == PROMPTS and st_config["default_prompt_name"] == "passage"
    assert "prompts" not in json.loads((tmp_path / "model" / MLSIMCSE_CONFIG).read_text()), "one place on disk"

    loaded = SentenceEncoder.from_pretrained(tmp_path / "model")
    assert loaded.prompts == PROMPTS and loaded.default_prompt_name == "passage"
    reference = SentenceTransformer(str(tmp_path / "model"), device="cpu")
    for kwargs in ({}, {"prompt_name": "query"}, {"prompt": ""}):
        np.testing.assert_allclose(loaded.encode(SENTENCES, **kwargs), reference.encode(SENTENCES, **kwargs),
                                   rtol=1e-5, atol=1e-6)


def test_a_sentence_transformers_folder_brings_its_prompts(tiny_bert, tmp_path):
    folder = tmp_path / "st"
    SentenceEncoder.from_pretrained(tiny_bert, "mean").save_pretrained(folder)
    (folder / MLSIMCSE_CONFIG).unlink()  # now a plain sentence-transformers folder
    (folder / ST_MODEL_CONFIG).write_text(json.dumps({"prompts": {"query": "the ", "document": None},
                                                      "default_prompt_name": "query"}))
    encoder = SentenceEncoder.from_pretrained(folder)
    assert encoder.prompts == {"query": "the ", "document": ""}
    np.testing.assert_array_equal(encoder.encode(SENTENCES), encoder.encode(SENTENCES, prompt="the "))

    (folder / ST_MODEL_CONFIG).write_text(json.dumps({"prompts": {"query": "the "}, "default_prompt_name": "doc"}))
    with pytest.raises(InputError, match="default_prompt_name 'doc' is not one of the prompts"):
        SentenceEncoder.from_pretrained(folder)


def _pairs_file(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [Example("parallel", (f"the man {w}", f"der mann {w}"), ("en", "de"), group=str(i))
            for i, w in enumerate(["plays", "runs", "eats", "sits"])]
    path.write_text("".join(row.to_json() + "\n" for row in rows), encoding="utf-8")
    return path


def test_a_source_prompt_reaches_every_column_it_names(tmp_path):
    path = _pairs_file(tmp_path)
    config = MixtureConfig.from_dict({"sources": [{"path": str(path), "prompt": {"translation": "passage: "}}]})
    batch = MixtureBatchSampler(config, batch_size=4, seed=0).next_batch()
    assert all(ex.texts[0].startswith("the man") and ex.texts[1].startswith("passage: der mann") for ex in batch)
    everywhere = MixtureConfig.from_dict({"sources": [{"path": str(path), "prompt": "query: "}]})
    batch = MixtureBatchSampler(everywhere, batch_size=4, seed=0).next_batch()
    assert all(text.startswith("query: ") for ex in batch for text in ex.texts)


@pytest.mark.parametrize("prompt, message", [({"query": "q: "}, "unknown column"), (3, "string or a mapping"),
                                             ({"source": 1}, "must be a string")])
def test_bad_source_prompts_are_config_errors(tmp_path, prompt, message):
    with pytest.raises(InputError, match=message):
        MixtureConfig.from_dict({"sources": [{"path": str(_pairs_file(tmp_path)), "prompt": prompt}]})


def test_training_encodes_the_prompted_texts(tmp_path, tiny_bert, monkeypatch):
    from mlsimcse.config import load_config
    from mlsimcse.training import loop
    from mlsimcse.training.batches import BatchTokenizer

    seen = []
    tokenize = BatchTokenizer.__call__

    def spy(self, examples):
        batch = tokenize(self, examples)
        seen.extend(text for column in batch.columns for text in column)
        return batch

    monkeypatch.setattr(BatchTokenizer, "__call__", spy)
    source = f"{{path: {_pairs_file(tmp_path)}, prompt: {{source: 'the '}}}}"
    config = load_config(None, [f"output_dir={tmp_path / 'run'}", f"model.name_or_path={tiny_bert}",
                                "batch_size=4", "max_steps=1", "eval_task=null", f"data.sources=[{source}]"])
    loop.train(config)
    assert seen and all(text.startswith(("the the man", "der mann")) for text in seen)


def _parallel_files(tmp_path, prefix=""):
    src, tgt = tmp_path / f"{prefix}src.txt", tmp_path / f"{prefix}tgt.txt"
    src.write_text("".join(f"{prefix}{s}\n" for s in ["der hund", "die katze", "der mann", "die frau"]))
    tgt.write_text("".join(f"{prefix}{s}\n" for s in ["the dog", "the cat", "the man", "the woman"]))
    return f"parallel:{src},{tgt}"


def test_evaluation_applies_and_records_the_prompt(prompted_encoder, tmp_path):
    task = _parallel_files(tmp_path)
    prompted = evaluate_tasks(prompted_encoder, [task], prompt_name="passage")
    by_hand = evaluate_tasks(prompted_encoder, [_parallel_files(tmp_path, prefix="a big ")])
    assert [r.prompt for r in prompted] == ["a big "] and [r.prompt for r in by_hand] == [""]
    assert prompted[0].scores == by_hand[0].scores
    prompted_encoder.settings.default_prompt_name = "query"
    assert evaluate_tasks(prompted_encoder, [task])[0].prompt == "the ", "the model's default is recorded"
    cache = EmbeddingCache(prompted_encoder, prompt="")
    with pytest.raises(ValueError, match="another prompt"):
        evaluate_tasks(prompted_encoder, [task], cache=cache, prompt="the ")


def test_an_encoder_without_prompts_gets_only_a_prompt_it_was_asked_for():
    class Plain:
        def __init__(self):
            self.calls = []

        def encode(self, sentences, *, batch_size, show_progress_bar, **kwargs):
            self.calls.append(kwargs)
            return np.ones((len(sentences), 2))

    plain = Plain()
    EmbeddingCache(plain).prefetch(["a"])
    EmbeddingCache(plain, prompt="query: ").prefetch(["a"])
    assert plain.calls == [{}, {"prompt": "query: "}]


def test_eval_command_takes_a_prompt_and_writes_it_in_every_result(tiny_bert, tmp_path):
    output = tmp_path / "results.json"
    task = _parallel_files(tmp_path)
    assert main(["eval", str(tiny_bert), "--tasks", task, "--prompt", "the ", "--output", str(output)]) == 0
    (run,) = json.loads(output.read_text())["runs"]
    assert run["results"] and all(result["prompt"] == "the " for result in run["results"])
    assert main(["eval", str(tiny_bert), "--tasks", task, "--prompt-name", "query",
                 "--output", str(tmp_path / "other.json")]) == 2, "a plain BERT has no prompt called query"
