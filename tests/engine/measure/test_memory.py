"""Peak memory on a CPU comes from the kernel's high-water mark, with no thread running beside the timings."""

import mmap
import threading

from engine.measure.memory import PeakMemory


def _touch(size: int) -> None:
    """Fresh pages from the kernel (not heap memory an earlier test freed), each one touched, then unmapped."""
    block = mmap.mmap(-1, size)
    for offset in range(0, size, mmap.PAGESIZE):
        block[offset] = 1
    block.close()


def test_the_peak_is_the_largest_allocation_inside_the_block_and_nothing_samples_it():
    before = threading.active_count()
    with PeakMemory("cpu") as memory:
        assert threading.active_count() == before  # no sampler competing with timed code
        _touch(200_000_000)  # 200 MB resident, then given back before the block ends
    assert memory.method.startswith("kernel high-water mark")
    assert 190e6 < memory.peak_bytes < 260e6
    with PeakMemory("cpu") as small:  # the mark was reset: an earlier peak does not leak into the next one
        _touch(10_000_000)
    assert small.peak_bytes < 60e6
