"""Nothing the user had is lost: a run's folder is checked and locked before the model loads, a resume keeps
the run's settings and one metrics line per step, and a full disk or a read-only folder is a one-line error.

Most tests continue a copy of one finished 6-step run (checkpoints at steps 3 and 6) through the command line.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from mlsimcse import cli
from mlsimcse.config import load_config
from mlsimcse.errors import InputError
from mlsimcse.records import Example
from mlsimcse.training import loop, write_failures
from mlsimcse.training.checkpoints import complete_checkpoints, staging_dir, verify
from mlsimcse.training.run_folder import ALLOWED_ON_RESUME, resume_changes
from mlsimcse.training.run_lock import LOCK_FILE, RunLock
from process_support import launch_port

REPO = Path(__file__).resolve().parents[1]
PAIRS = [("the man plays the guitar", "der mann spielt gitarre"), ("the woman eats food", "la femme eats food"),
         ("a dog runs in the park", "el perro runs in the park"), ("a cat sits on the car", "die katze sits on car"),
         ("the red house is big", "das red house is big"), ("a small blue car", "a small blue car und"),
         ("the man plays the piano", "le homme joue piano"), ("the dog eats", "le chien eats")]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
       "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_bert) -> tuple[Path, Path]:
    """The config file and the folder of a finished run: 6 steps, checkpoints at 3 and 6, no dev evaluation."""
    folder = tmp_path_factory.mktemp("finished")
    data = folder / "pairs.jsonl"
    data.write_text("".join(Example("parallel", pair, group=f"p{i}").to_json() + "\n"
                            for i, pair in enumerate(PAIRS)), encoding="utf-8")
    values = {"model": {"name_or_path": str(tiny_bert)}, "data": {"sources": [{"path": str(data)}]},
              "batch_size": 4, "max_steps": 6, "save_every": 3, "learning_rate": 0.001, "warmup_steps": 2,
              "eval_task": None, "log_every": 1, "seed": 5}
    config = folder / "config.yaml"
    config.write_text(json.dumps(values), encoding="utf-8")  # JSON is YAML
    loop.train(load_config(config, [f"output_dir={folder / 'run'}"]))
    return config, folder / "run"


@pytest.fixture
def run(finished, tmp_path) -> tuple[Path, Path]:
    """A copy of the finished run to continue or damage; its config file."""
    config, original = finished
    return config, Path(shutil.copytree(original, tmp_path / "run"))


@pytest.fixture
def no_model_loads(monkeypatch):
    """Fail the test if the encoder is loaded: the refusals under test must come before any work."""
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the run was refused")
    monkeypatch.setattr(loop.SentenceEncoder, "from_pretrained", refuse)


def _snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder``, files with their hash and modification time: "nothing touched" is this equal.

    (A folder's own time is left out: the lock and the write probe create and delete a file in it.)
    """
    return {str(path.relative_to(folder)): "" if path.is_dir() else
            f"{path.stat().st_mtime_ns} {hashlib.sha256(path.read_bytes()).hexdigest()}"
            for path in sorted(folder.rglob("*"))}


def _train(capsys, config: Path, out: Path, *args: str) -> tuple[int, str, str]:
    code = cli.main(["train", str(config), f"output_dir={out}", *args])
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def _steps(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]


# ------------------------------------------------------------------------------ resume needs a run to continue


def test_resume_without_checkpoints_is_refused_before_the_model_loads_and_touches_nothing(run, capsys,
                                                                                          no_model_loads):
    config, out = run
    shutil.rmtree(out / "checkpoints")
    before = _snapshot(out)
    code, _, err = _train(capsys, config, out, "--resume")
    assert code == 2
    assert err.strip() == (f"error: {out}: nothing to resume from: no complete checkpoint under checkpoints/ (a run "
                           "saves one every save_every steps); nothing was changed. To train from the start, choose "
                           "a new output_dir or delete this folder")
    assert _snapshot(out) == before


def test_resume_on_a_folder_of_the_users_or_on_no_folder_is_refused(tmp_path, finished, capsys, no_model_loads):
    config, _ = finished
    mine = tmp_path / "my-notes"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    before = _snapshot(mine)
    code, _, err = _train(capsys, config, mine, "--resume")
    assert (code, _snapshot(mine)) == (2, before) and "nothing to resume from" in err

    code, _, err = _train(capsys, config, tmp_path / "missing", "--resume")
    assert code == 2 and "nothing to resume: the output folder does not exist" in err
    assert not (tmp_path / "missing").exists()


