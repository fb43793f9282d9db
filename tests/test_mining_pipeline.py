"""``mine`` end to end with a fake encoder: output, reuse, split runs, kills, and bad input through the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_mining_support import KeyedEncoder

from mlsimcse import faults
from mlsimcse.cli import main
from mlsimcse.errors import InputError
from mlsimcse.mining import options
from mlsimcse.mining.cache import MANIFEST
from mlsimcse.mining.options import EncodeOptions, ScoringOptions
from mlsimcse.mining.parts import Part
from mlsimcse.mining.pipeline import embed_files, merge_files, mine_corpora, search_files

REPO = Path(__file__).resolve().parent.parent
PLANTED = 30


@pytest.fixture()
def corpora(tmp_path):
    """German and English files: 30 planted translations (shared key), distractors, repeated lines."""
    rng = np.random.default_rng(0)
    src_lines = [f"{k}|de satz {k}" for k in range(PLANTED)] + [f"d{k}|de rauschen {k}" for k in range(15)]
    tgt_lines = [f"{k}|en sentence {k}" for k in range(PLANTED)] + [f"e{k}|en noise {k}" for k in range(25)]
    src_lines += src_lines[:5]
    tgt_lines += tgt_lines[3:6]
    src, tgt = tmp_path / "corpus.de", tmp_path / "corpus.en"
    src.write_text("\n".join(rng.permutation(src_lines)) + "\n", encoding="utf-8")
    tgt.write_text("\n".join(rng.permutation(tgt_lines)) + "\n", encoding="utf-8")
    return src, tgt


def read_rows(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


def quiet(cache_dir: Path, **settings) -> EncodeOptions:
    return EncodeOptions(cache_dir=cache_dir, progress=False, **settings)


def test_mine_writes_scored_pairs_best_first_and_finds_the_planted_translations(corpora, tmp_path):
    out = tmp_path / "pairs.tsv"
    summary = mine_corpora(*corpora, out, KeyedEncoder(), scoring=ScoringOptions(greedy=True),
                           encoding=quiet(tmp_path / "cache"))
    rows = read_rows(out)
    scores = [float(row[0]) for row in rows]
    assert all(len(row) == 3 for row in rows) and scores == sorted(scores, reverse=True)
    keys = [(row[1].split("|")[0], row[2].split("|")[0]) for row in rows]
    assert keys[:PLANTED] == [(key, key) for key, _ in keys[:PLANTED]]
    assert {src for src, _ in keys[:PLANTED]} == {str(k) for k in range(PLANTED)}
    assert (summary.src_lines, summary.src_unique, summary.tgt_lines, summary.tgt_unique) == (50, 45, 58, 55)
    assert summary.rows_written == summary.pairs == len(rows) >= PLANTED
    assert set(summary.stage_seconds) == {"read", "load model", "encode", "search", "score", "write"}
    assert summary.peak_rss > 0 and "peak memory" in summary.format()


class SentenceTransformerLike:
    """Speaks sentence-transformers' encode options, names no model and has no ``embedding_dim``."""

    def __init__(self):
        self.keyed = KeyedEncoder()

    def get_sentence_embedding_dimension(self) -> int:
        return self.keyed.embedding_dim

    def encode(self, sentences, batch_size=32, show_progress_bar=None, convert_to_numpy=True,
               normalize_embeddings=False, device=None):
        return self.keyed.encode(sentences, batch_size, normalize=normalize_embeddings)


def test_mine_takes_any_encoder_eval_takes(corpora, tmp_path):
    """A SentenceTransformer fits ``mine`` as it fits ``eval``: same pairs as mlsimcse's own encoder options."""
    ours, theirs = tmp_path / "ours.tsv", tmp_path / "theirs.tsv"
    mine_corpora(*corpora, ours, KeyedEncoder(), encoding=quiet(tmp_path / "cache"))
    mine_corpora(*corpora, theirs, SentenceTransformerLike(), encoding=quiet(tmp_path / "cache"))
    assert theirs.read_text(encoding="utf-8") == ours.read_text(encoding="utf-8")
    with pytest.raises(InputError, match="no dtype or precision"):
        mine_corpora(*corpora, tmp_path / "bf16.tsv", SentenceTransformerLike(),
                     encoding=quiet(tmp_path / "other-cache", dtype="bfloat16"))


def test_mine_takes_a_real_sentence_transformer(corpora, tmp_path, random_encoder):
    from sentence_transformers import SentenceTransformer

    random_encoder.save_pretrained(tmp_path / "model")
    ours, theirs = tmp_path / "ours.tsv", tmp_path / "theirs.tsv"
    mine_corpora(*corpora, ours, random_encoder, encoding=quiet(tmp_path / "cache"))
    model = SentenceTransformer(str(tmp_path / "model"), device="cpu")
    mine_corpora(*corpora, theirs, model, encoding=quiet(tmp_path / "cache"))
    assert len(read_rows(theirs)) == len(read_rows(ours)) > 0
    assert [row[1:] for row in read_rows(theirs)] == [row[1:] for row in read_rows(ours)]


