"""Peak memory on a CPU comes from the kernel's high-water mark, with no thread running beside the timings."""

import threading

import numpy as np

from engine.measure.memory import PeakMemory


def test_the_peak_is_the_largest_allocation_inside_the_block_and_nothing_samples_it():
    before = threading.active_count()
    with PeakMemory("cpu") as memory:
        assert threading.active_count() == before  # no sampler competing with timed code
        block = np.ones(200_000_000 // 8)  # 200 MB touched, then freed before the block ends
        del block
    assert memory.method.startswith("kernel high-water mark")
    assert 190e6 < memory.peak_bytes < 260e6
    with PeakMemory("cpu") as small:  # the mark was reset: an earlier peak does not leak into the next one
        np.ones(10_000_000 // 8)
    assert small.peak_bytes < 60e6