# ---------------------------------------------------------------------------- a resume keeps the run's settings


def test_resume_with_changed_settings_is_refused_listing_each_difference(run, capsys, no_model_loads):
    config, out = run
    before = _snapshot(out)
    code, _, err = _train(capsys, config, out, "--resume", "learning_rate=0.01", "loss.temperature=0.1",
                          "batch_size=8", "seed=1")
    assert code == 2
    assert ("cannot resume with settings that differ from the run's config.yaml: batch_size: 4 in the run, 8 now; "
            "learning_rate: 0.001 in the run, 0.01 now; loss.temperature: 0.05 in the run, 0.1 now; seed: 5 in the "
            "run, 1 now. A resume may change only max_steps,") in err
    assert _snapshot(out) == before  # config.yaml included: it is no longer rewritten before the decision


def test_allowed_changes_on_resume_are_applied_and_recorded(run, capsys):
    config, out = run
    code, _, printed = _train(capsys, config, out, "--resume", "max_steps=8", "log_every=2")
    assert code == 0
    assert "max_steps: 6 -> 8 (recorded in config.yaml and resumes.jsonl)" in printed
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert (saved["max_steps"], saved["log_every"]) == (8, 2)
    [resume] = [json.loads(line) for line in (out / "resumes.jsonl").read_text().splitlines()]
    assert resume["checkpoint"] == "step-00000006" and resume["step"] == 6
    assert resume["changed"] == {"log_every": {"run": 1, "now": 2}, "max_steps": {"run": 6, "now": 8}}
    assert _steps(out) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [p.name for p in complete_checkpoints(out / "checkpoints")] == ["step-00000006", "step-00000008"]
    assert not (out / LOCK_FILE).exists()  # released at the end


def test_max_steps_below_the_checkpoint_is_refused_and_changes_nothing(run, capsys):
    config, out = run
    before = _snapshot(out)
    code, _, err = _train(capsys, config, out, "--resume", "max_steps=4")
    assert code == 2 and "max_steps=4 is below step 6 of the checkpoint resumed from" in err
    assert _snapshot(out) == before


def test_a_setting_the_saved_run_predates_counts_only_when_it_leaves_its_default(finished, tmp_path):
    config = load_config(finished[0])
    saved = yaml.safe_load(yaml.safe_dump(config.to_dict()))
    del saved["cpu_dropout"], saved["data"]["sources"][0]["weight"]  # by an mlsimcse version without them
    assert resume_changes(saved, config, tmp_path) == {}
    config.cpu_dropout = False
    with pytest.raises(InputError, match="cpu_dropout: not set in the run, false now"):
        resume_changes(saved, config, tmp_path)
    assert set(ALLOWED_ON_RESUME).isdisjoint({"learning_rate", "batch_size", "seed", "mixed_precision", "data"})


# ---------------------------------------------------------------------------------- one metrics line per step


def test_resume_from_an_older_checkpoint_keeps_one_line_per_step_and_seals_no_leftover(run, capsys):
    """Step 6 is damaged, so the run goes back to step 3: lines 4-6 and a line cut by a kill must go."""
    config, out = run
    checkpoints = out / "checkpoints"
    damaged = checkpoints / "step-00000006" / "optimizer.bin"
    damaged.write_bytes(damaged.read_bytes()[:-9])
    with open(out / "metrics.jsonl", "a", encoding="utf-8") as log:
        log.write('{"step": 7, "lo')  # the line a kill interrupted
    leftover = staging_dir(checkpoints, 6)
    leftover.mkdir()
    (leftover / "stale.bin").write_bytes(b"from a save that was killed")

    code, _, printed = _train(capsys, config, out, "--resume")
    assert code == 0 and f"resumed from {checkpoints / 'step-00000003'} (step 3)" in printed
    assert "dropped 4 line(s) of metrics.jsonl past step 3: those steps run again" in printed
    assert _steps(out) == [1, 2, 3, 4, 5, 6]
    assert "stale.bin" not in verify(checkpoints / "step-00000006")["files"]


# ------------------------------------------------------------------------------------------- one run at a time