def test_ids_output_expands_each_pair_to_every_line_of_both_sentences(corpora, tmp_path):
    out = tmp_path / "pairs.tsv"
    mine_corpora(*corpora, out, KeyedEncoder(), scoring=ScoringOptions(greedy=True, emit="ids"),
                 encoding=quiet(tmp_path / "cache"))
    src_lines = corpora[0].read_text(encoding="utf-8").splitlines()
    tgt_lines = corpora[1].read_text(encoding="utf-8").splitlines()
    rows = read_rows(out)
    pairs = {(src_lines[int(a) - 1].split("|")[0], tgt_lines[int(b) - 1].split("|")[0]) for _, a, b in rows}
    assert {(str(k), str(k)) for k in range(PLANTED)} <= pairs
    lines_of_key_3 = [(a, b) for _, a, b in rows if src_lines[int(a) - 1].startswith("3|")]
    assert len(lines_of_key_3) == 4  # two German lines x two English lines hold translation 3


def test_threshold_and_top_fraction_trim_the_output(corpora, tmp_path):
    full, trimmed = tmp_path / "full.tsv", tmp_path / "trimmed.tsv"
    mine_corpora(*corpora, full, KeyedEncoder(), encoding=quiet(tmp_path / "cache"))
    threshold = float(read_rows(full)[9][0])
    mine_corpora(*corpora, trimmed, KeyedEncoder(), encoding=quiet(tmp_path / "cache"),
                 scoring=ScoringOptions(threshold=threshold, top_fraction=0.5))
    assert read_rows(trimmed) == read_rows(full)[:5]


def test_second_run_reuses_the_cache_and_writes_the_same_pairs(corpora, tmp_path):
    first, second = tmp_path / "first.tsv", tmp_path / "second.tsv"
    mine_corpora(*corpora, first, KeyedEncoder(), encoding=quiet(tmp_path / "cache", shard_rows=8))
    encoder = KeyedEncoder()
    mine_corpora(*corpora, second, encoder, encoding=quiet(tmp_path / "cache", shard_rows=8))
    assert encoder.encoded == []
    assert first.read_bytes() == second.read_bytes()


def test_split_into_embed_search_merge_jobs_equals_one_run(corpora, tmp_path):
    single, merged = tmp_path / "single.tsv", tmp_path / "merged.tsv"
    scoring = ScoringOptions(k=3, greedy=True)
    mine_corpora(*corpora, single, KeyedEncoder(), scoring=scoring, encoding=quiet(tmp_path / "one", shard_rows=8))
    encoding = quiet(tmp_path / "shared", shard_rows=8)
    done = [embed_files(list(corpora), KeyedEncoder(), part=Part(i, 2), encoding=encoding) for i in range(2)]
    assert list(done[0].values()) == [False, False] and list(done[1].values()) == [True, True]
    part_files = [tmp_path / f"part-{i}.npz" for i in range(3)]
    for i, part_file in enumerate(part_files):
        encoder = KeyedEncoder()
        search_files(*corpora, part_file, encoder, part=Part(i, 3), k=3, encoding=encoding)
        assert encoder.encoded == []
    merge_files(*corpora, list(reversed(part_files)), merged, scoring=scoring)
    assert merged.read_bytes() == single.read_bytes()
    with pytest.raises(InputError, match="exactly once"):
        merge_files(*corpora, part_files[:2], tmp_path / "x.tsv", scoring=scoring)
    with pytest.raises(InputError, match="k=3 neighbours but k=4"):
        merge_files(*corpora, part_files, tmp_path / "x.tsv", scoring=ScoringOptions(k=4))
    with pytest.raises(InputError, match="other files"):
        merge_files(corpora[1], corpora[0], part_files, tmp_path / "x.tsv", scoring=scoring)
    assert not (tmp_path / "x.tsv").exists()


