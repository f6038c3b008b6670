"""One run at a time per device on a machine, so no run's timings include another run's work.

Two runs timed at once on one CPU measured time to first token 3.4-6.9 s against 0.3-0.45 s alone, and
both stored those figures as ordinary results. The dashboard's queue already runs one job per device;
this lock covers every other way in (scripts, several terminals, a CLI run beside the dashboard's
worker). It is an advisory `flock` on a machine-wide file, so the kernel releases it when its process
dies, however it dies, and stores in different COMPECON_HOMEs still share it.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

LOCK_DIR_ENV = "COMPECON_LOCK_DIR"


def lock_path(device: str) -> Path:
    """The machine-wide lock file of a device (a CUDA device per set of visible GPUs)."""
    folder = Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "compecon-locks")
    folder.mkdir(parents=True, exist_ok=True)
    name = device if device != "cuda" else f"cuda-{os.environ.get('CUDA_VISIBLE_DEVICES', 'all')}"
    return folder / f"{name.replace('/', '_').replace(',', '_')}.lock"


def holder(device: str) -> dict | None:
    """Who holds the device now ({'pid', 'what', 'since'}), as the holder wrote it; None when free or unknown."""
    try:
        return json.loads(lock_path(device).read_text() or "null")
    except (OSError, ValueError):
        return None


@contextmanager
def exclusive_device(device: str, what: str, report=print, should_stop=lambda: False, poll_s: float = 1.0):
    """Hold the device for the whole of a run; wait (saying for whom) while another run holds it.
    `should_stop` is polled while waiting, so a cancelled job stops waiting."""
    path = lock_path(device)
    handle = open(path, "a+")  # noqa: SIM115 (held open for the whole run: the open file is the lock)
    try:
        waited = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    other = holder(device) or {}
                    report(f"waiting for the {device}: {other.get('what', 'another run')} "
                           f"(pid {other.get('pid', '?')}) is measuring on it since {other.get('since', '?')}; runs on "
                           "one device never overlap, so neither times the other")
                    waited = True
                if should_stop():
                    raise InterruptedError(f"stopped while waiting for the {device}") from None
                time.sleep(poll_s)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "what": what,
                                 "since": time.strftime("%Y-%m-%d %H:%M:%S")}))
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock
