"""The package's top level and the command line's parser load no heavy library; the public names still work.

Each check runs in a fresh interpreter: this test process has imported torch long before.
(How fast ``mlsimcse --help`` starts is measured, not asserted: benchmarks/bench_cli_startup.py.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "accelerate", "numpy", "scipy", "datasets", "pyarrow", "safetensors", "tqdm")


def _loaded_after(code: str) -> list[str]:
    """The heavy libraries imported by running ``code`` in a new interpreter."""
    probe = f"import json, sys\n{code}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_building_every_command_parser_imports_no_heavy_library():
    assert _loaded_after("import mlsimcse.cli; mlsimcse.cli.build_parser()") == []


@pytest.mark.parametrize("package", ["mlsimcse", "mlsimcse.training", "mlsimcse.data", "mlsimcse.evaluation",
                                     "mlsimcse.mining"])
def test_importing_a_package_imports_no_heavy_library(package):
    assert _loaded_after(f"import {package}") == []


def test_public_names_load_on_first_use_and_are_listed():
    import mlsimcse
    import mlsimcse.evaluation
    import mlsimcse.training
    from mlsimcse import SentenceEncoder
    from mlsimcse.encoder import SentenceEncoder as defined
    from mlsimcse.training import train
    from mlsimcse.training.loop import train as defined_train

    assert SentenceEncoder is defined and train is defined_train
    assert "SentenceEncoder" in dir(mlsimcse) and "evaluate_tasks" in dir(mlsimcse.evaluation)
    for package in (mlsimcse, mlsimcse.evaluation, mlsimcse.training):
        assert all(hasattr(package, name) for name in package.__all__)
    with pytest.raises(AttributeError, match="has no attribute 'Nonexistent'"):
        mlsimcse.Nonexistent  # noqa: B018
