"""Keep freed memory inside the training process on Linux CPUs, where handing it back costs time every step.

glibc hands every block above its mmap threshold (dynamic, at most 32 MiB) straight back to the kernel when it is
freed, and trims the heap top as soon as enough is free. A training step frees and reallocates the same large
buffers every time — the gradient of a 30k x 384 word-embedding table alone is 47 MiB — so each step the kernel
maps and zeroes the same pages again: about 100,000 page faults per step for MiniLM at batch 64 (measured with
``getrusage``), 1,500-3,000 with the thresholds raised; at an estimated microsecond or two each, a few percent
of a 2.5-second CPU step goes to the kernel (not timed apart from the other changes). PyTorch's CPU allocator has no cache of its own, which is why its
performance guides suggest jemalloc or tcmalloc; raising glibc's two thresholds gets the same effect without
preloading a library. The cost is that the process keeps its peak memory until it exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_KEEP_BELOW = 1 << 30  # blocks up to 1 GiB come from (and return to) the heap
_applied = False


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; False where that does not apply (not glibc)."""
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, _KEEP_BELOW)) and bool(mallopt(_M_TRIM_THRESHOLD, 2 * _KEEP_BELOW - 1))
    return _applied
