"""Training: objectives, checkpoints and the Accelerate loop (imported on first use, see
:mod:`mlsimcse.lazy_exports`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlsimcse.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from mlsimcse.training.loop import NonFiniteLossError, train

__all__ = ["NonFiniteLossError", "train"]

__getattr__, __dir__ = lazy_exports(__name__, dict.fromkeys(__all__, "mlsimcse.training.loop"))
