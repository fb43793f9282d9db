"""Shipped configs and recipes: found inside the package, picked by short name, never shadowing a real path."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlsimcse.cli import main
from mlsimcse.config import load_config
from mlsimcse.data.recipe import load_recipe
from mlsimcse.errors import InputError
from mlsimcse.shipped import CONFIGS, RECIPES, resolve_config, resolve_recipe, shipped_files, shipped_folder

RECIPE_YAML = ("name: mine\nsources:\n  - name: p\n    kind: aligned_text\n    shape: parallel\n"
               "    languages: [en, de]\n    local: {format: lines, sets: ['stsb/{lang}.txt']}\n")


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """An empty working directory far from the repository, as after a plain ``pip install``."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_shipped_files_live_inside_the_package():
    import mlsimcse

    assert shipped_folder(CONFIGS).parent.samefile(Path(mlsimcse.__file__).parent)
    assert {"quickstart", "minilm-cpu-parallel"} <= set(shipped_files(CONFIGS))
    assert {"parallel-stsb", "quickstart-pairs", "sup-xnli-crosslingual"} <= set(shipped_files(RECIPES))
    assert all(path.parent == shipped_folder(RECIPES) for path in shipped_files(RECIPES).values())


@pytest.mark.parametrize("name", sorted(shipped_files(CONFIGS)))
def test_every_shipped_config_loads_by_short_name_from_any_directory(elsewhere, name):
    config = load_config(name, [f"output_dir={elsewhere / 'run'}"])
    recipes = set(shipped_files(RECIPES).values())
    assert config.data.sources and all(Path(spec.path) in recipes for spec in config.data.sources)


def test_short_names_pick_shipped_files_with_or_without_suffix(elsewhere):
    assert resolve_config("quickstart") == shipped_folder(CONFIGS) / "quickstart.yaml"
    assert resolve_config("quickstart.yaml") == resolve_config("quickstart")
    assert load_recipe("parallel-stsb").path == shipped_folder(RECIPES) / "parallel-stsb.yaml"


def test_a_path_that_exists_wins_over_a_short_name(elsewhere):
    (elsewhere / "parallel-stsb").write_text(RECIPE_YAML)
    assert resolve_recipe("parallel-stsb") == Path("parallel-stsb")
    assert load_recipe("parallel-stsb").name == "mine"
    assert resolve_config("parallel-stsb") == Path("parallel-stsb")  # any existing file, whatever its kind


def test_an_unknown_name_lists_the_shipped_ones_and_a_missing_path_is_not_found(elsewhere, capsys):
    with pytest.raises(InputError) as err:
        resolve_recipe("paralel-stsb")
    assert str(err.value).startswith("paralel-stsb: no such file, and no shipped recipe of that name; "
                                     "shipped recipes: parallel-all, parallel-ntrex, ")
    with pytest.raises(InputError, match="config file not found"):
        load_config("configs/quickstart.yaml")  # the old repository path: a path, so no short-name guess
    assert main(["train", "quickstrat"]) == 2
    assert "shipped configs: " in capsys.readouterr().err
    assert main(["data", "build", "nope", "--out", str(elsewhere / "out")]) == 2
    assert "shipped recipes: " in capsys.readouterr().err and not (elsewhere / "out").exists()


def test_config_sources_name_shipped_recipes_but_a_file_beside_the_config_wins(elsewhere):
    folder = elsewhere / "mine"
    folder.mkdir()
    (folder / "parallel-stsb-de.yaml").write_text(RECIPE_YAML)
    (folder / "train.yaml").write_text("data:\n  sources:\n    - unsup-stsb\n    - path: parallel-stsb-de.yaml\n")
    config = load_config(folder / "train.yaml")
    assert [spec.path for spec in config.data.sources] == [str(shipped_folder(RECIPES) / "unsup-stsb.yaml"),
                                                           str(folder / "parallel-stsb-de.yaml")]
    overridden = load_config(folder / "train.yaml", ["data.sources=[{path: quickstart-pairs, weight: 2}]"])
    assert overridden.data.sources[0].path == str(shipped_folder(RECIPES) / "quickstart-pairs.yaml")
    with pytest.raises(InputError, match="nowhere, which does not exist"):
        load_config(folder / "train.yaml", ["data.sources=[nowhere]"])
