"""Training: objectives, checkpoints and the Accelerate loop."""

from mlsimcse.training.loop import NonFiniteLossError, train

__all__ = ["NonFiniteLossError", "train"]
