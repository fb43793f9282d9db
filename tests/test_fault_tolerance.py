"""Training survives faults: SIGKILL at any moment, damaged checkpoints, non-finite losses; and it loads safely.

The kill tests run ``python -m mlsimcse train`` as a real subprocess that kills itself with SIGKILL, which no
handler can intercept, at a fault point (:mod:`mlsimcse.faults`): right after a seeded random step, and in the
middle of a checkpoint save. The place is exact however busy the machine is. ``--resume`` must then finish
with exactly the weights of a run that was never interrupted.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from process_support import torch_threads
from safetensors.torch import load_file

from mlsimcse import cli, faults
from mlsimcse.config import ModelConfig, load_config
from mlsimcse.encoder import SentenceEncoder
from mlsimcse.errors import InputError
from mlsimcse.records import Example
from mlsimcse.training import NonFiniteLossError, loop
from mlsimcse.training.checkpoints import MARKER, complete_checkpoints, publish, staging_dir, verify
from mlsimcse.training.objectives import ObjectiveLosses

REPO = Path(__file__).resolve().parents[1]
PAIRS = [("the man plays the guitar", "der mann spielt gitarre"), ("the woman eats food", "la femme eats food"),
         ("a dog runs in the park", "el perro runs in the park"), ("a cat sits on the car", "die katze sits on car"),
         ("the red house is big", "das red house is big"), ("a small blue car", "a small blue car und"),
         ("the man plays the piano", "le homme joue piano"), ("the dog eats", "le chien eats"),
         ("the cat is small", "le chat is small"), ("a woman is running", "la femme running"),
         ("a man with a dog", "el perro with man"), ("the green street", "la green street")]
MAX_STEPS, SAVE_EVERY = 24, 4


def _config_file(tmp_path: Path, tiny_bert: Path, **overrides) -> Path:
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(Example("parallel", pair, group=f"p{i}").to_json() + "\n"
                            for i, pair in enumerate(PAIRS)), encoding="utf-8")
    values = {"model": {"name_or_path": str(tiny_bert)}, "data": {"sources": [{"path": str(data)}]},
              "batch_size": 4, "max_steps": MAX_STEPS, "save_every": SAVE_EVERY, "keep_last_checkpoints": 2,
              "learning_rate": 0.001, "warmup_steps": 2, "eval_task": None, "log_every": 1, "seed": 5, **overrides}
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(values), encoding="utf-8")  # JSON is YAML
    return path


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model" / "model.safetensors"))


def _assert_same_weights(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert got.keys() == want.keys()
    for name in want:
        assert torch.equal(got[name], want[name]), name


# ---------------------------------------------------------------------------------------------- SIGKILL


def _start(config: Path, out: Path, logs: Path, resume: bool, fault: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": "1", faults.ENV: fault or ""}
    command = [sys.executable, "-m", "mlsimcse", "train", str(config), f"output_dir={out}"]
    with open(logs, "ab") as log:
        return subprocess.Popen(command + (["--resume"] if resume else []), cwd=REPO, env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def _run(config: Path, out: Path, logs: Path, resume: bool = False) -> None:
    process = _start(config, out, logs, resume)
    assert process.wait(timeout=600) == 0, logs.read_text()


def _crash(config: Path, out: Path, logs: Path, fault: str) -> None:
    """Train until the fault point ``fault`` (``MLSIMCSE_FAULT`` syntax) SIGKILLs the run, and check that it did."""
    process = _start(config, out, logs, resume=False, fault=fault)
    assert process.wait(timeout=600) == -signal.SIGKILL, logs.read_text()
    assert f"fault point {fault} reached" in logs.read_text()


def _logged_steps(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]


def _checkpoint_names(out: Path) -> list[str]:
    return [p.name for p in complete_checkpoints(out / loop.CHECKPOINTS)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_bert) -> tuple[Path, dict[str, torch.Tensor]]:
    """The config the kill tests use and the weights of its run when nothing goes wrong."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    config = _config_file(folder, tiny_bert)
    with torch_threads(1):  # as in the subprocesses (OMP_NUM_THREADS=1), so results agree to the bit
        loop.train(load_config(config, [f"output_dir={folder / 'run'}"]))
    return config, _weights(folder / "run")


