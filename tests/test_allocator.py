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
    # The heap grows to fit over the first fills (and again if something else took the space), so not every
    # fill is free; without the setting none is: every fill faults in all 16,384 pages, the block having gone
    # back to the kernel.
    assert min(_faults_to_fill_64_mib() for _ in range(6)) < 1000
