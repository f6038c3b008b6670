"""Polling for tests that watch another process (a worker, a server) reach a state."""

from __future__ import annotations

import time


def wait_for(condition, timeout: float = 300, every: float = 0.2):
    """Return the first truthy value of condition(), or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s")
