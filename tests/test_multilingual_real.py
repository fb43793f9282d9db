"""The real multilingual encoder (the shared multilingual-e5-small, XLM-R's 250k SentencePiece vocabulary) end to end.

What the English MiniLM cannot exercise: every script of the shared data through one tokenizer, a 250k-row
embedding matrix, and prompts. Runs are tiny (batches of 8, 24 tokens, a few steps, the word-embedding matrix
frozen where it does not matter) so the whole file stays within a few CPU minutes.
"""

from __future__ import annotations

import collections
import csv
import itertools
import json
import os
import signal
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from safetensors.torch import load_file

from mlsimcse.config import LossConfig, ModelConfig, TrainConfig, load_config, save_config
from mlsimcse.data import MixtureConfig, SourceSpec
from mlsimcse.encoder import SentenceEncoder
from mlsimcse.records import Example
from mlsimcse.training import loop
from mlsimcse.training.objectives import ObjectiveLosses
from mlsimcse.training.step import StepShape, TrainingStep

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]  # conftest.py: tiny batches, one thread

MODEL = "shared:multilingual-e5-small"  # how configs name it: the shared copy here, the Hub name elsewhere
BATCH = 8
MAX_UNKNOWN_SHARE = 0.02
"""Unknown pieces per script, at most. Measured on the first 300 lines of every LASER Tatoeba file, XNLI dev and
KorSTS dev: Han 1.1 % (rare characters in Wu and Cantonese), Cyrillic 0.4 % (Old Russian, Mari letters), Arabic
0.14 %, Latin 0.08 %, Hangul 0.02 %, 13 other scripts 0."""
UNCOVERED_SCRIPTS = {"JAVANESE"}
"""Scripts XLM-R's vocabulary lacks: the five Tatoeba jav lines in Aksara Jawa (the rest are Latin) are one
unknown piece per word. A known gap of the model, checked so it is noticed if it ever changes."""
SCRIPT_NAMES = {"HIRAGANA": "KANA", "KATAKANA": "KANA", "CJK": "HAN"}
PAIR_DIRS = ("ara-eng", "deu-eng", "eng-jpn", "eng-kor", "eng-rus", "eng-zho", "eng-tur", "eng-spa")


def _lines(path: Path, count: int) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [line.strip() for _, line in zip(range(count), handle) if line.strip()]


def _script(text: str) -> str:
    """The Unicode script most of a text's letters belong to (the first word of their character names)."""
    counts = collections.Counter(unicodedata.name(ch, "UNKNOWN").split()[0] for ch in text if ch.isalpha())
    script = counts.most_common(1)[0][0]
    return SCRIPT_NAMES.get(script, script)


def _script_samples(data: Path) -> dict[str, list[str]]:
    """Real sentences by script: every LASER Tatoeba language, XNLI dev and KorSTS dev."""
    files = [p for p in sorted((data / "tatoeba_laser").glob("tatoeba.*-eng.*")) if not p.name.endswith(".eng")]
    files += sorted((data / "xnli").glob("dev-*.tsv")) + [data / "kornlu" / "KorSTS" / "sts-dev.tsv"]
    samples: dict[str, list[str]] = collections.defaultdict(list)
    for path in files:
        lines = _lines(path, 300)
        if path.suffix == ".tsv":
            lines = [line.split("\t")[-1] for line in lines[1:]]
        for line in lines:
            if any(ch.isalpha() for ch in line):
                samples[_script(line)].append(line)
    return samples


def test_every_script_of_the_shared_data_tokenises_without_unknown_storms(multilingual_e5, shared_data):
    encoder = SentenceEncoder.from_pretrained(MODEL)
    tokenizer, unknown_id = encoder.tokenizer, encoder.tokenizer.unk_token_id
    rows = []
    for script, lines in sorted(_script_samples(shared_data).items()):
        ids = tokenizer(lines, add_special_tokens=False)["input_ids"]
        pieces = sum(len(row) for row in ids)
        unknown = sum(piece == unknown_id for row in ids for piece in row)
        rows.append((script, len(lines), pieces, unknown, unknown / pieces))
    print("\nscript        sentences   pieces  unknown   share")
    for script, sentences, pieces, unknown, share in rows:
        print(f"{script:12s} {sentences:10d} {pieces:8d} {unknown:8d} {100 * share:6.3f}%")
    seen = {row[0] for row in rows}
    assert {"LATIN", "CYRILLIC", "ARABIC", "DEVANAGARI", "THAI", "GREEK", "HAN", "HANGUL", "KANA", "HEBREW"} <= seen
    shares = {row[0]: row[4] for row in rows}
    assert all(share <= MAX_UNKNOWN_SHARE for script, share in shares.items() if script not in UNCOVERED_SCRIPTS)
    assert all(shares[script] >= 0.4 for script in UNCOVERED_SCRIPTS & set(shares))


