"""The command line: help text, `encode`, and bad input turned into exit code 2 without partial output."""

from __future__ import annotations

import numpy as np
import pytest

from mlsimcse.cli import main
from mlsimcse.encoder import SentenceEncoder
from mlsimcse.errors import InputError
from mlsimcse.records import Example


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in ("train", "encode", "data", "eval", "mine", "export", "quickstart"):
        assert f"\n    {command}" in text


def test_encode_writes_embeddings_in_input_order(tmp_path, tiny_bert):
    sentences = ["the man plays the guitar", "le chat", "der hund spielt"]
    (tmp_path / "in.txt").write_text("\n".join(sentences) + "\n", encoding="utf-8")
    assert main(["encode", str(tiny_bert), "--input", str(tmp_path / "in.txt"), "--output",
                 str(tmp_path / "out.npy")]) == 0
    expected = SentenceEncoder.from_pretrained(tiny_bert).encode(sentences)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-6)


def test_encode_bad_input_exits_2_naming_the_line_and_writes_nothing(tmp_path, tiny_bert, capsys):
    (tmp_path / "in.txt").write_text("a sentence\n\nanother\n", encoding="utf-8")
    assert main(["encode", str(tiny_bert), "--input", str(tmp_path / "in.txt"), "--output",
                 str(tmp_path / "out.npy")]) == 2
    assert f"{tmp_path / 'in.txt'}:2: empty sentence" in capsys.readouterr().err
    assert main(["encode", str(tmp_path / "no-model"), "--input", str(tmp_path / "in.txt"), "--output",
                 str(tmp_path / "out.npy")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


def test_train_with_unknown_config_key_exits_2(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("learning_rat: 1\n")
    assert main(["train", str(config)]) == 2
    assert f"{config}:1: learning_rat is an unknown key" in capsys.readouterr().err


def test_example_with_an_empty_side_is_rejected():
    with pytest.raises(InputError, match="empty translation"):
        Example("parallel", ("a sentence", "  "))
    with pytest.raises(InputError, match="needs 3"):
        Example("sup", ("a", "b"))
