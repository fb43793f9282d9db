"""Where the offline data and base model live.

The project reads real data from a read-only ``shared/`` folder beside the repository. Both roots can be
moved with environment variables so the same code works on a laptop, in CI and on a cluster.
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _shared_root() -> Path:
    """``../shared`` seen from the current directory, else from the repository checkout."""
    for base in (Path.cwd(), _REPO_ROOT):
        candidate = (base / ".." / "shared").resolve()
        if candidate.is_dir():
            return candidate
    return (_REPO_ROOT / ".." / "shared").resolve()


def data_root() -> Path:
    """Root of the offline datasets (``MLSIMCSE_DATA_ROOT``, default ``../shared/data``)."""
    env = os.environ.get("MLSIMCSE_DATA_ROOT")
    return Path(env).expanduser().resolve() if env else _shared_root() / "data"


def models_root() -> Path:
    """Root of the offline models (``MLSIMCSE_MODELS_ROOT``, default ``../shared/models``)."""
    env = os.environ.get("MLSIMCSE_MODELS_ROOT")
    return Path(env).expanduser().resolve() if env else _shared_root() / "models"


def default_base_model() -> str:
    """The shared MiniLM when it is on disk, else its Hub name (which needs the Hub)."""
    local = models_root() / "all-MiniLM-L6-v2"
    return str(local) if local.is_dir() else "sentence-transformers/all-MiniLM-L6-v2"
