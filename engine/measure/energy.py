"""Energy of a plan's prefill and decode, from the hardware's own energy counters.

On NVIDIA GPUs NVML's total-energy counter (millijoules since the driver loaded) is read before and after a
block, and power is sampled through the block for the record (on Hopper `nvmlDeviceGetPowerUsage` is already
averaged over a second, so the samples describe the block; the counter gives its energy). On a CPU the RAPL
package counters are used where the kernel exposes them readably (/sys/class/powercap); otherwise energy is
"not measured", never estimated. A counter covers the whole device (or package), idle draw included: that is
what the hardware costs to run while it serves.

Blocks are at least `min_seconds` long, since a few decode steps take milliseconds and counters tick far
slower: one block of prefills alone, one of cycles of a prefill and `steps` decode steps; the decode energy per
step is the second block's energy less its prefills' (from the first), over its steps.
"""

from __future__ import annotations

import glob
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

RAPL = "/sys/class/powercap/intel-rapl:*"


@dataclass(frozen=True)
class Block:
    """One metered block: its energy, length, calls, and the power samples taken through it."""

    joules: float
    seconds: float
    calls: int
    samples: int
    watts_mean: float | None
    watts_peak: float | None


class _Nvml:
    source = "NVML total-energy counter (whole GPU, idle draw included)"

    def __init__(self):
        import pynvml

        pynvml.nvmlInit()
        self.nvml = pynvml
        self.handles = []
        for index in range(torch.cuda.device_count()):  # the GPUs this process sees, by UUID (not NVML's order)
            uuid = str(torch.cuda.get_device_properties(index).uuid)
            self.handles.append(pynvml.nvmlDeviceGetHandleByUUID(uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"))
        self.energy_mj()  # raises where the counter is not supported

    def energy_mj(self) -> float:
        return float(sum(self.nvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in self.handles))

    def watts(self) -> float:
        return sum(self.nvml.nvmlDeviceGetPowerUsage(h) for h in self.handles) / 1000.0


class _Rapl:
    source = "RAPL package energy counters (whole CPU package, idle draw included)"

    def __init__(self):
        self.zones = [Path(z) for z in sorted(glob.glob(RAPL)) if Path(z, "energy_uj").is_file()]
        if not self.zones:
            raise OSError("no RAPL energy counter on this machine (/sys/class/powercap)")
        self.ranges = [int(Path(z, "max_energy_range_uj").read_text()) for z in self.zones]
        self.last = [int(Path(z, "energy_uj").read_text()) for z in self.zones]  # raises when not readable
        self.total_uj = 0

    def energy_mj(self) -> float:
        for i, zone in enumerate(self.zones):
            now = int(Path(zone, "energy_uj").read_text())
            self.total_uj += (now - self.last[i]) % self.ranges[i]  # the counter wraps at its range
            self.last[i] = now
        return self.total_uj / 1000.0

    def watts(self) -> float | None:
        return None


def counter(device: str):
    """The device's energy counter, or (None, why not)."""
    try:
        return (_Nvml() if device == "cuda" else _Rapl()), None
    except Exception as error:  # no library, no counter, no permission: not measured, and why
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return None, f"not measured: {text}"


def _metered(meter, fn, min_seconds: float, sync) -> Block:
    samples: list[float] = []
    stop = threading.Event()

    def sample():
        while not stop.wait(0.02):
            watts = meter.watts()
            if watts is not None:
                samples.append(watts)

    thread = threading.Thread(target=sample, daemon=True)
    sync()
    start_mj, began, calls = meter.energy_mj(), time.perf_counter(), 0
    thread.start()
    while calls == 0 or time.perf_counter() - began < min_seconds:
        fn()
        calls += 1
        if calls % 8 == 0:
            sync()  # the host must not run ahead of the device by more than a few calls
    sync()
    seconds, joules = time.perf_counter() - began, (meter.energy_mj() - start_mj) / 1000.0
    stop.set()
    thread.join()
    return Block(joules, seconds, calls, len(samples), sum(samples) / len(samples) if samples else None,
                 max(samples) if samples else None)


def measure_energy(device: str, prefill, step, steps: int, batch_size: int, min_seconds: float = 1.0) -> dict:
    """Energy per prefill and per decode step (joules), per output token, and the power seen. `prefill` starts
    a fresh sequence (it must be callable again and again); `step` decodes one token for the batch."""
    if min_seconds <= 0:
        return {"energy_source": "not measured: --energy-seconds 0"}
    meter, why = counter(device)
    if meter is None:
        return {"energy_source": why}
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def cycle():
        prefill()
        for _ in range(steps):
            step()

    prefills = _metered(meter, prefill, min_seconds / 2, sync)
    cycles = _metered(meter, cycle, min_seconds, sync)
    prefill_j = prefills.joules / prefills.calls
    step_j = max(cycles.joules - cycles.calls * prefill_j, 0.0) / (cycles.calls * steps)
    peaks = [b.watts_peak for b in (prefills, cycles) if b.watts_peak is not None]
    blocks = [{"what": "prefill", **asdict(prefills)}, {"what": f"prefill + {steps} decode steps", **asdict(cycles)}]
    return {"energy_source": meter.source, "prefill_j": prefill_j, "decode_step_j": step_j,
            "j_per_token": step_j / batch_size, "watts_mean": cycles.watts_mean, "watts_peak": max(peaks, default=None),
            "power_samples": prefills.samples + cycles.samples, "energy_blocks": blocks}


def query_kwh(energy: dict, output_tokens: int, batch_size: int) -> float | None:
    """kWh of one query at the measured prompt length: its share of a batch's prefill plus its output tokens."""
    if energy.get("prefill_j") is None:
        return None
    return (energy["prefill_j"] / batch_size + output_tokens * energy["decode_step_j"] / batch_size) / 3.6e6
