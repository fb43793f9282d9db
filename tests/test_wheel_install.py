"""``pip install mlsimcse`` is enough: the wheel, installed into a fresh environment, runs the quickstart.

The checkout's editable install hides anything the wheel leaves out (the shipped configs and recipes live in the
source tree either way), so this builds the wheel from a copy of the source, installs it into a new virtual
environment and runs the commands from an empty directory, with the checkout nowhere on the path. The virtual
environment sees this machine's packages (torch and the rest) so nothing is downloaded; the test asserts that the
``mlsimcse`` it runs is the one the wheel put into the environment, not the editable checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
import yaml

from mlsimcse.paths import models_root
from mlsimcse.shipped import CONFIGS, RECIPES, shipped_files

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _build_wheel(tmp: Path) -> Path:
    """The wheel of the current source, built from a copy so the checkout gets no build/ or egg-info churn."""
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "mlsimcse", source / "mlsimcse", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp / "dist"), str(source)], check=True, capture_output=True, text=True)
    (wheel,) = (tmp / "dist").glob("mlsimcse-*.whl")
    return wheel


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done


def test_the_wheel_alone_runs_the_quickstart(tmp_path, tiny_bert, shared_data):
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    for kind in (CONFIGS, RECIPES):
        expected = {f"mlsimcse/{kind}/{name}.yaml" for name in shipped_files(kind)}
        assert expected <= names, f"the wheel lacks {sorted(expected - names)}"

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False, symlinks=True).create(env_dir)
    python, command = env_dir / "bin" / "python", env_dir / "bin" / "mlsimcse"
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(MLSIMCSE_DATA_ROOT=str(shared_data), MLSIMCSE_MODELS_ROOT=str(models_root()), HF_HUB_OFFLINE="1",
               HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PIP_DISABLE_PIP_VERSION_CHECK="1")
    # the environment's own pip is this machine's (system site packages); --force-reinstall because the editable
    # checkout already counts as mlsimcse 0.1.0 there, and pip leaves an install outside the environment alone
    _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--force-reinstall", str(wheel)],
         tmp_path, env)

    empty = tmp_path / "empty"
    empty.mkdir()
    where = _run([str(python), "-c", "import mlsimcse, mlsimcse.shipped as s; "
                  "print(mlsimcse.__file__); print(s.shipped_folder(s.CONFIGS))"], empty, env).stdout.split()
    site = (env_dir / "lib").resolve()
    assert all(Path(path).resolve().is_relative_to(site) for path in where), where

    assert "quickstart" in _run([str(command), "--help"], empty, env).stdout
    assert "--base-model" in _run([str(command), "quickstart", "--help"], empty, env).stdout
    _run([str(command), "quickstart", "--output-dir", "qs", "--base-model", str(tiny_bert), "--suite", "stsb-dev:en",
          "max_steps=3", "batch_size=8", "log_every=1"], empty, env)
    results = json.loads((empty / "qs" / "results.json").read_text())
    assert [run["model"] for run in results["runs"]] == ["base", "trained"]
    assert (empty / "qs" / "model" / "modules.json").is_file()
    sources = yaml.safe_load((empty / "qs" / "config.yaml").read_text())["data"]["sources"]
    assert all(Path(source["path"]).resolve().is_relative_to(site) for source in sources), sources
