"""Training data: recipes that turn corpora into examples, and the sampler that batches them.

The names below are imported on first use (see :mod:`mlsimcse.lazy_exports`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlsimcse.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from mlsimcse.data.build import build_dataset
    from mlsimcse.data.mixture import MixtureConfig, SourceSpec
    from mlsimcse.data.normalize import normalize_text
    from mlsimcse.data.pipeline import load_recipe_examples
    from mlsimcse.data.sampler import MixtureBatchSampler

__all__ = [
    "MixtureBatchSampler",
    "MixtureConfig",
    "SourceSpec",
    "build_dataset",
    "load_recipe_examples",
    "normalize_text",
]

__getattr__, __dir__ = lazy_exports(__name__, {
    "MixtureBatchSampler": "mlsimcse.data.sampler",
    "MixtureConfig": "mlsimcse.data.mixture",
    "SourceSpec": "mlsimcse.data.mixture",
    "build_dataset": "mlsimcse.data.build",
    "load_recipe_examples": "mlsimcse.data.pipeline",
    "normalize_text": "mlsimcse.data.normalize",
})
