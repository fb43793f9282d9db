import resource
import sys

import pytest
import torch

from mlsimcse.training.allocator import keep_freed_memory

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")


def _faults_to_fill_64_mib() -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    buffer = torch.ones(16 * 1024 * 1024)  # 64 MiB: above glibc's largest dynamic mmap threshold
    after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    del buffer
    return after - before


def test_a_freed_large_buffer_is_reused_without_page_faults():
    assert keep_freed_memory()
    assert keep_freed_memory()  # idempotent
    for _ in range(3):  # the heap grows to fit (glibc may serve the first requests by mmap while it cannot)
        _faults_to_fill_64_mib()
    # without the setting every fill faults in all 16,384 pages again: the block went back to the kernel
    assert max(_faults_to_fill_64_mib() for _ in range(3)) < 1000