def _resume_and_compare(config: Path, out: Path, logs: Path, weights: dict[str, torch.Tensor],
                        resumed_from: str) -> None:
    _run(config, out, logs, resume=True)
    _assert_same_weights(_weights(out), weights)
    log = logs.read_text()
    assert log.count("resumed from") == 1 and "Traceback" not in log
    assert f"resumed from {out / loop.CHECKPOINTS / resumed_from} " in log
    assert _checkpoint_names(out) == ["step-00000020", "step-00000024"]
    assert not list((out / loop.CHECKPOINTS).glob(".staging-*"))


@pytest.mark.slow
@pytest.mark.parametrize("earliest,latest", [(SAVE_EVERY + 1, 12), (13, MAX_STEPS - 1)])
def test_sigkill_at_a_random_step_then_resume_gives_the_uninterrupted_weights(tmp_path, uninterrupted, earliest,
                                                                            latest):
    config, weights = uninterrupted
    out, logs = tmp_path / "run", tmp_path / "train.log"
    kill_step = random.Random(f"{earliest}-{latest}").randint(earliest, latest)  # after some checkpoint
    _crash(config, out, logs, f"after_step:{kill_step}")
    assert _logged_steps(out) == list(range(1, kill_step + 1))  # killed right after logging the step, no later
    saved = [f"step-{step:08d}" for step in range(SAVE_EVERY, kill_step, SAVE_EVERY)][-2:]  # kill_step's: not yet
    assert _checkpoint_names(out) == saved and not list((out / loop.CHECKPOINTS).glob(".staging-*"))
    _resume_and_compare(config, out, logs, weights, resumed_from=saved[-1])


@pytest.mark.slow
def test_sigkill_during_a_checkpoint_save_then_resume_gives_the_uninterrupted_weights(tmp_path, uninterrupted):
    config, weights = uninterrupted
    out, logs = tmp_path / "run", tmp_path / "train.log"
    _crash(config, out, logs, "mid_checkpoint_save:12")
    # Killed with step 12 staged and sealed but not renamed into place: a sealed staging folder is still no
    # checkpoint, and resuming must take step 8 and clear it.
    assert verify(staging_dir(out / loop.CHECKPOINTS, 12))["step"] == 12
    assert _checkpoint_names(out) == ["step-00000004", "step-00000008"]
    _resume_and_compare(config, out, logs, weights, resumed_from="step-00000008")


# ---------------------------------------------------------------------------------------- damaged files


def _six_steps_with_two_checkpoints(tmp_path: Path, tiny_bert: Path, capsys) -> tuple[Path, Path]:
    """A finished run (checkpoints at steps 3 and 6) through the command line; its config and folder."""
    config = _config_file(tmp_path, tiny_bert, max_steps=6, save_every=3)
    out = tmp_path / "run"
    assert cli.main(["train", str(config), f"output_dir={out}"]) == 0
    capsys.readouterr()
    return config, out


def test_truncated_checkpoint_is_named_and_resume_falls_back_to_the_previous_one(tmp_path, tiny_bert, capsys):
    config, out = _six_steps_with_two_checkpoints(tmp_path, tiny_bert, capsys)
    uninterrupted = _weights(out)
    damaged = out / loop.CHECKPOINTS / "step-00000006" / "model.safetensors"
    damaged.write_bytes(damaged.read_bytes()[:1000])

    assert cli.main(["train", str(config), f"output_dir={out}", "--resume"]) == 0
    printed = capsys.readouterr().err  # messages are logged to stderr; stdout holds only the model's path
    assert f"warning: skipping damaged checkpoint: {damaged}" in printed
    assert f"resumed from {out / loop.CHECKPOINTS / 'step-00000003'} (step 3)" in printed
    _assert_same_weights(_weights(out), uninterrupted)
    verify(damaged.parent)  # step 6 was trained again and saved whole


def test_resume_with_every_checkpoint_damaged_is_a_clear_error(tmp_path, tiny_bert, capsys):
    config, out = _six_steps_with_two_checkpoints(tmp_path, tiny_bert, capsys)
    damaged = [out / loop.CHECKPOINTS / step / "optimizer.bin" for step in ("step-00000003", "step-00000006")]
    for file in damaged:
        file.write_bytes(file.read_bytes()[:-7])

    assert cli.main(["train", str(config), f"output_dir={out}", "--resume"]) == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith(f"error: none of the 2 checkpoints under {out / loop.CHECKPOINTS} is intact: ")
    assert all(f"{file}: checkpoint file is damaged" in error for file in damaged)


def _stage(root: Path, step: int) -> None:
    staging_dir(root, step).mkdir(parents=True)
    (staging_dir(root, step) / "model.safetensors").write_bytes(bytes([step]) * 64)


