"""The quickstart end to end on the real recipes, shrunk: a tiny model, a few steps, one evaluation task."""

from __future__ import annotations

import json

import pytest

import torch

from mlsimcse.cli import main
from mlsimcse.precision import resolve_precision


@pytest.mark.slow
def test_quickstart_writes_model_results_table_and_curve(tmp_path, tiny_bert, shared_data, capsys):
    out = tmp_path / "qs"
    code = main(["quickstart", "--output-dir", str(out), "--base-model", str(tiny_bert), "--suite", "stsb-dev:en",
                 "max_steps=4", "batch_size=8", "log_every=1", "report_to=tensorboard"])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert [run["model"] for run in results["runs"]] == ["base", "trained"]
    native = resolve_precision("auto", torch.float32, torch.device("cpu"))
    assert [run["precision"] for run in results["runs"]] == [native, native], "auto by default, recorded per run"
    assert all(run["results"][0]["task"] == "stsb-dev:en" for run in results["runs"])
    assert (out / "model" / "modules.json").is_file()
    assert (out / "training_curve.png").read_bytes()[:4] == b"\x89PNG"
    steps = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(steps) == 4
    assert "STS-B" in (out / "results.md").read_text() or "stsb-dev:en" in (out / "results.md").read_text()
    assert "total time" in capsys.readouterr().out
    card = (out / "model" / "README.md").read_text()
    assert "| task | base | trained |" in card, "the card is written again with the before/after table"
    assert "license: cc-by-nc-4.0" in card, "the XNLI triplets are non-commercial, the strictest of the mix"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "logs" / "qs"))
    events.Reload()
    trained = results["runs"][1]["results"][0]["main_score"]
    assert [(e.step, e.value) for e in events.Scalars("final/trained/stsb-dev:en")] == [(4, pytest.approx(trained))]


def test_quickstart_refuses_a_used_folder(tmp_path, capsys):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    assert main(["quickstart", "--output-dir", str(tmp_path / "used")]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "used" / "keep.txt").read_text() == "mine"


def test_quickstart_takes_tasks_like_eval():
    from mlsimcse.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["quickstart", "--tasks", "stsb-dev:en", "sts17"])
    assert args.tasks == ["stsb-dev:en", "sts17"]
    assert parser.parse_args(["quickstart", "--suite", "stsb-dev:en,sts17"]).suite == "stsb-dev:en,sts17"
    with pytest.raises(SystemExit):
        parser.parse_args(["quickstart", "--tasks", "sts17", "--suite", "quick"])
    assert parser.parse_args(["quickstart"]).precision == "auto"
    assert parser.parse_args(["quickstart", "--precision", "fp32"]).precision == "fp32"
