"""The training loop on a tiny model: it learns, checkpoints, resumes exactly, and refuses bad setups."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import load_file

from mlsimcse.config import load_config
from mlsimcse.errors import InputError
from mlsimcse.records import Example
from mlsimcse.training import loop
from mlsimcse.training.objectives import ObjectiveLosses

PAIRS = [("the man plays the guitar", "der mann spielt gitarre"), ("the woman eats food", "die frau eats food"),
         ("a dog runs in the park", "der hund runs in the park"), ("a cat sits on the car", "die katze sits on car"),
         ("the red house", "das red house"), ("a big blue car", "a big blue car und"),
         ("the man plays the piano", "le homme joue piano"), ("the dog eats", "le chien eats"),
         ("the cat is small", "le chat is small"), ("a woman is running", "la femme running"),
         ("a man with a dog", "el perro with man"), ("the green street", "la green street")]


def _write_data(folder):
    path = folder / "pairs.jsonl"
    rows = [Example("parallel", pair, ("en", "xx"), group=f"p{i}") for i, pair in enumerate(PAIRS)]
    rows += [Example("unsup", (pair[1],), ("xx",)) for pair in PAIRS]
    path.write_text("\n".join(r.to_json() for r in rows) + "\n", encoding="utf-8")
    return path


def _config(tmp_path, tiny_bert, name, **overrides):
    data = _write_data(tmp_path)
    base = {"output_dir": str(tmp_path / name), "model.name_or_path": str(tiny_bert), "model.pooling": "cls_mlp",
            "batch_size": 4, "max_steps": 6, "learning_rate": 1e-3, "warmup_steps": 2, "eval_task": "null",
            "save_every": 3, "log_every": 1, "seed": 3}
    base.update(overrides)
    args = [f"{k}={v}" for k, v in base.items()] + [f"data.sources=[{{path: {data}}}]"]
    return load_config(None, args)


def _weights(run_dir):
    return load_file(str(run_dir / "model" / "model.safetensors"))


def test_run_writes_model_metrics_config_and_checkpoints(tmp_path, tiny_bert):
    model_dir = loop.train(_config(tmp_path, tiny_bert, "run"))
    run = tmp_path / "run"
    assert model_dir == run / "model" and (model_dir / "modules.json").is_file()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert {r["objective"] for r in records} <= {"parallel", "unsup"}
    assert all(r["loss"] > 0 for r in records)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000003", "step-00000006"]
    assert (run / "config.yaml").is_file()
    start = load_file(str(tiny_bert / "model.safetensors"))
    trained = _weights(run)
    assert any(not torch.equal(trained[k], start[k]) for k in trained if k in start)


def test_cpu_dropout_setting_picks_the_dropout_masks_and_both_train(tmp_path, tiny_bert, monkeypatch):
    """cpu_dropout (on by default) swaps the student's dropout in; false keeps torch's, so the draws differ."""
    swapped = []
    original = loop.use_cpu_dropout
    monkeypatch.setattr(loop, "use_cpu_dropout", lambda backbone: swapped.append(backbone) or original(backbone))
    losses = {}
    for setting in ("true", "false"):
        run = loop.train(_config(tmp_path, tiny_bert, f"run-{setting}", cpu_dropout=setting)).parent
        losses[setting] = [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert all(loss > 0 and loss == loss for loss in losses[setting])
    assert len(swapped) == 1, "only the run with cpu_dropout: true swaps its dropout"
    assert losses["true"] != losses["false"]
    saved = json.loads((tmp_path / "run-true" / "model" / "config.json").read_text())
    assert "mlsimcse" not in json.dumps(saved), "the exported config names no mlsimcse-only attention"


def test_training_truncates_at_max_length_but_the_model_keeps_its_inference_length(tmp_path, tiny_bert, monkeypatch):
    from mlsimcse.encoder import SentenceEncoder
    from mlsimcse.training.batches import BatchTokenizer

    widths = []
    tokenize = BatchTokenizer.__call__

    def spy(self, examples):
        batch = tokenize(self, examples)
        widths.append(batch.features["input_ids"].shape[1])
        return batch

    monkeypatch.setattr(BatchTokenizer, "__call__", spy)
    base_length = SentenceEncoder.from_pretrained(tiny_bert).settings.max_length
    model_dir = loop.train(_config(tmp_path, tiny_bert, "short", **{"model.max_length": 5, "max_steps": 2}))
    assert widths and max(widths) == 5  # every training batch cut at 5 tokens (the sentences are longer)
    assert SentenceEncoder.from_pretrained(model_dir).settings.max_length == base_length > 5
    pinned = loop.train(_config(tmp_path, tiny_bert, "pinned", **{"model.max_length": 5, "max_steps": 1,
                                                                  "model.inference_max_length": 12}))
    assert SentenceEncoder.from_pretrained(pinned).settings.max_length == 12


def _crash_at_step_5_then_resume(config, monkeypatch) -> None:
    """Train until the loss of step 5 is asked for, die there (after the step-3 checkpoint), then resume."""
    calls = {"n": 0}
    original = ObjectiveLosses.forward

    def crash_on_fifth_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ObjectiveLosses, "forward", crash_on_fifth_step)
    with pytest.raises(KeyboardInterrupt):
        loop.train(config)
    monkeypatch.setattr(ObjectiveLosses, "forward", original)
    loop.train(config, resume=True)


def test_resume_after_interruption_ends_with_identical_weights(tmp_path, tiny_bert, monkeypatch):
    loop.train(_config(tmp_path, tiny_bert, "straight"))

    _crash_at_step_5_then_resume(_config(tmp_path, tiny_bert, "interrupted"), monkeypatch)

    straight, resumed = _weights(tmp_path / "straight"), _weights(tmp_path / "interrupted")
    assert straight.keys() == resumed.keys()
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key], rtol=1e-5, atol=1e-6)
    steps = [json.loads(l)["step"] for l in (tmp_path / "interrupted" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]  # step 4 ran, was lost with the crash, ran again: logged once


def test_tokenising_in_worker_processes_trains_the_same_weights_and_resumes_exactly(tmp_path, tiny_bert,
                                                                                     monkeypatch):
    """Two loader workers tokenise ahead of the step: the same batches, so the same weights, bit for bit, also
    after a crash at step 5 and a resume from the step-3 checkpoint, which the workers had drawn past."""
    from mlsimcse.training.batches import BatchTokenizer

    loop.train(_config(tmp_path, tiny_bert, "in-process"))
    workers = {"dataloader_workers": 2}
    tokenize, pids = BatchTokenizer.__call__, tmp_path / "tokenising-pids"
    pids.mkdir()

    def note_the_process(self, examples):
        (pids / str(os.getpid())).touch()
        return tokenize(self, examples)

    monkeypatch.setattr(BatchTokenizer, "__call__", note_the_process)
    loop.train(_config(tmp_path, tiny_bert, "workers", **workers))
    monkeypatch.setattr(BatchTokenizer, "__call__", tokenize)
    assert str(os.getpid()) not in {p.name for p in pids.iterdir()} and len(list(pids.iterdir())) == 2

    _crash_at_step_5_then_resume(_config(tmp_path, tiny_bert, "interrupted", **workers), monkeypatch)

    reference = _weights(tmp_path / "in-process")
    for run in ("workers", "interrupted"):
        weights = _weights(tmp_path / run)
        assert weights.keys() == reference.keys()
        assert all(torch.equal(weights[key], reference[key]) for key in reference), run
    losses = {run: [json.loads(line)["loss"] for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
              for run in ("in-process", "workers", "interrupted")}
    assert losses["workers"] == losses["in-process"] == losses["interrupted"]


def test_used_output_folder_needs_resume(tmp_path, tiny_bert):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="already holds a run"):
        loop.train(_config(tmp_path, tiny_bert, "used"))
    assert (tmp_path / "used" / "notes.txt").read_text() == "keep me"


def test_config_errors_name_the_key(tmp_path, tiny_bert):
    with pytest.raises(InputError, match="unknown key"):
        _config(tmp_path, tiny_bert, "x", learning_rat=1)
    with pytest.raises(InputError, match="mixed_precision"):
        _config(tmp_path, tiny_bert, "x", mixed_precision="fp8")


def test_unknown_distillation_term_is_a_config_error(tmp_path, tiny_bert):
    with pytest.raises(InputError, match="distill_mode"):
        _config(tmp_path, tiny_bert, "bad", **{"loss.distill_mode": "contrastive+cosine"}).validate()


@pytest.mark.parametrize("key", ["forward_chunk_size", "forward_chunk_tokens"])
def test_chunking_below_one_is_a_config_error(tmp_path, tiny_bert, key):
    with pytest.raises(InputError, match=f"{key} must be at least 1"):
        _config(tmp_path, tiny_bert, "bad", **{key: 0}).validate()