def test_pruning_keeps_the_last_k_and_the_best_and_drops_abandoned_futures(tmp_path):
    root = tmp_path / "checkpoints"
    for step in range(1, 6):
        _stage(root, step)
        publish(root, step, {"step": step}, keep_last=2, keep_steps={2})
    assert [p.name for p in complete_checkpoints(root)] == ["step-00000002", "step-00000004", "step-00000005"]

    # Resumed from step 2 (4 and 5 failed to verify): the next save drops them, they belong to the lost run.
    (root / "step-00000005" / MARKER).unlink()  # and a half-deleted folder is cleared too
    _stage(root, 3)
    publish(root, 3, {"step": 3}, keep_last=2, keep_steps={None})
    assert sorted(p.name for p in root.iterdir()) == ["step-00000002", "step-00000003"]
    assert verify(root / "step-00000003")["info"] == {"step": 3}


def test_a_leftover_staging_folder_is_not_something_to_resume_from(tmp_path, tiny_bert):
    """Only sealed checkpoints count: a folder holding just a killed save's staging folder is refused.

    That a later save never seals a leftover staging folder is checked in tests/test_run_safety.py.
    """
    config = load_config(_config_file(tmp_path, tiny_bert, max_steps=3, save_every=3),
                         [f"output_dir={tmp_path / 'run'}"])
    leftover = staging_dir(tmp_path / "run" / loop.CHECKPOINTS, 3)
    leftover.mkdir(parents=True)
    (leftover / "stale.bin").write_bytes(b"from a save that was killed")
    with pytest.raises(InputError, match="nothing to resume from"):
        loop.train(config, resume=True)
    assert (leftover / "stale.bin").read_bytes() == b"from a save that was killed"


# --------------------------------------------------------------------------------------- non-finite loss


def _poison(monkeypatch, bad_calls: set[int]) -> None:
    """Make the loss NaN on the given calls (1-based), as an overflow or a bad batch would."""
    original, calls = ObjectiveLosses.forward, {"n": 0}

    def forward(self, *args, **kwargs):
        calls["n"] += 1
        loss = original(self, *args, **kwargs)
        return loss * float("nan") if calls["n"] in bad_calls else loss

    monkeypatch.setattr(ObjectiveLosses, "forward", forward)


@pytest.mark.parametrize("mini_batch_size", [None, 2])
def test_a_non_finite_loss_skips_the_update_and_is_counted(tmp_path, tiny_bert, monkeypatch, caplog,
                                                          mini_batch_size):
    config = load_config(_config_file(tmp_path, tiny_bert, max_steps=4, save_every=1,
                                      keep_last_checkpoints=4, mini_batch_size=mini_batch_size),
                         [f"output_dir={tmp_path / 'run'}"])
    _poison(monkeypatch, {2, 3})
    loop.train(config)  # the library logs, as a warning; only the command line shows it on stderr
    printed = "\n".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "step 2: non-finite loss, update skipped (1 in a row, 1 in all)" in printed
    assert "step 3: non-finite loss, update skipped (2 in a row, 2 in all)" in printed

    steps = {p.name: p for p in complete_checkpoints(tmp_path / "run" / loop.CHECKPOINTS)}
    weights = {name: load_file(str(path / "model.safetensors")) for name, path in steps.items()}
    _assert_same_weights(weights["step-00000003"], weights["step-00000001"])  # skipped steps changed nothing
    after, before = weights["step-00000004"], weights["step-00000003"]
    assert any(not torch.equal(after[name], before[name]) for name in after)  # the next good step trained
    info = verify(steps["step-00000004"])["info"]
    assert (info["nonfinite_in_row"], info["nonfinite_total"]) == (0, 2)
    assert info["scheduler"]["last_epoch"] == 2  # the schedule advanced only on the two real updates


def test_one_bad_micro_batch_skips_the_whole_accumulated_update(tmp_path, tiny_bert, monkeypatch, caplog):
    """Two micro-batches per step: a NaN in the first of step 2 discards the second's gradient too."""
    config = load_config(_config_file(tmp_path, tiny_bert, max_steps=3, save_every=1, keep_last_checkpoints=3,
                                      gradient_accumulation_steps=2), [f"output_dir={tmp_path / 'run'}"])
    _poison(monkeypatch, {3})  # calls 1-2 make step 1, calls 3-4 step 2
    loop.train(config)
    printed = "\n".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "step 2: non-finite loss, update skipped (1 in a row, 1 in all)" in printed and "step 3" not in printed
    steps = {p.name: p for p in complete_checkpoints(tmp_path / "run" / loop.CHECKPOINTS)}
    weights = {name: load_file(str(path / "model.safetensors")) for name, path in steps.items()}
    _assert_same_weights(weights["step-00000002"], weights["step-00000001"])
    assert any(not torch.equal(weights["step-00000003"][n], weights["step-00000002"][n]) for n in weights["step-00000003"])
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert losses[0] == losses[0] and losses[1] != losses[1] and losses[2] == losses[2]  # NaN only at step 2


