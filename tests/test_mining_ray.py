"""``mine --engine ray`` on an in-process local Ray cluster: same bytes as ``mine``, reuse, worker kills.

One two-CPU cluster serves the whole module (starting one costs seconds) and is shut down at its end,
taking its worker processes with it. Workers import this module (for the encoders below) through the
``PYTHONPATH`` the cluster is started with.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from process_support import torch_threads
from test_mining_pipeline import corpora, quiet  # noqa: F401 (corpora is a fixture)
from test_mining_support import KeyedEncoder

from mlsimcse.cli import main
from mlsimcse.errors import InputError
from mlsimcse.mining.options import ModelSpec, ScoringOptions
from mlsimcse.mining.pipeline import mine_corpora
from mlsimcse.mining.ray_engine import RayOptions, mine_on_ray

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, object_store_memory=96 * 2 ** 20,
             log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}})
    yield ray
    ray.shutdown()


def two_workers() -> RayOptions:
    return RayOptions(num_workers=2, progress=False)


def snapshot(folder: Path) -> dict[str, int]:
    """Modification time of every shard and part file under a cache folder, by relative path."""
    return {str(path.relative_to(folder)): path.stat().st_mtime_ns for path in folder.rglob("*.np[yz]")}


def test_ray_engine_writes_the_bytes_of_mine_and_a_rerun_redoes_only_what_is_missing(ray_cluster, corpora,
                                                                                      tmp_path):
    scoring = ScoringOptions(k=3, greedy=True)
    local, on_ray = tmp_path / "local.tsv", tmp_path / "ray.tsv"
    mine_corpora(*corpora, local, KeyedEncoder(), scoring=scoring, encoding=quiet(tmp_path / "one", shard_rows=8))
    cache = tmp_path / "shared"
    summary = mine_on_ray(*corpora, on_ray, KeyedEncoder(), cluster=two_workers(), scoring=scoring,
                          encoding=quiet(cache, shard_rows=8))
    assert on_ray.read_bytes() == local.read_bytes()
    assert list(summary.stage_seconds)[:2] == ["encode", "search"] and "merge" in summary.stage_seconds
    first = snapshot(cache)
    assert sum(name.endswith(".npy") for name in first) == 6 + 7  # 45 and 55 unique sentences, 8 per shard
    assert sorted(Path(name).name for name in first if name.endswith(".npz")) == [
        "part-00000-of-00002.npz", "part-00001-of-00002.npz"]

    # what a driver killed half-way leaves: some shards and parts on disk, no output
    lost_shard = sorted(name for name in first if name.endswith("shard-00003.npy"))[0]
    lost_part = sorted(name for name in first if name.endswith(".npz"))[-1]
    (cache / lost_shard).unlink()
    (cache / lost_part).unlink()
    on_ray.unlink()
    mine_on_ray(*corpora, on_ray, KeyedEncoder(), cluster=two_workers(), scoring=scoring,
                encoding=quiet(cache, shard_rows=8))
    assert on_ray.read_bytes() == local.read_bytes()
    second = snapshot(cache)
    assert second.keys() == first.keys()
    redone = {name for name in first if second[name] != first[name]}
    assert redone == {lost_shard, lost_part}


def test_ray_engine_reports_bad_input_and_a_cluster_too_small(ray_cluster, corpora, tmp_path):
    src, tgt = corpora
    tgt.write_text("1\tone\n2\ttwo\nthree without id\n")
    with pytest.raises(InputError, match=f"^{tgt}:3: no tab"):
        mine_on_ray(src, tgt, tmp_path / "pairs.tsv", KeyedEncoder(), cluster=two_workers(),
                    encoding=quiet(tmp_path / "cache"))
    with pytest.raises(InputError, match="^.*absent: model folder not found"):
        mine_on_ray(src, src, tmp_path / "pairs.tsv", ModelSpec(str(tmp_path / "absent")), cluster=two_workers(),
                    encoding=quiet(tmp_path / "cache"))
    with pytest.raises(InputError, match="has 2 CPUs but 3 workers x 1 need 3"):
        mine_on_ray(src, src, tmp_path / "pairs.tsv", KeyedEncoder(), cluster=RayOptions(num_workers=3),
                    encoding=quiet(tmp_path / "cache"))
    assert not (tmp_path / "pairs.tsv").exists()


def test_a_worker_computes_on_its_whole_cpus_and_never_on_none():
    assert [RayOptions(cpus_per_worker=cpus).threads_per_worker() for cpus in (0.25, 1, 1.5, 4)] == [1, 1, 1, 4]


def test_engine_ray_without_ray_installed_is_a_clear_error(corpora, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets on a machine without the extra
    code = main(["mine", "--src", str(corpora[0]), "--tgt", str(corpora[1]), "--out", str(tmp_path / "p.tsv"),
                 "--engine", "ray"])
    assert code == 2
    assert 'error: --engine ray needs Ray, an optional extra: pip install -e ".[ray]"' in capsys.readouterr().err


@dataclass(frozen=True)
class PidReportingModel(ModelSpec):
    """The real model; the worker that loads it touches ``<pid_dir>/<its pid>`` on each encode call."""

    pid_dir: str = ""

    def load(self):
        return PidReportingEncoder(super().load(), Path(self.pid_dir))


class PidReportingEncoder:
    def __init__(self, encoder, pid_dir: Path):
        self.encoder = encoder
        self.pid_dir = pid_dir

    def __getattr__(self, name):
        return getattr(self.encoder, name)

    def encode(self, sentences, *args, **kwargs):
        (self.pid_dir / str(os.getpid())).touch()
        return self.encoder.encode(sentences, *args, **kwargs)


SHARD_ROWS = 250


@pytest.fixture(scope="module")
def news(shared_data, minilm, tmp_path_factory):
    """2,000 German and 2,000 English WMT sentences, 1,500 of them translations of each other, and the
    pairs the local engine mines from them with the shared MiniLM."""
    folder = shared_data / "wmt_newstest" / "de-en"
    german = (folder / "newstest2019.de-en.de").read_text(encoding="utf-8").splitlines()
    english = (folder / "newstest2019.de-en.en").read_text(encoding="utf-8").splitlines()
    other_german = (folder / "newstest2018.de-en.de").read_text(encoding="utf-8").splitlines()
    other_english = (folder / "newstest2017.de-en.en").read_text(encoding="utf-8").splitlines()
    src_lines = german[:1500] + other_german[:500]
    tgt_lines = english[:1500] + other_english[:500]
    random.Random(0).shuffle(tgt_lines)
    root = tmp_path_factory.mktemp("news")
    src, tgt = root / "news.de", root / "news.en"
    src.write_text("\n".join(src_lines) + "\n", encoding="utf-8")
    tgt.write_text("\n".join(tgt_lines) + "\n", encoding="utf-8")
    reference = root / "local.tsv"
    with torch_threads(two_workers().threads_per_worker()):  # as each worker computes: same bits on any CPU
        mine_corpora(src, tgt, reference, ModelSpec(str(minilm)), scoring=ScoringOptions(greedy=True),
                     encoding=quiet(root / "local-cache", shard_rows=SHARD_ROWS))
    return src, tgt, reference


def shard_bytes(cache: Path) -> dict[str, bytes]:
    """Every embedding shard under a cache folder, by relative path."""
    return {str(path.relative_to(cache)): path.read_bytes() for path in sorted(cache.glob("*/shard-*.npy"))}


@pytest.mark.slow
def test_ray_mining_of_real_news_with_minilm_is_byte_identical_to_mine(ray_cluster, news, minilm, tmp_path):
    src, tgt, reference = news
    out = tmp_path / "pairs.tsv"
    summary = mine_on_ray(src, tgt, out, ModelSpec(str(minilm)), cluster=two_workers(),
                          scoring=ScoringOptions(greedy=True),
                          encoding=quiet(tmp_path / "cache", shard_rows=SHARD_ROWS))
    assert (summary.src_unique, summary.tgt_unique) == (2000, 2000)
    assert summary.pairs > 1000
    assert shard_bytes(tmp_path / "cache") == shard_bytes(reference.parent / "local-cache")
    assert out.read_bytes() == reference.read_bytes()


def kill_first_encoding_worker(pid_dir: Path, killed: list[int], timeout: float = 600.0) -> None:
    """Wait for a worker to start encoding, then SIGKILL it mid-shard."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reported = sorted(pid_dir.iterdir())
        if reported:
            pid = int(reported[0].name)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.02)


@pytest.mark.slow
def test_a_worker_killed_mid_shard_is_restarted_and_the_output_is_unchanged(ray_cluster, news, minilm, tmp_path):
    src, tgt, reference = news
    pid_dir, out = tmp_path / "pids", tmp_path / "pairs.tsv"
    pid_dir.mkdir()
    killed: list[int] = []
    killer = threading.Thread(target=kill_first_encoding_worker, args=(pid_dir, killed), daemon=True)
    killer.start()
    mine_on_ray(src, tgt, out, PidReportingModel(str(minilm), pid_dir=str(pid_dir)), cluster=two_workers(),
                scoring=ScoringOptions(greedy=True), encoding=quiet(tmp_path / "cache", shard_rows=SHARD_ROWS))
    killer.join(timeout=5)
    assert len(killed) == 1
    workers = {int(path.name) for path in pid_dir.iterdir()}
    assert killed[0] in workers and len(workers) == 3  # two workers, and the one that replaced the killed one
    assert shard_bytes(tmp_path / "cache") == shard_bytes(reference.parent / "local-cache")
    assert len(shard_bytes(tmp_path / "cache")) == 2 * 2000 // SHARD_ROWS
    assert out.read_bytes() == reference.read_bytes()
