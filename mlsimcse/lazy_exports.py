"""Package namespaces whose public names are imported on first use (PEP 562).

The packages' public names (``SentenceEncoder``, ``train``, ``evaluate_tasks`` ...) live in modules that import
torch, transformers, numpy or pyarrow, which take seconds to load. Importing a package, or one light module inside
it such as a command's argument parser, runs the package's ``__init__`` first; with eager re-exports that alone
made ``mlsimcse --help`` pay for every heavy library. A package built with :func:`lazy_exports` keeps
``from mlsimcse import SentenceEncoder`` working, but the defining module is imported only when the name is
first looked up, and the value is then kept in the package so the lookup happens once.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, where ``exports`` maps each public name to its module.

    Use at the end of a package's ``__init__``::

        __getattr__, __dir__ = lazy_exports(__name__, {"train": "mlsimcse.training.loop"})
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
