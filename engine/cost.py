"""Cost per 1,000 queries from measured latency and an explicit, editable price.

cost_per_1k_queries = price_per_hour / 3600 * seconds_per_query * 1000 / utilisation, where
seconds_per_query = (ttft + tpot * output_tokens) / batch_size, at the measured batch size.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from engine.home import SAMPLE_DATA
from engine.records import CostResult

PRICES = SAMPLE_DATA / "prices.csv"


@dataclass(frozen=True)
class PriceRow:
    hardware: str
    kind: str
    usd_per_hour: float
    memory_gb: float
    bandwidth_gb_s: float
    source: str
    date: str


@dataclass(frozen=True)
class CostAssumptions:
    hardware: str
    price_per_hour: float
    prompt_tokens: int = 128
    output_tokens: int = 128
    batch_size: int = 1
    utilisation: float = 0.6
    grid_carbon: float = 480.0  # g CO2 per kWh
    electricity_price: float | None = None  # USD per kWh added to the cost (None: the hourly price covers it)

    def validated(self) -> CostAssumptions:
        if self.price_per_hour < 0:
            raise ValueError("price per hour cannot be negative")
        if not 0 < self.utilisation <= 1:
            raise ValueError("utilisation must be in (0, 1]")
        if self.output_tokens < 1 or self.prompt_tokens < 1 or self.batch_size < 1:
            raise ValueError("tokens per query and batch size must be at least 1")
        return self


def load_prices(path: Path = PRICES) -> dict[str, PriceRow]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {
        row["hardware"]: PriceRow(
            row["hardware"], row["kind"], float(row["usd_per_hour"]), float(row["memory_gb"]),
            float(row["bandwidth_gb_s"]), row["source"], row["date"],
        )
        for row in rows
    }


def default_hardware(device: str, device_name: str) -> str:
    """The price-table row that matches the device (a 2-vCPU instance for a CPU)."""
    prices = load_prices()
    if device == "cuda":
        for name in sorted(prices, key=len, reverse=True):
            if prices[name].kind == "gpu" and name.split("-")[0] in device_name:
                return name
        return "H100"
    return "cpu-2vcpu"


def assumptions(device: str, device_name: str, hardware: str | None = None,
                price_per_hour: float | None = None, **overrides) -> CostAssumptions:
    prices = load_prices()
    hardware = hardware or default_hardware(device, device_name)
    if price_per_hour is None:
        if hardware not in prices:
            raise ValueError(f"unknown hardware '{hardware}'; give --price-per-hour or one of {', '.join(prices)}")
        price_per_hour = prices[hardware].usd_per_hour
    base = CostAssumptions(hardware, float(price_per_hour))
    return replace(base, **{k: v for k, v in overrides.items() if v is not None}).validated()


@dataclass(frozen=True)
class Traffic:
    """Query lengths of the user's own prompt set, the default cost assumptions when prompts are given:
    prompt tokens as the model sees them (chat template included), answer tokens from the references
    where present, else the generation budget."""

    prompts: int
    prompt_tokens_p50: int
    prompt_tokens_p90: int
    output_tokens_p50: int
    output_tokens_p90: int

    @classmethod
    def of(cls, prompt_lengths: list[int], answer_lengths: list[int]) -> Traffic:
        p50, p90 = (math.ceil(v) for v in np.percentile(prompt_lengths, [50, 90]))
        o50, o90 = (math.ceil(v) for v in np.percentile(answer_lengths, [50, 90]))
        return cls(len(prompt_lengths), max(p50, 1), max(p90, 1), max(o50, 1), max(o90, 1))

    def to_dict(self) -> dict:
        return asdict(self)


def at_p90(costs: CostAssumptions, traffic: Traffic) -> CostAssumptions:
    return replace(costs, prompt_tokens=traffic.prompt_tokens_p90, output_tokens=traffic.output_tokens_p90)


def seconds_per_query(ttft_ms: float, tpot_ms: float, a: CostAssumptions) -> float:
    return (ttft_ms + tpot_ms * a.output_tokens) / 1000.0 / a.batch_size


def cost_per_1k_queries(ttft_ms: float, tpot_ms: float, a: CostAssumptions) -> float:
    return a.price_per_hour / 3600.0 * seconds_per_query(ttft_ms, tpot_ms, a) * 1000.0 / a.utilisation


def kwh_per_1k_queries(row: dict, a: CostAssumptions) -> float | None:
    """Measured energy of 1,000 queries at the row's batch size: each query's share of a batch's prefill (timed
    at the assumed prompt length) plus its output tokens' decode steps."""
    if row.get("prefill_j") is None:
        return None
    return 1000 * (row["prefill_j"] + a.output_tokens * row["decode_step_j"]) / row["batch_size"] / 3.6e6


