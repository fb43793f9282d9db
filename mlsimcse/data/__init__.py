"""Training data: recipes that turn corpora into examples, and the sampler that batches them."""

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
