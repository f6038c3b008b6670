"""Peak memory while a plan is built and measured: CUDA max allocated, or CPU RSS growth.

On Linux the kernel keeps the peak itself: writing 5 to /proc/self/clear_refs resets the high-water mark
(VmHWM in /proc/self/status), read back at the end. Nothing runs beside the measurement: a thread sampling
RSS every few milliseconds slowed llama.cpp's decode steps on 2 cores by 20-50% (its two threads meet at
a barrier after every op, and one preempted thread stalls the token). Elsewhere RSS is sampled, and the
figure says so.
"""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import torch

STATUS, CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def _status_kb(field: str) -> int | None:
    for line in STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def _reset_high_water_mark() -> bool:
    try:
        CLEAR_REFS.write_text("5")
        return _status_kb("VmHWM") is not None
    except OSError:
        return False


class PeakMemory:
    """Context manager; `peak_bytes` is set on exit, `method` says how it was taken."""

    def __init__(self, device: str, interval_s: float = 0.005):
        self.device = device
        self.interval_s = interval_s
        self.peak_bytes = 0
        self.per_gpu: dict[str, int] = {}  # max allocated on each GPU (CUDA only)
        self.method = "cuda max allocated" if device == "cuda" else "kernel high-water mark (VmHWM)"

    def __enter__(self):
        if self.device == "cuda":
            for gpu in range(torch.cuda.device_count()):  # every GPU: a split model's layers sit on several
                torch.cuda.synchronize(gpu)
                torch.cuda.reset_peak_memory_stats(gpu)
            self._start = torch.cuda.memory_allocated()
            return self
        import psutil

        self._process = psutil.Process()
        self._start = self._process.memory_info().rss
        self._thread = None
        if not _reset_high_water_mark():
            self.method = f"RSS sampled every {self.interval_s * 1000:g} ms (timings share the CPU with it)"
            self._max = self._start
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(self.interval_s):
            self._max = max(self._max, self._process.memory_info().rss)

    def __exit__(self, *exc):
        if self.device == "cuda":
            self.per_gpu = {}
            for gpu in range(torch.cuda.device_count()):
                torch.cuda.synchronize(gpu)
                self.per_gpu[f"cuda:{gpu}"] = torch.cuda.max_memory_allocated(gpu)
            self.peak_bytes = torch.cuda.max_memory_allocated()
        elif self._thread is None:
            self.peak_bytes = max(_status_kb("VmHWM") * 1024 - self._start, 0)
        else:
            self._stop.set()
            self._thread.join()
            self._max = max(self._max, self._process.memory_info().rss)
            self.peak_bytes = self._max - self._start
        return False


def release_memory(device: str) -> None:
    """Hand freed tensors back (and the CUDA cache to the driver) before the next allocation."""
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