def price_rows(rows: list[dict], costs: CostAssumptions) -> list[dict]:
    """Each measured latency row gains its cost and energy per 1,000 queries at its own batch size (same price
    and utilisation); with an electricity price, the energy's cost is part of the cost."""
    priced = []
    for row in rows:
        at = replace(costs, batch_size=row["batch_size"])
        kwh = kwh_per_1k_queries(row, at)
        energy_usd = kwh * costs.electricity_price if kwh is not None and costs.electricity_price else None
        priced.append({**row, "usd_per_1k_queries": cost_per_1k_queries(row["ttft_ms"], row["tpot_ms"], at)
                       + (energy_usd or 0.0), "kwh_per_1k_queries": kwh, "energy_usd_per_1k_queries": energy_usd})
    return priced


def cost_result(latency, costs: CostAssumptions, device: str, p90: CostAssumptions | None = None,
                source: str = "settings") -> CostResult:
    """The plan's cost section, priced from its headline path at the cost batch size; with `p90`, also at
    the prompt set's 90th-percentile lengths (the prefill scaled from the measured one by prompt length:
    prefill is compute-bound, so its time grows with the tokens)."""
    row = next((r for r in latency.by_batch
                if r["batch_size"] == costs.batch_size and r["decode_path"] == latency.decode_path), None)
    if row is None:
        raise RuntimeError(f"the cost batch size {costs.batch_size} was not measured on the {device} (it did not fit "
                           "in memory, or the plan's runtime measures batch 1 only); price a batch that was measured")
    high = None
    if p90 is not None:
        ttft = row["ttft_ms"] * p90.prompt_tokens / costs.prompt_tokens
        high = cost_per_1k_queries(ttft, row["tpot_ms"], replace(p90, batch_size=costs.batch_size))
    kwh = row.get("kwh_per_1k_queries")
    return CostResult(usd_per_1k_queries=row["usd_per_1k_queries"],
                      seconds_per_query=seconds_per_query(row["ttft_ms"], row["tpot_ms"], costs),
                      usd_per_1k_queries_p90=high, lengths_from=source, kwh_per_1k_queries=kwh,
                      co2_g_per_1k_queries=kwh * costs.grid_carbon if kwh is not None else None,
                      energy_usd_per_1k_queries=row.get("energy_usd_per_1k_queries"), **asdict(costs))


def training_economics(extras: dict, cost, base_cost, costs: CostAssumptions) -> dict | None:
    """Upfront cost (distillation's training, a calibrated method's calibration) against per-query savings:
    when does the plan pay back?"""
    upfront = extras.get("training") or extras.get("upfront")
    if upfront is None or base_cost is None:
        return None
    training_usd = upfront["seconds"] * costs.price_per_hour / 3600.0
    savings = base_cost.usd_per_1k_queries - cost.usd_per_1k_queries
    return {"training_usd": training_usd, "training_seconds": upfront["seconds"],
            "upfront": upfront.get("what", "training"),
            "savings_per_1k_usd": savings,
            "break_even_queries": training_usd / (savings / 1000.0) if savings > 0 else None,
            "hardware": costs.hardware, "price_per_hour": costs.price_per_hour}
