"""Timers: CUDA events on a GPU (synchronised), perf_counter on a CPU."""

from __future__ import annotations

import statistics
import time

import torch


class Timer:
    def __init__(self, device: str):
        self.device = device

    def time_ms(self, fn) -> float:
        if self.device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end)
        begin = time.perf_counter()
        fn()
        return (time.perf_counter() - begin) * 1000.0


def median(values) -> float:
    return float(statistics.median(values))
