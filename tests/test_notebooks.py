"""The walkthrough notebooks run from top to bottom on the shared model and data, and write nothing into the repo.

Each notebook is executed from a copy in a temporary folder, which is also the kernel's working directory, so
neither the stored outputs in ``notebooks/`` nor the checkout are touched. Any cell error fails the test.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CELL_TIMEOUT_S = 900


@pytest.mark.slow
@pytest.mark.parametrize("name", ["quickstart_walkthrough.ipynb", "mining_walkthrough.ipynb",
                                  "multilingual_ablations.ipynb"])
def test_notebook_runs_without_errors(name, tmp_path, shared_data, minilm, request):
    if name == "multilingual_ablations.ipynb":
        request.getfixturevalue("multilingual_e5")  # its live check encodes with the shared e5
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel", reason="the notebooks run on the python3 kernel that ipykernel provides")

    source = NOTEBOOKS / name
    original = source.read_bytes()
    listing_before = sorted(path.name for path in NOTEBOOKS.iterdir())
    copy = tmp_path / name
    shutil.copyfile(source, copy)
    kernel_tmp = tmp_path / "tmp"  # the notebooks' temporary run folders land here, inside pytest's folder
    kernel_tmp.mkdir()

    notebook = nbformat.read(copy, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    # raises CellExecutionError, naming the cell, on the first cell that fails
    client.execute(env={**os.environ, "TMPDIR": str(kernel_tmp)})

    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.get("execution_count") for cell in code_cells), "a code cell did not run"
    figures = [output for cell in code_cells for output in cell.outputs if "image/png" in output.get("data", {})]
    assert figures, "the notebook drew no inline figure"
    assert source.read_bytes() == original
    assert sorted(path.name for path in NOTEBOOKS.iterdir()) == listing_before
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([name, "tmp"]), \
        "the notebook wrote into its working folder"
    assert not list(kernel_tmp.glob("mlsimcse-*")), "the notebook did not remove its temporary folder"
