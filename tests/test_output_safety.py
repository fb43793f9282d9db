"""Nothing the user had is lost: outputs never replace inputs, never leave temporaries, and bad counts or devices
are one-line errors, through the helper every writer shares (``mlsimcse.io_utils``) and through the commands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_mining_support import KeyedEncoder

from mlsimcse import encoder as encoder_module
from mlsimcse import io_utils
from mlsimcse.cli import main
from mlsimcse.devices import resolve_device
from mlsimcse.encoder import SentenceEncoder
from mlsimcse.errors import InputError
from mlsimcse.io_utils import atomic_path, check_output_path, refuse_overwriting_inputs, remove_stale_temporaries
from mlsimcse.mining import options
from mlsimcse.mining.options import EncodeOptions

REPO = Path(__file__).resolve().parent.parent
HOST = io_utils._HOST


def temporaries(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if ".tmp-" in path.name or ".old-" in path.name)


@pytest.fixture()
def corpus_pair(tmp_path):
    src, tgt = tmp_path / "s.de", tmp_path / "t.en"
    src.write_text("1|der mann spielt\n2|der hund\n3|die katze\n", encoding="utf-8")
    tgt.write_text("1|the man plays\n2|the dog\n3|the cat\n", encoding="utf-8")
    return src, tgt


@pytest.fixture()
def fake_model(monkeypatch):
    monkeypatch.setattr(options.ModelSpec, "load", lambda self: KeyedEncoder(dim=16, name_or_path="org/fake"))


# ------------------------------------------------------------------ the helper


def test_an_output_resolving_to_an_input_is_refused(tmp_path):
    source = tmp_path / "s.de"
    source.write_text("keep me\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.de").symlink_to(source)
    os.link(source, tmp_path / "hard.de")
    for output in (source, tmp_path / "sub" / ".." / "s.de", tmp_path / "link.de", tmp_path / "hard.de"):
        with pytest.raises(InputError, match=r"also an input of the command .*choose another output path"):
            refuse_overwriting_inputs([output], [tmp_path / "other", source])
    with pytest.raises(InputError, match="output folder holds an input"):
        refuse_overwriting_inputs([tmp_path], [source])
    refuse_overwriting_inputs([tmp_path / "new.tsv"], [source, None, "org/hub-model"])  # nothing to destroy
    with pytest.raises(InputError, match="also an input"):
        with atomic_path(tmp_path / "link.de", inputs=[source]) as tmp:
            tmp.write_text("pairs")
    assert source.read_text() == "keep me\n" and (tmp_path / "link.de").is_symlink()
    assert temporaries(tmp_path) == []


def test_a_symlinked_output_replaces_the_file_it_points_to_and_keeps_the_link(tmp_path):
    (tmp_path / "runs").mkdir()
    real = tmp_path / "runs" / "pairs-1.tsv"
    real.write_text("old")
    (tmp_path / "latest.tsv").symlink_to(real)
    with atomic_path(tmp_path / "latest.tsv") as tmp:
        tmp.write_text("new")
    assert (tmp_path / "latest.tsv").is_symlink() and real.read_text() == "new"


def test_a_folder_named_as_a_file_output_and_the_reverse_are_refused_before_any_work(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a folder; give the path of the file"):
        with atomic_path(tmp_path / "taken"):
            raise AssertionError("the body ran")
    with pytest.raises(InputError, match="is a file, but a folder is written here"):
        check_output_path(tmp_path / "file", is_dir=True)
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_output_path(tmp_path / "file" / "deeper" / "out.tsv")
    assert temporaries(tmp_path) == [] and (tmp_path / "file").read_text() == "x"


@pytest.mark.parametrize("is_dir", [False, True])
def test_every_failure_removes_the_temporary_and_leaves_the_old_output(tmp_path, monkeypatch, is_dir):
    target = tmp_path / "out"
    with atomic_path(target, is_dir=is_dir) as tmp:
        (tmp / "a" if is_dir else tmp).write_text("first")
    with pytest.raises(RuntimeError):
        with atomic_path(target, is_dir=is_dir) as tmp:
            (tmp / "a" if is_dir else tmp).write_text("second")
            raise RuntimeError("the writer failed")
    real_replace = os.replace

    def failing_replace(src, dst):
        if ".tmp-" in str(src):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(io_utils.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space left"):
        with atomic_path(target, is_dir=is_dir) as tmp:
            (tmp / "a" if is_dir else tmp).write_text("third")
    assert temporaries(tmp_path) == []
    assert (target / "a" if is_dir else target).read_text() == "first"


KILLED_WRITER = """
import os, signal, sys
from mlsimcse.io_utils import atomic_path
with atomic_path(sys.argv[1]) as part, atomic_path(sys.argv[2], is_dir=True) as folder:
    part.write_text("half a file")
    (folder / "half").write_text("half a folder")
    print(os.getpid(), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_next_write_removes_what_a_killed_run_left_and_nothing_else(tmp_path):
    pairs, model = tmp_path / "pairs.tsv", tmp_path / "model"
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(pairs), str(model)], capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    pid = killed.stdout.strip()
    left = temporaries(tmp_path)
    assert len(left) == 2 and all(f".tmp-{HOST}.{pid}." in name for name in left)
    live = [f".pairs.tsv.tmp-{HOST}.{os.getppid()}.abcdefgh",  # a process that still runs
            f".pairs.tsv.tmp-another-host.{pid}.abcdefgh",  # a pid of another machine (a shared folder)
            ".pairs.tsv.tmp-k2j4l1x9"]  # an older mlsimcse's name: whose it is cannot be told
    for name in live:
        (tmp_path / name).write_text("someone else's")
    with atomic_path(pairs) as tmp:
        tmp.write_text("complete")
    with atomic_path(model, is_dir=True) as tmp:
        (tmp / "weights").write_text("complete")
    assert pairs.read_text() == "complete" and (model / "weights").read_text() == "complete"
    assert temporaries(tmp_path) == sorted(live)


