"""mlsimcse: train and evaluate multilingual sentence encoders with contrastive learning (SimCSE and kin).

The public names are imported on first use (see :mod:`mlsimcse.lazy_exports`), so ``import mlsimcse`` and the
command line's ``--help`` and ``--version`` do not load torch and transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlsimcse.lazy_exports import lazy_exports

__version__ = "0.1.0"

if TYPE_CHECKING:
    from mlsimcse.encoder import SentenceEncoder

__all__ = ["SentenceEncoder", "__version__"]

__getattr__, __dir__ = lazy_exports(__name__, {"SentenceEncoder": "mlsimcse.encoder"})