def test_a_step_syncs_with_the_host_once_whatever_its_micro_batches(tmp_path, tiny_bert, monkeypatch):
    """Loss and finiteness travel in one all-reduce per step, not one per micro-batch plus one for the log."""
    config = load_config(_config_file(tmp_path, tiny_bert, max_steps=3, save_every=3, log_every=10,
                                      gradient_accumulation_steps=3), [f"output_dir={tmp_path / 'run'}"])
    reductions = []
    original = loop.Accelerator.reduce
    monkeypatch.setattr(loop.Accelerator, "reduce",
                        lambda self, *args, **kwargs: reductions.append(1) or original(self, *args, **kwargs))
    loop.train(config)
    assert len(reductions) == 3


def test_too_many_non_finite_losses_in_a_row_abort_with_a_clear_message(tmp_path, tiny_bert, monkeypatch):
    config = load_config(_config_file(tmp_path, tiny_bert, max_steps=10, max_nonfinite_steps=3),
                         [f"output_dir={tmp_path / 'run'}"])
    _poison(monkeypatch, set(range(2, 11)))
    with pytest.raises(NonFiniteLossError, match="3 non-finite losses in a row at step 4; stopping so the "
                                                 "weights stay intact"):
        loop.train(config)


# ---------------------------------------------------------------------------------------- safe loading


def test_resume_unpickles_nothing_but_tensors(tmp_path, tiny_bert, monkeypatch):
    config = load_config(_config_file(tmp_path, tiny_bert, max_steps=4, save_every=2),
                         [f"output_dir={tmp_path / 'run'}"])
    loop.train(config)
    (tmp_path / "run" / loop.CHECKPOINTS / "step-00000004" / MARKER).unlink()  # resume from step 2
    checkpoint = tmp_path / "run" / loop.CHECKPOINTS / "step-00000002"
    assert not list(checkpoint.glob("custom_checkpoint_*"))  # no pickled Python objects are saved at all

    loads = []
    original = torch.load

    def recording_load(*args, **kwargs):
        loads.append(kwargs.get("weights_only"))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    loop.train(config, resume=True)
    assert loads and all(flag is True for flag in loads)  # optimizer and generator states
    assert (checkpoint / "model.safetensors").is_file()


def test_custom_model_code_never_runs_unless_trusted(tmp_path, tiny_bert):
    folder = shutil.copytree(tiny_bert, tmp_path / "remote-code-model")
    sentinel = tmp_path / "code-ran"
    (folder / "evil.py").write_text(f"open({str(sentinel)!r}, 'w').close()\n", encoding="utf-8")
    settings = json.loads((folder / "config.json").read_text())
    settings.update(model_type="evil-bert", auto_map={"AutoConfig": "evil.Config", "AutoModel": "evil.Model"})
    (folder / "config.json").write_text(json.dumps(settings))

    assert ModelConfig().trust_remote_code is False
    config = load_config(_config_file(tmp_path, folder), [f"output_dir={tmp_path / 'run'}"])
    with pytest.raises(InputError, match="trust_remote_code"):
        loop.train(config)
    with pytest.raises(InputError, match="trust_remote_code"):
        SentenceEncoder.from_pretrained(folder)
    assert not sentinel.exists()


def test_training_writes_nothing_outside_its_output_folder(tmp_path, tiny_bert, monkeypatch):
    """The config's folder, the data, the base model and the working folder are watched; only output_dir changes."""
    model = shutil.copytree(tiny_bert, tmp_path / "base-model")
    config_path = _config_file(tmp_path, model, max_steps=2, save_every=1)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    out = tmp_path / "run"
    out.mkdir()

    def snapshot() -> dict[str, tuple[float, int]]:
        watched = [p for p in [tmp_path, *tmp_path.rglob("*")] if out not in (p, *p.parents)]
        return {str(p): (p.stat().st_mtime, p.stat().st_size) for p in watched}

    before = snapshot()
    assert cli.main(["train", str(config_path), f"output_dir={out}"]) == 0
    assert snapshot() == before
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "config.yaml", "metrics.jsonl", "model"]
