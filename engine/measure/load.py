"""How busy the machine was while a figure was timed: the one-minute load average and the CPU count at
the start and the end of the measurement. A figure taken while the load exceeded the cores is flagged
"measured on a busy machine": on a shared 2-core box a decode step moved 20-50% with the load."""

from __future__ import annotations

import os

BUSY = "measured on a busy machine"


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def load_1m() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:  # not every platform has a load average
        return None


class MachineLoad:
    """Context manager around a timed block; `fields()` for the latency row."""

    def __enter__(self):
        self.start, self.cpus = load_1m(), cpu_count()
        return self

    def __exit__(self, *exc):
        self.end = load_1m()
        return False

    @property
    def busy(self) -> bool:
        """The load (ours included) above the cores: someone else wanted the CPU too."""
        return any(value is not None and value > self.cpus for value in (self.start, self.end))

    def fields(self) -> dict:
        loads = [v for v in (self.start, self.end) if v is not None]
        return {"load_1m": max(loads) if loads else None, "load_1m_start": self.start, "load_1m_end": self.end,
                "cpu_count": self.cpus, "busy": self.busy}
