"""A real two-process training run: negatives gathered across processes, checkpoints, a crash and resume.

``accelerate launch --multi_gpu --num_processes 2`` with ``cpu: true`` in the config starts two gloo
processes on a machine without GPUs (``--cpu --num_processes 2`` would start only one: Accelerate's CPU
launcher needs mpirun for more). Dropout is off so the two-process run can be compared with one process
seeing the same global batch: their first losses must agree, which holds only if every anchor was scored
against the other process's candidates too.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from mlsimcse import faults
from mlsimcse.config import load_config
from mlsimcse.records import Example
from mlsimcse.training import loop
from mlsimcse.training.checkpoints import complete_checkpoints
from process_support import launch_port

REPO = Path(__file__).resolve().parents[1]
PROCESSES, PER_PROCESS_BATCH, MAX_STEPS, SAVE_EVERY = 2, 4, 24, 6
SUBJECTS = ("the man", "a woman", "the dog", "a cat", "der mann", "la femme", "el perro")
ACTIONS = ("plays the guitar", "eats food in the park", "runs in the street")


def _dropout_free_copy(tiny_bert: Path, folder: Path) -> Path:
    shutil.copytree(tiny_bert, folder)
    settings = json.loads((folder / "config.json").read_text())
    settings.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(settings))
    return folder


def _config_file(tmp_path: Path, tiny_bert: Path) -> Path:
    data = tmp_path / "pairs.jsonl"
    sentences = [f"{subject} {action}" for subject in SUBJECTS for action in ACTIONS]
    pairs = [Example("parallel", (text, " ".join(reversed(text.split()))), group=f"p{i}")  # 21 distinct pairs
             for i, text in enumerate(sentences)]
    data.write_text("".join(pair.to_json() + "\n" for pair in pairs), encoding="utf-8")
    values = {"model": {"name_or_path": str(_dropout_free_copy(tiny_bert, tmp_path / "model"))},
              "data": {"sources": [{"path": str(data)}]}, "batch_size": PER_PROCESS_BATCH, "max_steps": MAX_STEPS,
              "save_every": SAVE_EVERY, "learning_rate": 0.001, "eval_task": None, "log_every": 1, "seed": 9,
              "cpu": True}
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(values), encoding="utf-8")
    return path


def _train(config: Path, out: Path, logs: Path, resume: bool, fault: str | None = None) -> int:
    """``accelerate launch`` two training processes and wait for them; the launcher's exit code."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": "1", "HF_HOME": str(logs.parent / "hf-home"),  # no user accelerate config applies
           faults.ENV: fault or ""}
    with launch_port() as port, open(logs, "ab") as log:
        command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
                   "--num_processes", str(PROCESSES), "--num_machines", "1", "--mixed_precision", "no",
                   "--dynamo_backend", "no", "--main_process_port", str(port),
                   "-m", "mlsimcse", "train", str(config), f"output_dir={out}"] + (["--resume"] if resume else [])
        launcher = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            return launcher.wait(timeout=600)
        except subprocess.TimeoutExpired:
            _kill_tree(launcher)
            raise


def _kill_tree(launcher: subprocess.Popen) -> None:
    """SIGKILL the launcher and any worker still alive (torchrun puts them in sessions of their own)."""
    processes = [psutil.Process(launcher.pid), *psutil.Process(launcher.pid).children(recursive=True)]
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGKILL)
    psutil.wait_procs(processes, timeout=30)


def _trainers_of(out: Path) -> list[psutil.Process]:
    """Processes still training into ``out``."""
    return [p for p in psutil.process_iter(["cmdline"]) if f"output_dir={out}" in (p.info["cmdline"] or [])]


def _metrics(out: Path) -> list[dict]:
    lines = (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.slow
def test_two_processes_match_one_process_then_survive_a_kill(tmp_path, tiny_bert):
    config = _config_file(tmp_path, tiny_bert)
    out, logs = tmp_path / "two-processes", tmp_path / "launch.log"
    checkpoint, kill_step = 2 * SAVE_EVERY, 2 * SAVE_EVERY + 2
    # Rank 0 SIGKILLs itself right after logging step 14. Rank 1, left waiting for it in the next collective, must
    # be torn down by the launcher, which then fails: the whole run is gone, as when its machine dies.
    assert _train(config, out, logs, resume=False, fault=f"after_step:{kill_step}@0") != 0
    assert f"fault point after_step:{kill_step} reached" in logs.read_text()
    assert not _trainers_of(out), "a worker outlived the launcher"
    before_kill = {record["step"]: record["loss"] for record in _metrics(out)}
    assert sorted(before_kill) == list(range(1, kill_step + 1))
    assert [p.name for p in complete_checkpoints(out / loop.CHECKPOINTS)] == [
        f"step-{SAVE_EVERY:08d}", f"step-{checkpoint:08d}"]

    assert _train(config, out, logs, resume=True) == 0, logs.read_text()
    final = out / loop.CHECKPOINTS / f"step-{MAX_STEPS:08d}"
    assert {p.name for p in final.glob("random_states_*.pkl")} == {"random_states_0.pkl", "random_states_1.pkl"}
    assert f"resumed from {out / loop.CHECKPOINTS / f'step-{checkpoint:08d}'}" in logs.read_text()
    records = _metrics(out)
    resumed = records[-(MAX_STEPS - checkpoint):]  # the resumed run's lines come last, one per step it trained
    assert [r["step"] for r in resumed] == list(range(checkpoint + 1, MAX_STEPS + 1))
    assert (out / "model" / "model.safetensors").is_file()
    replayed = [r for r in resumed if r["step"] in before_kill]
    assert [r["step"] for r in replayed] == [checkpoint + 1, kill_step]
    for record in replayed:  # steps after the checkpoint, run again from it, give the same losses
        assert record["loss"] == pytest.approx(before_kill[record["step"]], rel=1e-6)

    single = tmp_path / "one-process"
    loop.train(load_config(config, [f"output_dir={single}", f"batch_size={PROCESSES * PER_PROCESS_BATCH}",
                                    "max_steps=1"]))
    assert records[0]["loss"] == pytest.approx(_metrics(single)[0]["loss"], rel=1e-5)
