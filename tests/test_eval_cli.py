"""`mlsimcse eval` and `mlsimcse make-bucc` end to end on a tiny random BERT and a small data root."""

from __future__ import annotations

import hashlib
import json

import pytest

import mlsimcse
from mlsimcse.cli import main


@pytest.fixture()
def small_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MLSIMCSE_DATA_ROOT", str(tmp_path))
    stsb = tmp_path / "stsb_multi_mt"
    stsb.mkdir()
    (stsb / "stsb-en-test.csv").write_text(
        "a man plays guitar,a man plays piano,2.0\r\na dog runs,a dog is running,4.8\r\n"
        "a cat eats food,a woman sits in a car,0.2\r\nthe house is red,the big red house,3.9\r\n"
    )
    (stsb / "stsb-de-test.csv").write_text(
        "der mann spielt gitarre,der mann spielt piano,2.0\r\nder hund rennt,der hund rennt schnell,4.8\r\n"
        "die katze frisst,die frau sitzt im auto,0.2\r\ndas haus ist rot,das grosse rote haus,3.9\r\n"
    )
    tatoeba = tmp_path / "tatoeba_laser"
    tatoeba.mkdir()
    (tatoeba / "tatoeba.deu-eng.deu").write_text("der hund\ndie katze\nder mann\n")
    (tatoeba / "tatoeba.deu-eng.eng").write_text("the dog\nthe cat\nthe man\n")
    return tmp_path


def test_eval_prints_a_table_and_writes_pinned_json(tiny_bert, small_data_root, tmp_path, capsys):
    output = tmp_path / "results.json"
    code = main(
        ["eval", str(tiny_bert), "--tasks", "stsb:en", "xstsb:en-de", "tatoeba:deu", "--output", str(output),
         "--batch-size", "2"]
    )
    captured = capsys.readouterr()
    printed = captured.out  # the table; how each model's run went is a message, on stderr
    assert code == 0
    assert "stsb:en [spearman]" in printed and "tatoeba:deu [mean]" in printed
    assert "sentences encoded for" in captured.err and "sentences encoded for" not in printed

    document = json.loads(output.read_text())
    assert document["mlsimcse_version"] == mlsimcse.__version__
    assert document["date"][:2] == "20"
    (run,) = document["runs"]
    assert run["model"] == str(tiny_bert)
    # stsb:en 8 + xstsb:en-de 8 (its 4 English sentence1s already seen) + tatoeba 6
    assert run["embedding_cache"] == {"sentences_referenced": 22, "sentences_encoded": 18}
    by_task = {result["task"]: result for result in run["results"]}
    stsb_bytes = (small_data_root / "stsb_multi_mt" / "stsb-en-test.csv").read_bytes()
    assert by_task["stsb:en"]["data_sha256"] == hashlib.sha256(stsb_bytes).hexdigest()
    assert "stsb_multi_mt en test" in by_task["stsb:en"]["protocol"]
    assert set(by_task["tatoeba:deu"]["scores"]) == {"xx2en", "en2xx", "mean"}


def test_eval_reports_bad_task_names_as_errors(tiny_bert, small_data_root, tmp_path, capsys):
    code = main(["eval", str(tiny_bert), "--tasks", "stsb:en", "nonsense", "--output", str(tmp_path / "r.json")])
    assert code == 2
    assert "error: unknown task 'nonsense'" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_make_bucc_then_eval_bucc(tiny_bert, small_data_root, tmp_path, capsys):
    source, target = tmp_path / "c.de", tmp_path / "c.en"
    words = ["hund", "katze", "mann", "frau", "haus", "auto", "gitarre", "park", "essen", "strasse"]
    english = ["dog", "cat", "man", "woman", "house", "car", "guitar", "park", "food", "street"]
    source.write_text("".join(f"der {a} und die {b}\n" for a in words for b in words[:3]))
    target.write_text("".join(f"the {a} and the {b}\n" for a in english for b in english[:3]))
    folder = tmp_path / "bench" / "de-en"
    assert main(["make-bucc", "--src", str(source), "--tgt", str(target), "--out", str(folder),
                 "--split", "sample=5:6", "training=8:10"]) == 0
    output = tmp_path / "bucc.json"
    assert main(["eval", str(tiny_bert), "--tasks", f"bucc:{folder}", "--output", str(output)]) == 0
    (result,) = json.loads(output.read_text())["runs"][0]["results"]
    assert result["details"]["gold_pairs"] == 8 and result["details"]["tune_split"] == "sample"
    assert 0.0 <= result["scores"]["f1"] <= 100.0
