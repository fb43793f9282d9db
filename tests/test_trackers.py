"""report_to: a tiny run's numbers reach TensorBoard, W&B (offline) and MLflow (file store) as metrics.jsonl has them."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from mlsimcse.config import load_config
from mlsimcse.errors import InputError
from mlsimcse.records import Example
from mlsimcse.training import loop

PAIRS = [("the man plays the guitar", "der mann spielt gitarre"), ("the woman eats food", "die frau eats food"),
         ("a dog runs in the park", "der hund runs in the park"), ("a cat sits on the car", "die katze sits on car"),
         ("the red house", "das red house"), ("a big blue car", "a big blue car und")]


def _config(tmp_path: Path, tiny_bert: Path, *overrides: str):
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(Example("parallel", pair, ("en", "de"), group=f"p{i}").to_json() + "\n"
                            for i, pair in enumerate(PAIRS)), encoding="utf-8")
    base = [f"output_dir={tmp_path / 'run'}", f"model.name_or_path={tiny_bert}", "model.pooling=mean",
            "batch_size=4", "max_steps=4", "learning_rate=1e-3", "eval_task=null", "save_every=4", "log_every=2",
            "seed=3", f"data.sources=[{{path: {data}}}]"]
    return load_config(None, [*base, *overrides])


def _metrics(run: Path) -> dict[int, dict]:
    return {record["step"]: record for record in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())}


def _fake_dev_evaluation(monkeypatch, scores: list[float]) -> None:
    """Dev scores without reading a dev set: the loop's evaluation returns ``scores`` in turn."""
    import mlsimcse.evaluation as evaluation

    remaining = list(scores)
    monkeypatch.setattr(evaluation, "evaluate_tasks", lambda *args, **kwargs: [
        SimpleNamespace(main_score=remaining.pop(0), prompt="")])


