"""Peak memory while a plan is built and measured: CUDA max allocated, or CPU RSS growth."""

from __future__ import annotations

import gc
import threading

import torch


class PeakMemory:
    """Context manager; `peak_bytes` is set on exit."""

    def __init__(self, device: str, interval_s: float = 0.005):
        self.device = device
        self.interval_s = interval_s
        self.peak_bytes = 0

    def __enter__(self):
        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._start = torch.cuda.memory_allocated()
            return self
        import psutil

        self._process = psutil.Process()
        self._start = self._process.memory_info().rss
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
            torch.cuda.synchronize()
            self.peak_bytes = torch.cuda.max_memory_allocated()
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
