"""Energy per prefill, decode step, token and 1,000 queries (issue 18): the block arithmetic against a counter
whose draw is known, RAPL's wrap-around, the cost fields by hand, "not measured" where no counter is readable,
and on a GPU, NVML's energy counter against its own power samples."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
import torch

from engine.cost import CostAssumptions, cost_result, kwh_per_1k_queries, price_rows
from engine.measure import energy
from engine.measure.latency import measure_latency


class ConstantDraw:
    """A counter of a device drawing exactly `watts`: energy grows with wall time."""

    source = "test: constant draw"

    def __init__(self, watts: float):
        self.w, self.began = watts, time.perf_counter()

    def energy_mj(self) -> float:
        return (time.perf_counter() - self.began) * self.w * 1000.0

    def watts(self) -> float:
        return self.w


def test_prefill_and_decode_energy_come_apart_as_a_hand_calculation_says(monkeypatch):
    monkeypatch.setattr(energy, "counter", lambda device: (ConstantDraw(100.0), None))
    prefill_s, step_s = 0.02, 0.005
    figures = energy.measure_energy("cpu", lambda: time.sleep(prefill_s), lambda: time.sleep(step_s), steps=4,
                                    batch_size=2, min_seconds=0.6)
    # sleeps overshoot by a little, never undershoot: 100 W x the sleep, plus at most a few ms
    assert 100 * prefill_s <= figures["prefill_j"] < 100 * (prefill_s + 0.004)
    assert 100 * step_s * 0.9 <= figures["decode_step_j"] < 100 * (step_s + 0.004)
    assert figures["j_per_token"] == pytest.approx(figures["decode_step_j"] / 2)
    assert figures["watts_mean"] == 100.0 and figures["watts_peak"] == 100.0 and figures["power_samples"] > 10
    prefills, cycles = figures["energy_blocks"]
    assert prefills["seconds"] >= 0.3 and cycles["seconds"] >= 0.6  # each block at least its length
    assert cycles["joules"] == pytest.approx(100 * cycles["seconds"], rel=0.01)


def test_rapl_counters_are_summed_across_packages_and_their_wrap(tmp_path, monkeypatch):
    zones = []
    for i, (start, top) in enumerate([(990, 1000), (5, 10**6)]):
        zone = tmp_path / f"intel-rapl:{i}"
        zone.mkdir()
        (zone / "energy_uj").write_text(str(start))
        (zone / "max_energy_range_uj").write_text(str(top))
        zones.append(zone)
    monkeypatch.setattr(energy, "RAPL", str(tmp_path / "intel-rapl:*"))
    meter = energy._Rapl()
    (zones[0] / "energy_uj").write_text("40")  # wrapped: 990 -> 1000 -> 40 is 50 uJ
    (zones[1] / "energy_uj").write_text("2005")
    assert meter.energy_mj() == pytest.approx((50 + 2000) / 1000)


def test_a_cpu_without_a_readable_counter_says_not_measured(tiny_model, monkeypatch):
    monkeypatch.setattr(energy, "RAPL", "/nonexistent/intel-rapl:*")
    figures = measure_latency(tiny_model, torch.arange(8), 1, decode_steps=2, repeats=1, device="cpu", energy_s=0.2)
    row = figures.row()
    assert row["energy_source"].startswith("not measured: no RAPL energy counter")
    assert "prefill_j" not in row
    assert kwh_per_1k_queries(row, CostAssumptions("cpu", 0.1)) is None
    off = measure_latency(tiny_model, torch.arange(8), 1, decode_steps=2, repeats=1, device="cpu", energy_s=0)
    assert off.row()["energy_source"] == "not measured: --energy-seconds 0"


def test_energy_per_1000_queries_co2_and_electricity_by_hand():
    from engine.measure.decode_paths import latency_result

    costs = CostAssumptions("H200", 4.0, prompt_tokens=512, output_tokens=100, batch_size=4, grid_carbon=400.0)
    row = {"path": "plain", "decode_path": "p", "batch_size": 4, "ttft_ms": 40.0, "tpot_ms": 6.0,
           "tokens_per_s": 666.7, "prefill_j": 2.0, "decode_step_j": 0.5, "j_per_token": 0.125}
    kwh = 1000 * (2.0 + 100 * 0.5) / 4 / 3.6e6  # each query: a quarter of the batch's prefill and decode steps
    priced = price_rows([row], costs)[0]
    assert priced["kwh_per_1k_queries"] == pytest.approx(kwh) and priced["energy_usd_per_1k_queries"] is None
    latency = latency_result([priced], 10**9, "k", {"bytes_per_s": 1e12, "source": "t"}, 100.0)
    cost = cost_result(latency, costs, "cuda")
    assert cost.kwh_per_1k_queries == pytest.approx(kwh) and cost.co2_g_per_1k_queries == pytest.approx(kwh * 400)
    hourly = 4.0 / 3600 * ((40.0 + 6.0 * 100) / 1000 / 4) * 1000 / 0.6
    assert cost.usd_per_1k_queries == pytest.approx(hourly)
    owned = price_rows([row], replace(costs, electricity_price=0.30))[0]
    assert owned["energy_usd_per_1k_queries"] == pytest.approx(kwh * 0.30)
    assert owned["usd_per_1k_queries"] == pytest.approx(hourly + kwh * 0.30)
    assert latency.j_per_token == 0.125


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_nvml_energy_agrees_with_its_own_power_samples():
    from engine.models import build_random, shape_config

    model = build_random(shape_config("smollm2-135m"), "cuda", torch.bfloat16)
    figures = measure_latency(model, torch.arange(128), 8, decode_steps=16, repeats=2, device="cuda", energy_s=2.0)
    row = figures.row()
    assert row["energy_source"].startswith("NVML"), row["energy_source"]
    assert row["power_samples"] >= 50 and 30 < row["watts_mean"] < 1500
    limit = 1500  # watts: no single GPU draws more
    for block in row["energy_blocks"]:
        # the counter's mean power against the power samples: independent readings of one device. Hopper's power
        # reading is a one-second average, so it lags a block that starts from a lighter load (measured on the
        # H200: 570 W by the counter, 424 W sampled, over a 0.5 s prefill block): within half
        counter_w = block["joules"] / block["seconds"]
        assert 30 < counter_w < limit and block["watts_mean"] == pytest.approx(counter_w, rel=0.5), block
    assert 0 < row["j_per_token"] < row["decode_step_j"] and row["prefill_j"] > 0