def _hold_lock(folder: Path) -> subprocess.Popen:
    """Another process holding ``folder``'s run lock until killed."""
    code = ("import sys; from mlsimcse.training.run_lock import RunLock; RunLock(sys.argv[1]).acquire(); "
            "print('locked', flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)], cwd=REPO, env=ENV, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def _kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)


def test_a_second_run_on_a_locked_folder_refuses_naming_the_holder_and_a_killed_holder_blocks_nobody(
        run, capsys, no_model_loads):
    config, out = run
    holder = _hold_lock(out)
    try:
        before = _snapshot(out)
        for args in (["--resume"], []):
            code, _, err = _train(capsys, config, out, *args)
            assert code == 2, args
            assert f"error: {out}: output folder is in use by another training run (pid {holder.pid} on host " \
                   f"{socket.gethostname()}, started " in err
        assert _snapshot(out) == before
    finally:
        _kill(holder)
    assert (out / LOCK_FILE).exists()  # SIGKILL leaves the file behind, but the kernel dropped the lock
    lock = RunLock(out)
    lock.refuse_if_held()
    lock.acquire()
    assert json.loads((out / LOCK_FILE).read_text())["pid"] == os.getpid()
    lock.release()
    assert not (out / LOCK_FILE).exists()


class _OtherProcess:
    """What ``_claim_output_dir`` reads of an Accelerator on a process other than the main one."""

    is_main_process = False


def test_processes_other_than_the_main_one_take_no_lock_and_do_not_refuse(run):
    config, out = run
    holder = _hold_lock(out)  # stands for the main process of the same run
    try:
        before = _snapshot(out)
        assert loop._claim_output_dir(_OtherProcess(), load_config(config, [f"output_dir={out}"]), True) is None
        assert _snapshot(out) == before
    finally:
        _kill(holder)


@pytest.mark.slow
def test_two_trainings_at_once_the_second_refuses_and_resumes_once_the_first_is_killed(run, capsys):
    """As a user would: one training still running, a second one on its folder, then SIGKILL and --resume."""
    config, out = run
    logs = out.parent / "first.log"
    with open(logs, "wb") as log:
        first = subprocess.Popen([sys.executable, "-m", "mlsimcse", "train", str(config), f"output_dir={out}",
                                  "--resume", "max_steps=100000"], cwd=REPO, env=ENV, stdout=log,
                                 stderr=subprocess.STDOUT)
    try:
        while (out / "metrics.jsonl").read_text().count("\n") <= 6:  # the first run is past its resume, training
            assert first.poll() is None, logs.read_text()
            time.sleep(0.05)
        code, _, err = _train(capsys, config, out, "--resume")
        assert code == 2 and f"in use by another training run (pid {first.pid} on host" in err
    finally:
        _kill(first)
    last = complete_checkpoints(out / "checkpoints")[-1]
    code, _, logged = _train(capsys, config, out, "--resume", f"max_steps={int(last.name[5:]) + 1}")
    assert code == 0 and f"resumed from {last}" in logged  # a message, so stderr (stdout holds only products)
    steps = _steps(out)
    assert steps == list(range(1, len(steps) + 1))


@pytest.mark.slow
def test_a_multi_process_launch_on_a_locked_folder_refuses_without_hanging(run):
    config, out = run
    holder = _hold_lock(out)
    try:
        with launch_port() as port:
            launched = subprocess.run(
                [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                 "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
                 str(port), "-m", "mlsimcse", "train", str(config), f"output_dir={out}", "--resume", "cpu=true"],
                cwd=REPO, env={**ENV, "HF_HOME": str(out.parent / "hf-home")}, capture_output=True, text=True,
                timeout=300)
    finally:
        _kill(holder)
    assert launched.returncode != 0
    assert f"output folder is in use by another training run (pid {holder.pid}" in launched.stderr


# --------------------------------------------------------------------------------------- the file system says no


def test_a_full_disk_during_a_checkpoint_save_is_one_line_and_leaves_the_earlier_checkpoints(run, capsys,
                                                                                              monkeypatch):
    config, out = run
    checkpoints = out / "checkpoints"
    shutil.rmtree(checkpoints / "step-00000006")  # resume from step 3; the save at step 6 meets a full disk

    def save_state(self, output_dir, **kwargs):
        Path(output_dir).mkdir(parents=True)
        (Path(output_dir) / "model.safetensors").write_bytes(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(loop.Accelerator, "save_state", save_state)
    code, _, err = _train(capsys, config, out, "--resume")
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        f"error: no space left on device while saving checkpoint step-00000006 to {checkpoints}; "
        "the partial checkpoint was removed and step-00000003 is intact: make room (or lift the limit) and run "
        "again with --resume")
    assert "Traceback" not in err
    assert sorted(p.name for p in checkpoints.iterdir()) == ["step-00000003"]
    verify(checkpoints / "step-00000003")
    assert not (out / LOCK_FILE).exists()  # released on the error too


def _no_file_over(limit: int):
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    return preexec


@pytest.mark.slow
def test_a_file_size_limit_hit_by_torch_save_is_one_line_and_leaves_the_earlier_checkpoints(run):
    """A real limit: model.safetensors fits, optimizer.bin (torch's zip writer, no errno) does not."""
    config, out = run
    checkpoints = out / "checkpoints"
    shutil.rmtree(checkpoints / "step-00000006")
    sizes = {p.name: p.stat().st_size for p in (checkpoints / "step-00000003").iterdir()}
    limit = (sizes["model.safetensors"] + sizes["optimizer.bin"]) // 2
    assert sizes["model.safetensors"] < limit < sizes["optimizer.bin"]
    done = subprocess.run([sys.executable, "-m", "mlsimcse", "train", str(config), f"output_dir={out}", "--resume"],
                          cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600,
                          preexec_fn=_no_file_over(limit))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: a file reached the file-size limit (ulimit -f) while saving checkpoint step-00000006 to "
        f"{checkpoints}; the partial checkpoint was removed and step-00000003 is intact: make room (or lift the "
        "limit) and run again with --resume")
    assert sorted(p.name for p in checkpoints.iterdir()) == ["step-00000003"]
    verify(checkpoints / "step-00000003")