# ---------------------------------------------------------------------------------------------- training data
def _pairs(data: Path, count: int, offset: int = 0) -> list[tuple[str, str, str, str]]:
    """(English, other, other's language, id) from the Tatoeba Challenge pair folders, a few per language."""
    out = []
    per_dir = -(-count // len(PAIR_DIRS))
    for folder in PAIR_DIRS:
        other = next(lang for lang in folder.split("-") if lang != "eng")
        stem = data / "tatoeba_challenge_test" / folder / "tatoeba-test-v2021-08-07"
        english = _lines(stem.with_suffix(".eng"), 400)
        foreign = _lines(stem.with_suffix(f".{other}"), 400)
        picked = list(zip(english, foreign))[offset::37][:per_dir]  # spread out: neighbouring rows share sentences
        out += [(en, xx, other, f"{folder}-{i}") for i, (en, xx) in enumerate(picked)]
    return out[:count]


def _triplets(data: Path, count: int) -> list[Example]:
    """(premise, entailment, contradiction) in German, Arabic, Hindi and Thai, from XNLI dev."""
    out = []
    for lang in ("de", "ar", "hi", "th"):
        by_premise: dict[str, dict[str, str]] = collections.defaultdict(dict)
        for line in _lines(data / "xnli" / f"dev-{lang}.tsv", 300):
            premise, hypothesis, label = line.split("\t")
            by_premise[premise][label] = hypothesis
        whole = [(p, h["entailment"], h["contradiction"]) for p, h in by_premise.items()
                 if {"entailment", "contradiction"} <= set(h)]
        out += [Example("sup", t, (lang,) * 3, group=f"{lang}-{i}") for i, t in enumerate(whole[:count // 4])]
    return out


def _scored(data: Path, count: int) -> list[Example]:
    """STS-B train pairs with their gold scores: English sentence 1 with German, Russian and Chinese sentence 2."""
    def rows(lang: str) -> list[list[str]]:
        path = data / "stsb_multi_mt" / f"stsb-{lang}-train.csv"
        with path.open(encoding="utf-8", newline="") as handle:
            return list(itertools.islice(csv.reader(handle), 200))

    english = rows("en")
    out = []
    for lang in ("de", "ru", "zh"):
        for i, (en, xx) in enumerate(zip(english[::3], rows(lang)[::3])):
            out.append(Example("scored", (en[0], xx[1]), ("mul", "mul"), group=f"{lang}-{i}", score=float(en[2])))
    return out[:count]


def _examples(objective: str, data: Path) -> list[Example]:
    """One batch of real examples in many languages, tagged as one (``mul``) so the sampler keeps them together."""
    if objective == "scored":
        return _scored(data, BATCH)
    if objective == "sup":
        return [Example("sup", ex.texts, ("mul",) * 3, group=ex.group) for ex in _triplets(data, BATCH)]
    pairs = _pairs(data, BATCH)
    if objective == "unsup":
        return [Example("unsup", (xx,), ("mul",)) for _, xx, _, _ in pairs]
    return [Example(objective, (en, xx), ("en", "mul"), group=key) for en, xx, _, key in pairs]


def _config(tmp_path: Path, objective: str, data: Path, name: str | None = None, **overrides) -> TrainConfig:
    """A run over exactly one batch of real examples, so each step's loss is on the same texts."""
    source = tmp_path / f"{objective}.jsonl"
    source.write_text("".join(ex.to_json() + "\n" for ex in _examples(objective, data)), encoding="utf-8")
    values = {"output_dir": str(tmp_path / (name or objective)), "model.name_or_path": MODEL, "model.pooling": "mean",
              "model.max_length": 24, "model.freeze_embeddings": "true", "batch_size": BATCH, "max_steps": 4,
              "learning_rate": 0.0001, "eval_task": "null", "log_every": 1, "save_every": 100, "seed": 5,
              "loss.distill_mode": "contrastive+translation"}
    values.update(overrides)
    args = [f"{key}={value}" for key, value in values.items()] + [f"data.sources=[{{path: {source}}}]"]
    return load_config(None, args)


def _losses(run: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(multilingual_e5, shared_data, tmp_path_factory):
    """objective -> its run folder, each trained once for the module."""
    runs: dict[str, Path] = {}

    def run(objective: str) -> Path:
        if objective not in runs:
            AcceleratorState._reset_state(reset_partial_state=True)
            runs[objective] = loop.train(_config(tmp_path_factory.mktemp(objective), objective, shared_data)).parent
        return runs[objective]

    return run


@pytest.mark.parametrize("objective", ["unsup", "sup", "parallel", "distill", "scored"])
def test_each_objective_trains_with_falling_loss(trained, objective):
    losses = _losses(trained(objective))
    print(f"\n{objective}: losses {[round(loss, 4) for loss in losses]}")
    assert len(losses) == 4 and all(np.isfinite(losses))
    assert losses[-1] < losses[0], losses


def test_saved_model_gives_sentence_transformers_the_same_embeddings_and_prompts(trained, multilingual_e5,
                                                                                 shared_data):
    from sentence_transformers import SentenceTransformer

    folder = trained("parallel") / "model"
    sentences = [text for pair in _pairs(shared_data, 16, offset=5) for text in pair[:2]]
    ours = SentenceEncoder.from_pretrained(folder)
    theirs = SentenceTransformer(str(folder), device="cpu")
    assert ours.prompts == {"query": "query: ", "passage": "passage: "}, "the base model's prompts are kept"
    for kwargs in ({}, {"prompt_name": "query"}):
        np.testing.assert_allclose(ours.encode(sentences, **kwargs), theirs.encode(sentences, **kwargs),
                                   rtol=0, atol=2e-6)
    start = load_file(str(multilingual_e5 / "model.safetensors"))
    saved = load_file(str(folder / "model.safetensors"))
    word = "embeddings.word_embeddings.weight"
    assert torch.equal(saved[word], start[word]), "freeze_embeddings kept the 250k-row matrix as loaded"
    assert not torch.equal(saved["encoder.layer.0.attention.self.query.weight"],
                           start["encoder.layer.0.attention.self.query.weight"])


# ---------------------------------------------------------------------------------------------- GradCache
def test_gradcache_equals_the_plain_batch(multilingual_e5, shared_data):
    AcceleratorState._reset_state(reset_partial_state=True)
    accelerator = Accelerator(cpu=True)
    encoder = SentenceEncoder.from_pretrained(MODEL, "mean").train()
    encoder.freeze_word_embeddings()
    for module in encoder.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0  # the plain step cannot replay dropout masks; chunking must then change nothing
    batch = [Example("sup", ex.texts, ex.langs, group=ex.group) for ex in _triplets(shared_data, BATCH)]
    config = TrainConfig(batch_size=BATCH, mini_batch_size=2, model=ModelConfig(MODEL, "mean", max_length=24),
                         data=MixtureConfig(sources=[SourceSpec(path="unused.jsonl")]))
    losses = ObjectiveLosses(LossConfig(hard_negative_weight=0.2))
    results = []
    step = TrainingStep(encoder, encoder, losses, None, accelerator, StepShape.of(config))
    for form in (step.plain, step.cached):  # no optimizer step: the weights stay as loaded
        encoder.zero_grad(set_to_none=True)
        loss, backward = form(step.tokenize(batch))
        backward()
        grads = {name: p.grad.clone() for name, p in encoder.named_parameters() if p.grad is not None}
        results.append((loss.detach(), grads))
    (plain_loss, plain), (cached_loss, cached) = results
    torch.testing.assert_close(cached_loss, plain_loss, rtol=1e-5, atol=1e-6)
    assert plain.keys() == cached.keys() and "backbone.embeddings.word_embeddings.weight" not in plain
    for name in ("embeddings.position_embeddings.weight", "encoder.layer.0.attention.self.query.weight",
                 "encoder.layer.11.output.dense.weight", "encoder.layer.11.output.LayerNorm.bias"):
        name = f"backbone.{name}"
        torch.testing.assert_close(cached[name], plain[name], rtol=1e-4, atol=1e-7, msg=name)


# ---------------------------------------------------------------------------------------------- kill and resume
def _train_command(config_path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mlsimcse", "train", str(config_path), *extra]


def test_sigkill_then_resume_ends_bit_identical(multilingual_e5, shared_data, tmp_path):
    """A run SIGKILLed after step 3 (its checkpoint of step 2 on disk, step 3 trained and lost), resumed, ends with
    an uninterrupted run's weights, bit for bit."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": "1"}
    configs = {}
    for name, save_every in (("straight", 100), ("killed", 2)):  # checkpoints do not change the weights
        config = _config(tmp_path, "parallel", shared_data, name=name, max_steps=4, save_every=save_every)
        configs[name] = tmp_path / f"{name}.yaml"
        save_config(config, configs[name])
    subprocess.run(_train_command(configs["straight"]), env=env, check=True, capture_output=True)
    killed = subprocess.run(_train_command(configs["killed"]), env={**env, "MLSIMCSE_FAULT": "after_step:3"},
                            capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL and "fault point after_step:3" in killed.stderr, killed.stderr[-2000:]
    subprocess.run(_train_command(configs["killed"], "--resume"), env=env, check=True, capture_output=True)

    straight = load_file(str(tmp_path / "straight" / "model" / "model.safetensors"))
    resumed = load_file(str(tmp_path / "killed" / "model" / "model.safetensors"))
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[key], resumed[key]) for key in straight)