def test_a_folder_a_killed_swap_moved_aside_is_put_back(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    aside = tmp_path / f".model.old-{HOST}.{dead.stdout.strip()}"
    aside.mkdir()
    (aside / "weights").write_text("the user's model")
    assert remove_stale_temporaries(tmp_path / "model") == [aside]
    assert (tmp_path / "model" / "weights").read_text() == "the user's model" and not aside.exists()


# ------------------------------------------------------------------ the commands


def test_encode_refuses_to_write_over_its_input_or_into_a_folder(tmp_path, tiny_bert, capsys):
    sentences = tmp_path / "x.txt"
    sentences.write_text("a man plays\nthe dog\n", encoding="utf-8")
    before = sentences.read_bytes()
    (tmp_path / "vectors").mkdir()
    for output in (sentences, tmp_path / "sub" / ".." / "x.txt", tmp_path / "vectors"):
        assert main(["encode", str(tiny_bert), "--input", str(sentences), "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert err.count("also an input of the command") == 2 and "is a folder; give the path of the file" in err
    assert "Traceback" not in err
    assert sentences.read_bytes() == before and temporaries(tmp_path) == []
    assert not list((tmp_path / "vectors").iterdir())


def test_mining_commands_refuse_outputs_that_are_their_inputs(corpus_pair, tmp_path, capsys, fake_model):
    src, tgt = corpus_pair
    originals = {path: path.read_bytes() for path in corpus_pair}
    (tmp_path / "link.en").symlink_to(tgt)
    cache = ["--cache-dir", str(tmp_path / "cache")]
    pair = ["--src", str(src), "--tgt", str(tgt)]
    for out in (src, tmp_path / "x" / ".." / "t.en", tmp_path / "link.en"):
        assert main(["mine", *pair, "--out", str(out), *cache]) == 2
        assert main(["mine-search", *pair, "--part", "0/1", "--out", str(out), *cache]) == 2
    assert main(["mine-search", *pair, "--part", "0/1", "--out", str(tmp_path / "p0.npz"), *cache]) == 0
    part = (tmp_path / "p0.npz").read_bytes()
    assert main(["mine-merge", *pair, "--parts", str(tmp_path / "p0.npz"), "--out", str(tmp_path / "p0.npz")]) == 2
    assert main(["mine", *pair, "--out", str(tmp_path), *cache]) == 2
    err = capsys.readouterr().err
    assert err.count("also an input of the command") == 7 and "Traceback" not in err
    assert {path: path.read_bytes() for path in corpus_pair} == originals
    assert (tmp_path / "p0.npz").read_bytes() == part and (tmp_path / "link.en").is_symlink()
    assert temporaries(tmp_path) == []


def test_eval_refuses_an_output_that_is_a_task_file_or_a_folder(corpus_pair, tmp_path, tiny_bert, capsys):
    src, tgt = corpus_pair
    task = f"parallel:{src},{tgt}"
    before = src.read_bytes()
    assert main(["eval", str(tiny_bert), "--tasks", task, "--output", str(src)]) == 2
    assert main(["eval", str(tiny_bert), "--tasks", task, "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "also an input of the command" in err and "is a folder; give the path of the file" in err
    assert src.read_bytes() == before and temporaries(tmp_path) == []


def test_data_build_and_make_bucc_never_replace_a_folder_holding_their_inputs(tmp_path, capsys):
    corpus = tmp_path / "data" / "fr-en"
    corpus.mkdir(parents=True)
    for lang, text in (("en", "One.\nTwo.\nThree.\nFour.\n"), ("fr", "Un.\nDeux.\nTrois.\nQuatre.\n")):
        (corpus / f"{lang}.txt").write_text(text, encoding="utf-8")
    recipe = tmp_path / "data" / "recipe.yaml"
    recipe.write_text("sources:\n  - name: lines\n    kind: aligned_text\n    shape: parallel\n"
                      "    languages: [en, fr]\n    local: {format: lines, sets: [\"fr-en/{lang}.txt\"]}\n"
                      "decontaminate: false\n", encoding="utf-8")
    build = ["data", "build", str(recipe), "--data-root", str(tmp_path / "data"), "--overwrite"]
    assert main([*build, "--out", str(tmp_path / "data")]) == 2  # holds the recipe and the data
    assert main([*build, "--out", str(corpus)]) == 2  # holds the files the recipe read
    assert main([*build, "--out", str(recipe)]) == 2
    assert main(["make-bucc", "--src", str(corpus / "fr.txt"), "--tgt", str(corpus / "en.txt"), "--out", str(corpus),
                 "--split", "sample=1:2", "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.count("holds an input of the command") == 3 and "also an input of the command" in err
    assert recipe.is_file() and (corpus / "fr.txt").read_text(encoding="utf-8").startswith("Un.")
    assert temporaries(tmp_path) == [] and temporaries(tmp_path / "data") == []
    assert main([*build, "--out", str(tmp_path / "built")]) == 0


# ------------------------------------------------------------------ counts and devices


@pytest.mark.parametrize("argv", [
    ["encode", "M", "--input", "x", "--output", "y", "--batch-size", "0"],
    ["encode", "M", "--input", "x", "--output", "y", "--max-length", "-1"],
    ["mine", "--src", "a", "--tgt", "b", "--out", "c", "--batch-size", "0"],
    ["mine", "--src", "a", "--tgt", "b", "--out", "c", "--shard-rows", "0"],
    ["mine-search", "--src", "a", "--tgt", "b", "--part", "0/1", "--out", "c", "--chunk-size", "0"],
    ["eval", "M", "--tasks", "stsb:en", "--batch-size", "0"],
    ["eval", "M", "--tasks", "stsb:en", "--max-length", "zero"],
])
def test_counts_below_one_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as usage:
        main(argv)
    assert usage.value.code == 2
    option = next(arg for arg in argv if arg in ("--batch-size", "--max-length", "--shard-rows", "--chunk-size"))
    assert f"argument {option}:" in capsys.readouterr().err


def test_library_encode_refuses_a_batch_size_below_one_instead_of_looping(tiny_bert, monkeypatch):
    encoder = SentenceEncoder.from_pretrained(tiny_bert, pooling="mean")
    original = encoder_module._length_batches

    def guarded(lengths, batch_size, max_tokens):
        assert batch_size >= 1, "a batch size below 1 reached batching (it loops forever without a token limit)"
        return original(lengths, batch_size, max_tokens)

    monkeypatch.setattr(encoder_module, "_length_batches", guarded)
    for settings in ({"batch_size": 0, "max_batch_tokens": 0}, {"batch_size": -3}, {"max_length": -1}):
        with pytest.raises(InputError, match="must be a whole number of at least 1"):
            encoder.encode(["the dog"], **settings)
    with pytest.raises(InputError, match="batch_size must be a whole number of at least 1"):
        EncodeOptions(batch_size=0)


def test_an_absent_device_is_a_clear_error_everywhere(tiny_bert, tmp_path, capsys, corpus_pair, fake_model):
    absent = f"cuda:{torch.cuda.device_count()}"  # one past the last GPU: absent on every machine
    for device in (absent, "bogus"):
        with pytest.raises(InputError, match="not available|unknown device"):
            resolve_device(device)
    assert resolve_device("cpu") == torch.device("cpu")
    encoder = SentenceEncoder.from_pretrained(tiny_bert, pooling="mean")
    with pytest.raises(InputError, match="not available"):
        encoder.encode(["the dog"], device=absent)
    sentences = tmp_path / "x.txt"
    sentences.write_text("the dog\n", encoding="utf-8")
    assert main(["encode", str(tiny_bert), "--input", str(sentences), "--output", str(tmp_path / "v.npy"),
                 "--device", absent]) == 2
    src, tgt = corpus_pair
    assert main(["mine", "--src", str(src), "--tgt", str(tgt), "--out", str(tmp_path / "p.tsv"),
                 "--cache-dir", str(tmp_path / "cache"), "--device", absent]) == 2
    err = capsys.readouterr().err
    assert err.count(f"device '{absent}' is not available") == 2 and "Traceback" not in err
    assert not (tmp_path / "v.npy").exists() and not (tmp_path / "p.tsv").exists()
    assert np.asarray(encoder.encode(["the dog"], device="cpu")).shape == (1, 32)