def test_write_failures_are_named_whichever_writer_reports_them(tmp_path, monkeypatch):
    cause = write_failures.write_failure_cause
    assert cause(OSError(errno.ENOSPC, "No space left on device"), tmp_path) == "no space left on device"
    assert cause(Exception("Error while serializing: I/O error: File too large (os error 27)"), tmp_path) == \
        "a file reached the file-size limit (ulimit -f)"
    assert cause(ValueError("a bug"), tmp_path) is None
    torch_writer = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
    monkeypatch.setattr(write_failures.shutil, "disk_usage", lambda folder: SimpleNamespace(free=4096))
    assert cause(torch_writer, tmp_path) == "no space left on device"
    monkeypatch.setattr(write_failures.shutil, "disk_usage", lambda folder: SimpleNamespace(free=1 << 39))
    assert cause(torch_writer, tmp_path).startswith("a write failed (torch: [enforce fail at inline_container.cc")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 50, hard))  # finite, and far above anything written here
    try:
        assert cause(torch_writer, tmp_path) == "a file reached the file-size limit (ulimit -f)"
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def _read_only(folder: Path, monkeypatch) -> None:
    """Make ``folder`` refuse new files. chmod stops everyone but root; as root, a read-only file system is mimicked."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(folder) in (Path(dir), *Path(dir).parents):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


@pytest.mark.parametrize("resume", [False, True])
def test_a_read_only_output_folder_is_refused_before_the_model_loads(run, tmp_path, capsys, monkeypatch,
                                                                     no_model_loads, resume):
    config, out = run
    if not resume:
        out = tmp_path / "empty"
        out.mkdir()
    before = _snapshot(out)
    _read_only(out, monkeypatch)
    code, _, err = _train(capsys, config, out, *(["--resume"] if resume else []))
    out.chmod(0o755)
    assert code == 2
    reason = "the file system is read-only" if os.geteuid() == 0 else "permission denied"
    assert err.strip() == f"error: {out}: output folder is not writable ({reason}); nothing was started"
    assert _snapshot(out) == before


# ------------------------------------------------------------------------------------- the command line's order


@pytest.mark.parametrize("argv", [["c.yaml", "--resume", "max_steps=8", "seed=1"],
                                  ["--resume", "c.yaml", "max_steps=8", "seed=1"],
                                  ["c.yaml", "max_steps=8", "--resume", "seed=1"]])
def test_options_and_overrides_come_in_any_order(argv):
    args = cli.build_parser().parse_args(["train", *argv])
    assert (args.config, args.overrides, args.resume) == ("c.yaml", ["max_steps=8", "seed=1"], True)