def test_tensorboard_gets_the_logged_steps_the_dev_scores_the_final_evaluation_and_the_config(
        tmp_path, tiny_bert, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _fake_dev_evaluation(monkeypatch, [50.0, 70.0])
    config = _config(tmp_path, tiny_bert, "report_to=tensorboard", "tracker_project=tiny",
                     "eval_task=stsb-dev:en", "eval_every=3", "log_every=2", "max_steps=4")
    loop.train(config, final_evaluation=lambda model_dir: {"final/trained/avg": 42.5, "note": "not a number"})

    run = tmp_path / "run"
    events = EventAccumulator(str(run / "logs" / "tiny"))
    events.Reload()
    metrics = _metrics(run)
    loss = {event.step: event.value for event in events.Scalars("loss")}
    assert sorted(loss) == [2, 3, 4], "log_every steps, the dev evaluation's step and the last step"
    for step, value in loss.items():
        assert value == pytest.approx(metrics[step]["loss"], rel=1e-6)
    assert [event.step for event in events.Scalars("examples_per_s")] == [2, 4]
    assert {event.step: event.value for event in events.Scalars("eval_score")} == {3: 50.0, 4: 70.0}
    assert [(event.step, event.value) for event in events.Scalars("final/trained/avg")] == [(4, 42.5)]
    card = (run / "model" / "README.md").read_text()
    assert "selected on stsb-dev:en: 70.00 at step 4" in card, "the card names the dev score the model won on"
    assert "step" not in events.Tags()["scalars"] and "best" not in events.Tags()["scalars"]
    (hparams,) = (run / "logs" / "tiny").glob("*/hparams.yml")
    logged = yaml.safe_load(hparams.read_text())
    assert logged["learning_rate"] == 0.001 and logged["model.pooling"] == "mean"
    assert logged["report_to"] == '["tensorboard"]' and logged["data.sources.0.weight"] == 1.0


def test_report_to_takes_what_hugging_face_users_write_and_refuses_unknown_trackers(tmp_path, tiny_bert):
    assert _config(tmp_path, tiny_bert, "report_to=TensorBoard").report_to == ["tensorboard"]
    assert _config(tmp_path, tiny_bert, "report_to=[wandb, mlflow, wandb]").report_to == ["wandb", "mlflow"]
    assert _config(tmp_path, tiny_bert, "report_to=none").report_to == []
    assert _config(tmp_path, tiny_bert, "report_to=null").report_to == []
    assert _config(tmp_path, tiny_bert).report_to == []
    assert _config(tmp_path, tiny_bert, "report_to=all").report_to == ["all"]
    with pytest.raises(InputError, match=r"report_to is not valid: unknown tracker\(s\) tensorbord; "
                                         r"Accelerate's trackers: .*tensorboard.*wandb"):
        _config(tmp_path, tiny_bert, "report_to=[tensorbord]")
    with pytest.raises(InputError, match="'none' turns every tracker off"):
        _config(tmp_path, tiny_bert, "report_to=[none, wandb]")


def test_a_resume_may_change_where_the_numbers_are_reported(tmp_path, tiny_bert):
    from mlsimcse.training.run_folder import resume_changes

    saved = _config(tmp_path, tiny_bert).to_dict()
    now = _config(tmp_path, tiny_bert, "report_to=[tensorboard]", "tracker_project=again")
    assert resume_changes(saved, now, tmp_path) == {"report_to": ([], ["tensorboard"]),
                                                    "tracker_project": (None, "again")}


def test_a_tracker_that_is_not_installed_stops_the_run_before_the_model_loads(tmp_path, tiny_bert, monkeypatch):
    import accelerate.tracking

    from mlsimcse.encoder import SentenceEncoder

    monkeypatch.setattr(accelerate.tracking, "get_available_trackers", lambda: [])
    monkeypatch.setattr(SentenceEncoder, "from_pretrained", lambda *a, **k: pytest.fail("the model was loaded"))
    with pytest.raises(InputError, match=r"report_to: wandb requested but not installed; pip install wandb"):
        loop.train(_config(tmp_path, tiny_bert, "report_to=[wandb]"))
    assert not (tmp_path / "run").exists()


def test_the_trackers_are_finished_when_the_run_fails_midway(tmp_path, tiny_bert, monkeypatch):
    from accelerate.tracking import TensorBoardTracker

    finished = []
    finish = TensorBoardTracker.finish
    monkeypatch.setattr(TensorBoardTracker, "finish", lambda self: finished.append(self) or finish(self))

    def crash(name, number):
        if name == "after_step" and number == 2:
            raise RuntimeError("crash at step 2")

    monkeypatch.setattr(loop, "fault_point", crash)
    with pytest.raises(RuntimeError, match="crash at step 2"):
        loop.train(_config(tmp_path, tiny_bert, "report_to=tensorboard"))
    assert len(finished) == 1


def _wandb_records(run_file: Path):
    """The records of a W&B offline run file (LevelDB-style log: 32 KiB blocks of [crc, length, type] chunks)."""
    from wandb.proto import wandb_internal_pb2

    data = run_file.read_bytes()
    assert data[:4] == b":W&B"
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a header is padding
            pos += 32768 - pos % 32768
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if pos + 7 + length > len(data):  # a chunk still being written
            return
        pending, pos = pending + data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def _finished_wandb_records(run_file: Path, timeout_s: float = 60.0) -> list:
    """The run file's records once it holds the run's exit record.

    ``wandb.finish`` can return while wandb-core, a separate process, is still writing the file: on a loaded
    machine a read straight after it found the config but none of the history that followed.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        records = list(_wandb_records(run_file))
        if any(record.WhichOneof("record_type") == "exit" for record in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)


def test_wandb_offline_run_holds_the_logged_steps_and_the_config(tmp_path, tiny_bert, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    loop.train(_config(tmp_path, tiny_bert, "report_to=wandb"))

    run = tmp_path / "run"
    (run_file,) = (run / "logs" / "wandb").glob("offline-run-*/run-*.wandb")
    history, config = {}, {}
    for record in _finished_wandb_records(run_file):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            items = {_key(item): json.loads(item.value_json) for item in record.history.item}
            history[items["_step"]] = items
        elif kind == "config":
            config.update({_key(item): json.loads(item.value_json) for item in record.config.update})
    metrics = _metrics(run)
    assert sorted(history) == [2, 4]
    assert all(history[step]["loss"] == pytest.approx(metrics[step]["loss"]) for step in (2, 4))
    assert config["learning_rate"] == 0.001 and config["batch_size"] == 4


def test_mlflow_file_store_holds_the_logged_steps_and_the_config(tmp_path, tiny_bert, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    store = f"file:{tmp_path / 'mlruns'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks for a database unless told so
    loop.train(_config(tmp_path, tiny_bert, "report_to=mlflow", "tracker_project=tiny-mlflow"))

    client = mlflow.tracking.MlflowClient(store)
    (found,) = client.search_runs([client.get_experiment_by_name("tiny-mlflow").experiment_id])
    metrics = _metrics(tmp_path / "run")
    loss = {point.step: point.value for point in client.get_metric_history(found.info.run_id, "loss")}
    assert sorted(loss) == [2, 4]
    assert all(loss[step] == pytest.approx(metrics[step]["loss"]) for step in (2, 4))
    assert found.data.params["learning_rate"] == "0.001" and found.data.params["model.pooling"] == "mean"
    assert found.info.status == "FINISHED"
