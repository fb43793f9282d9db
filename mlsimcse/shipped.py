"""The training configs and data recipes that ship inside the package, and the short names that pick them.

They live in ``mlsimcse/configs/`` and ``mlsimcse/data_recipes/`` as package data, so ``pip install mlsimcse``
brings them along and an installed package finds them through :mod:`importlib.resources`, never through a
repository checkout. Every command and loader that takes a config or a recipe accepts its short name (the file
name without ``.yaml``: ``mlsimcse train quickstart``, ``mlsimcse data build parallel-stsb``) as well as a
path. A path that exists always wins, so a local file named like a shipped one is never shadowed.

Configs name their recipes by short name too and their models as ``shared:NAME``
(:func:`mlsimcse.paths.resolve_model_name`), so a shipped config still works once copied out of the package
and edited. Recipes include each other by file name, next to each other in the same folder; their corpora
are found under :func:`mlsimcse.paths.data_root`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from mlsimcse.errors import InputError

CONFIGS = "configs"
RECIPES = "data_recipes"
_WHAT = {CONFIGS: "config", RECIPES: "recipe"}
SUFFIX = ".yaml"


def shipped_folder(kind: str) -> Path:
    """The folder of one kind of shipped file (``CONFIGS`` or ``RECIPES``) inside the installed package.

    A filesystem path, not just a resource: recipes include their neighbours by relative path and the
    data pipeline fingerprints the files it read. pip always installs a wheel as plain files.
    """
    return Path(str(files("mlsimcse").joinpath(kind)))


def shipped_files(kind: str) -> dict[str, Path]:
    """Short name -> file of every shipped config or recipe, sorted by name."""
    folder = shipped_folder(kind)
    return {path.stem: path for path in sorted(folder.glob(f"*{SUFFIX}"))}


def shipped_file(kind: str, value: str | Path) -> Path | None:
    """The shipped file that ``value`` names by short name (with or without ``.yaml``), else ``None``.

    Only a bare name can be a short name: anything with a folder in it is a path.
    """
    name = str(value)
    if not name or Path(name).name != name:
        return None
    return shipped_files(kind).get(name[:-len(SUFFIX)] if name.endswith(SUFFIX) else name)


def resolve(kind: str, value: str | Path) -> Path:
    """A config or recipe given as a path or a short name -> the file to read.

    An existing path wins; then a shipped short name. A bare name that is neither is an error listing the
    shipped names; a missing path with a folder in it is returned as it is, for the reader's own
    "file not found".
    """
    path = Path(value).expanduser()
    if path.exists():
        return path
    shipped = shipped_file(kind, value)
    if shipped is not None:
        return shipped
    if Path(str(value)).name == str(value):
        what = _WHAT[kind]
        raise InputError(f"no such file, and no shipped {what} of that name; shipped {what}s: "
                         + ", ".join(shipped_files(kind)), path=path)
    return path


def resolve_config(value: str | Path) -> Path:
    """``quickstart`` -> the shipped ``configs/quickstart.yaml``; a path stays a path (see :func:`resolve`)."""
    return resolve(CONFIGS, value)


def resolve_recipe(value: str | Path) -> Path:
    """``parallel-stsb`` -> the shipped ``data_recipes/parallel-stsb.yaml``; a path stays a path."""
    return resolve(RECIPES, value)


def source_path(value: str, folder: Path | None = None) -> str:
    """A training source's ``path`` -> what to read.

    The path itself (under ``folder``, the config file's own, when given) if it exists or names no shipped
    recipe, else the shipped recipe of that short name: ``data.sources: [parallel-stsb-de]`` works in a
    config anywhere, and in a ``key=value`` override.
    """
    anchored = value if folder is None else str(folder / value)
    if Path(anchored).expanduser().exists():
        return anchored
    shipped = shipped_file(RECIPES, value)
    return anchored if shipped is None else str(shipped)
