"""Fault points: ``MLSIMCSE_FAULT`` kills the process with SIGKILL at exactly the named passage, and nowhere else."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from mlsimcse import faults
from mlsimcse.errors import InputError
from mlsimcse.faults import Fault, parse_fault

PASSAGES = """
from mlsimcse.faults import fault_point
for step in (1, 2, 3):
    print("before", step, flush=True)
    fault_point("after_step", step)
print("finished", flush=True)
"""


@pytest.mark.parametrize("value,fault", [
    ("after_step", Fault("after_step")),
    ("after_step:14", Fault("after_step", 14)),
    ("mid_checkpoint_save:8@0", Fault("mid_checkpoint_save", 8, 0)),
    (" after_shard_written@1 ", Fault("after_shard_written", None, 1)),
])
def test_the_variable_names_a_point_a_passage_and_a_rank(value, fault):
    assert parse_fault(value) == fault


@pytest.mark.parametrize("value,message", [
    ("after-step:3", "is not NAME[:N][@RANK]"),
    ("after_step:three", "is not NAME[:N][@RANK]"),
    ("after_steps:3", "names no fault point; the points are: after_step, mid_checkpoint_save"),
])
def test_a_value_that_names_no_point_is_an_error_not_a_run_that_never_crashes(value, message):
    with pytest.raises(InputError, match=re.escape(message)):
        parse_fault(value)


def test_a_fault_hits_only_its_point_passage_and_rank():
    assert Fault("after_step").hits("after_step", 3, rank=1)
    assert Fault("after_step", 14).hits("after_step", 14, rank=0)
    assert not Fault("after_step", 14).hits("after_step", 13, rank=0)
    assert not Fault("after_step", 14).hits("mid_checkpoint_save", 14, rank=0)
    assert Fault("after_step", 14, 1).hits("after_step", 14, rank=1)
    assert not Fault("after_step", 14, 1).hits("after_step", 14, rank=0)


def test_the_variable_is_read_once(monkeypatch):
    faults.armed_fault.cache_clear()
    try:
        monkeypatch.setenv(faults.ENV, "after_step:5")
        assert faults.armed_fault() == Fault("after_step", 5)
        monkeypatch.delenv(faults.ENV)
        assert faults.armed_fault() == Fault("after_step", 5)
        faults.armed_fault.cache_clear()
        assert faults.armed_fault() is None
        faults.fault_point("after_step", 5)  # unarmed: nothing happens
    finally:
        faults.armed_fault.cache_clear()


@pytest.mark.parametrize("value,rank,printed,code", [
    ("after_step:2", None, ["before 1", "before 2"], -signal.SIGKILL),
    ("after_step:2@1", "0", ["before 1", "before 2", "before 3", "finished"], 0),
])
def test_the_process_dies_of_sigkill_at_the_named_passage(value, rank, printed, code):
    env = {k: v for k, v in os.environ.items() if k != "RANK"} | {faults.ENV: value}
    if rank is not None:
        env["RANK"] = rank
    run = subprocess.run([sys.executable, "-c", PASSAGES], capture_output=True, text=True, env=env, timeout=600)
    assert (run.returncode, run.stdout.splitlines()) == (code, printed), run.stderr
    assert ("fault point after_step:2 reached" in run.stderr) == (code != 0)