FAKE_MODEL_DRIVER = """
import argparse, sys
sys.path.insert(0, {tests!r})
from test_mining_support import KeyedEncoder
from mlsimcse.mining import cli, options, output

output.WRITE_CHUNK = 5
options.ModelSpec.load = lambda self: KeyedEncoder()
parser = argparse.ArgumentParser()
cli.register(parser.add_subparsers())
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


@pytest.mark.parametrize("stage,fault", [("encode", "after_shard_written:1"), ("write", "mid_pairs_write:10")])
def test_killed_mine_resumes_from_finished_shards_and_writes_the_same_output(corpora, tmp_path, stage, fault):
    """``mine`` on the fake encoder, SIGKILLed by a fault point: after two source shards, or after 10 of the pairs."""
    out, cache = tmp_path / "out" / "pairs.tsv", tmp_path / "cache"
    driver = tmp_path / "driver.py"
    driver.write_text(FAKE_MODEL_DRIVER.format(tests=str(REPO / "tests")))
    args = ["mine", "--src", str(corpora[0]), "--tgt", str(corpora[1]), "--out", str(out), "--cache-dir", str(cache),
            "--shard-rows", "4", "--batch-size", "1", "--greedy"]
    killed = subprocess.run([sys.executable, str(driver), *args], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO), faults.ENV: fault}, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert f"fault point {fault} reached" in killed.stderr
    assert not out.exists()
    if stage == "write":
        assert len(list(out.parent.glob(".pairs.tsv.tmp-*"))) == 1  # the kill hit mid-write
    finished = sorted(path.name for path in cache.glob("*/shard-*.npy"))
    assert len(finished) == (2 if stage == "encode" else 12 + 14)
    assert not list(cache.glob(f"*/{MANIFEST}")) or stage == "write"

    encoder = KeyedEncoder()
    rerun = mine_corpora(*corpora, out, encoder, scoring=ScoringOptions(greedy=True),
                         encoding=quiet(cache, shard_rows=4, batch_size=1))
    assert len(encoder.encoded) == (rerun.src_unique - 8 + rerun.tgt_unique if stage == "encode" else 0)
    assert not list(out.parent.glob(".pairs.tsv.tmp-*"))  # the killed run's partial output is gone
    reference = tmp_path / "reference.tsv"
    mine_corpora(*corpora, reference, KeyedEncoder(), scoring=ScoringOptions(greedy=True),
                 encoding=quiet(tmp_path / "fresh", shard_rows=4))
    assert out.read_bytes() == reference.read_bytes()


@pytest.fixture()
def fake_model(monkeypatch):
    """Make the CLI load a KeyedEncoder of the dimension set in ``dims[0]``, named like a Hub model."""
    dims = [64]
    monkeypatch.setattr(options.ModelSpec, "load", lambda self: KeyedEncoder(dim=dims[0], name_or_path="org/fake"))
    return dims


def run_cli(*args: str) -> int:
    return main(["mine", *args])


@pytest.mark.parametrize("problem", ["missing", "empty", "tab", "dimension"])
def test_bad_input_fails_clearly_with_no_output(corpora, tmp_path, capsys, fake_model, problem):
    src, tgt = corpora
    cache, out = tmp_path / "cache", tmp_path / "out" / "pairs.tsv"
    expected = {"missing": f"{tmp_path / 'absent.de'}: file not found", "empty": "no sentences",
                "tab": f"{tgt}:4: no tab", "dimension": "dimension 64 but the model produces 24"}
    if problem == "missing":
        src = tmp_path / "absent.de"
    elif problem == "empty":
        tgt.write_text("\n\n")
    elif problem == "tab":
        tgt.write_text("1\tone\n2\ttwo\n3\tthree\nfour without id\n")
    else:
        assert run_cli("--src", str(src), "--tgt", str(tgt), "--out", str(tmp_path / "ok.tsv"),
                       "--cache-dir", str(cache)) == 0
        fake_model[0] = 24
    code = run_cli("--src", str(src), "--tgt", str(tgt), "--out", str(out), "--cache-dir", str(cache))
    assert code == 2
    assert expected[problem] in capsys.readouterr().err
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_cli_prints_the_summary_and_splits_across_jobs(corpora, tmp_path, capsys, fake_model):
    src, tgt = (str(path) for path in corpora)
    cache = str(tmp_path / "cache")
    assert run_cli("--src", src, "--tgt", tgt, "--out", str(tmp_path / "one.tsv"), "--cache-dir", cache) == 0
    report = capsys.readouterr().out
    assert "source 50 (45 unique), target 58 (55 unique)" in report and "peak memory (RSS)" in report
    assert main(["mine-embed", "--input", src, tgt, "--part", "0/1", "--cache-dir", cache]) == 0
    assert "all shards encoded" in capsys.readouterr().out
    for i in range(2):
        assert main(["mine-search", "--src", src, "--tgt", tgt, "--part", f"{i}/2", "--cache-dir", cache,
                     "--out", str(tmp_path / f"p{i}.npz")]) == 0
    assert main(["mine-merge", "--src", src, "--tgt", tgt, "--parts", str(tmp_path / "p0.npz"),
                 str(tmp_path / "p1.npz"), "--out", str(tmp_path / "merged.tsv")]) == 0
    assert (tmp_path / "merged.tsv").read_bytes() == (tmp_path / "one.tsv").read_bytes()
    with pytest.raises(SystemExit) as usage_error:
        main(["mine-search", "--src", src, "--tgt", tgt, "--part", "2/2", "--out", "x.npz"])
    assert usage_error.value.code == 2
    assert "argument --part: part 2/2 is out of range" in capsys.readouterr().err
