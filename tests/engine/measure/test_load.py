"""A figure timed while the CPU is loaded by others is flagged busy; one timed on an idle machine is not."""

import os
import subprocess
import sys
import time

from engine.measure.load import MachineLoad, cpu_count


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition(os.getloadavg()[0]):
            return True
        time.sleep(1)
    return False


def test_busy_loops_raise_the_flag_and_an_idle_machine_does_not():
    cpus = cpu_count()
    assert _wait_for(lambda load: load < cpus, 120), "the machine never went below its core count: not idle"
    with MachineLoad() as idle:
        time.sleep(0.1)
    assert not idle.busy and idle.fields()["cpu_count"] == cpus
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(4 * cpus)]
    try:  # the one-minute load average follows the runnable processes within seconds
        assert _wait_for(lambda load: load > cpus + 0.5, 90)
        with MachineLoad() as busy:
            time.sleep(0.1)
    finally:
        for loop in loops:  # stopped by their pids
            loop.kill()
            loop.wait()
    fields = busy.fields()
    assert busy.busy and fields["busy"] and fields["load_1m"] > cpus
