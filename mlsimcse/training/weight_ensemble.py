"""WiSE-FT (Wortsman et al., CVPR 2022): the saved model is a point on the line from the base weights to the trained.

Fine-tuning a strong pretrained encoder on a narrow mix moves it towards what the mix teaches and away from what it
already knew: the multilingual quickstart's runs gained 5-9 points of cross-lingual STS-B dev and lost up to 2 of
monolingual STS-B dev. Fine-tuned and starting weights lie in one basin, so their average keeps most of the gain
and little of the loss (WiSE-FT's finding, on image classifiers under distribution shift).

Training itself is untouched: the optimizer, checkpoints and a resumed run all see the trained weights. Only what
is saved as the run's model, and scored on dev to select it, is the blend ``alpha * trained + (1 - alpha) *
base``; the trained weights are put back, bit for bit, right after. Only trainable weights are blended (a frozen
matrix is the base's already), so the copy of the base costs the trainable weights' size in memory.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch


class WeightEnsemble:
    """The base's trainable weights, kept to blend with the trained ones whenever the model is saved or scored."""

    def __init__(self, model: torch.nn.Module, alpha: float):
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must lie in (0, 1], got {alpha}")
        self.alpha = alpha
        self._base = {name: param.detach().clone() for name, param in model.named_parameters() if param.requires_grad}

    @contextlib.contextmanager
    def applied(self, model: torch.nn.Module) -> Iterator[None]:
        """``model`` holds the blend inside the block and its trained weights again after it, however it ends."""
        trained = {}
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name in self._base:
                    trained[name] = param.detach().clone()
                    param.lerp_(self._base[name].to(param.device), 1.0 - self.alpha)
        try:
            yield
        finally:
            with torch.no_grad():
                for name, param in model.named_parameters():
                    if name in trained:
                        param.copy_(trained[name])


def as_saved(model: torch.nn.Module, ensemble: WeightEnsemble | None) -> contextlib.AbstractContextManager:
    """The weights the run saves as its model: the blend with the base when ``model.wise_ft_alpha`` is set."""
    return contextlib.nullcontext() if ensemble is None else ensemble.applied(model)
