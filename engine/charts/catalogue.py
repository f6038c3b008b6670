"""The charts of a run, with their captions: one table that the dashboard's Results page and every
report draw from, so both show the same figures with the same words.

A chart whose builder returns None is not drawn; where `missing` says why, that sentence stands in
its place (a run on a random-weight shape has no accuracy to plot, say).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import plotly.graph_objects as go

from engine.charts import calibration, results, speed, training
from engine.records import cost_sentence, is_ok


def _priced(text: str) -> Callable[[dict], str]:
    return lambda record: f"{text} {cost_sentence(record)}."


def _sensitivity(record: dict) -> list[tuple[str, go.Figure | None]]:
    return [(f"sensitivity-{position}", training.sensitivity_chart(plan))
            for position, plan in enumerate(record["plans"])
            if is_ok(plan) and (plan.get("extras") or {}).get("sensitivity")]


def _energy_caption(record: dict) -> str:
    """What the energy bars are: the counter read, the query, and the CO2 they mean at the assumed grid."""
    plans = [p for p in record["plans"] if is_ok(p) and (p.get("cost") or {}).get("kwh_per_1k_queries") is not None]
    if not plans:
        return ""
    cost, source = plans[0]["cost"], plans[0]["latency"].get("energy_source") or "the device's energy counter"
    co2 = ", ".join(f"{p['plan']} {p['cost']['co2_g_per_1k_queries']:,.1f} g" for p in plans)
    return (f"Measured with the {source} over blocks of at least {record['settings'].get('energy_s', 1.0):g} s, "
            f"per query of {cost['prompt_tokens']} prompt + {cost['output_tokens']} output tokens at batch "
            f"{cost['batch_size']}. CO2 per 1,000 queries at {cost['grid_carbon']:g} g/kWh: {co2}.")


@dataclass(frozen=True)
class ChartSpec:
    key: str
    build: Callable[[dict], go.Figure | None]
    caption: Callable[[dict], str]
    missing: str = ""  # said in the chart's place when it has nothing to draw ("" leaves no trace)
    wide: bool = False  # spans the full width (side-by-side panels, long legends)
    per_plan: Callable[[dict], list[tuple[str, go.Figure | None]]] | None = None  # one chart per plan


CHARTS = (
    ChartSpec("size", results.size_chart,
              lambda r: "Bytes of weights held in memory after compression (packed values plus scales).",
              "Size: no finished plan yet"),
    ChartSpec("cost", results.cost_chart, _priced("Measured latency priced at"), "Cost: no finished plan yet"),
    ChartSpec("energy", results.energy_chart, lambda r: _energy_caption(r),
              "Energy: not measured on this device (no readable energy counter: NVML on NVIDIA GPUs, RAPL on CPUs)"),
    ChartSpec("latency", results.latency_chart,
              lambda r: "Medians after warm-up; prefill of the prompt (left) and one decode step (right).",
              "Latency: no finished plan yet", wide=True),
    ChartSpec("accuracy", results.accuracy_chart,
              lambda r: "Change against the baseline on the run's evaluation data; whiskers: the paired 95% "
                        "interval behind the verdict.",
              "Accuracy is not applicable (random-weight shape) or no plan finished yet"),
    ChartSpec("scatter", results.cost_accuracy_scatter,
              _priced("Filled markers: the Pareto front, plans nothing else beats on both cost and accuracy. Cost:"),
              "Cost vs accuracy: accuracy is not available for these plans"),
    ChartSpec("slices", results.slice_heatmap,
              lambda r: "Change of the verdict metric on each slice of the prompts: prompts with numbers, with "
                        "rare words, and each category in the prompt file.",
              "Slices: needs the baseline and a compressed plan evaluated on your prompts"),
    ChartSpec("throughput", results.throughput_chart,
              lambda r: "Tokens per second as more queries are decoded together (dotted: the plain decode loop; "
                        "ring: cheapest batch within the acceptable time per token).", wide=True),
    ChartSpec("cost-by-batch", speed.cost_by_batch_chart,
              _priced("Cost per 1,000 queries at each measured batch size on the headline decode path; ring: "
                      "cheapest within the acceptable time per token. Cost:")),
    ChartSpec("break-even", training.break_even_chart,
              _priced("Training (distillation) or calibration (GPTQ, AWQ, AutoRound) cost at the run's hardware "
                      "price, then the measured cost per query; such a plan pays back where its line crosses the "
                      "baseline's. Cost:"), wide=True),
    ChartSpec("calibration", calibration.calibration_chart,
              lambda r: " ".join(calibration.calibration_findings(r)) or "Calibration check.", wide=True),
    ChartSpec("sensitivity", lambda r: None,
              lambda r: "Each bar: quantize that block alone and measure KL against the float model on the "
                        "calibration rows.", wide=True, per_plan=_sensitivity),
)


@dataclass(frozen=True)
class RunChart:
    key: str  # unique within the run
    fig: go.Figure | None  # None: nothing to draw
    caption: str  # the caption, or (with no figure) why there is no chart
    wide: bool = False


def run_charts(record: dict) -> list[RunChart]:
    """Every chart of the run in catalogue order: those with a figure, and those whose absence is
    worth a sentence (with fig None and the sentence as caption)."""
    out = []
    for spec in CHARTS:
        built = spec.per_plan(record) if spec.per_plan else [(spec.key, spec.build(record))]
        for key, fig in built:
            if fig is not None:
                out.append(RunChart(key, fig, spec.caption(record), spec.wide))
            elif spec.missing:
                out.append(RunChart(key, None, spec.missing, spec.wide))
    return out
