"""mlsimcse: train and evaluate multilingual sentence encoders with contrastive learning (SimCSE and kin)."""

__version__ = "0.1.0"

from mlsimcse.encoder import SentenceEncoder  # noqa: E402

__all__ = ["SentenceEncoder", "__version__"]
