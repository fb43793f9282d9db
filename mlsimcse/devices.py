"""Which torch device a name means, and whether this machine has it.

``torch.device("cuda")`` is accepted on any machine; the failure comes later, from deep inside the first
``.to()``, as an ``AssertionError`` about how torch was compiled. Checking the name once where a command or
``encode`` receives it turns that into one line saying what is missing.
"""

from __future__ import annotations

import torch

from mlsimcse.errors import InputError


def resolve_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device`` this machine has; :class:`InputError` naming what is missing otherwise."""
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InputError(f"unknown device {str(device)!r}; use cpu, cuda, cuda:N or mps") from None
    if target.type in ("cpu", "meta"):
        return target
    backend = torch.backends.mps if target.type == "mps" else getattr(torch, target.type, None)
    if backend is None or not hasattr(backend, "is_available") or not backend.is_available():
        raise InputError(f"device {str(device)!r} is not available on this machine (torch {torch.__version__} "
                         f"sees no {target.type} device); use cpu instead")
    count = getattr(backend, "device_count", lambda: 1)()
    if target.index is not None and target.index >= count:
        raise InputError(f"device {str(device)!r} is not available: this machine has {count} {target.type} "
                         f"device(s), numbered from 0")
    return target
