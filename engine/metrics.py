"""The one catalogue of a plan's figures: where each lives in the record, how it reads, which
way is better, and where it is shown. The terminal table, the CSV export, the dashboard's
comparison and history tables, the charts' axes, the verdict's choices and the New run form
are all derived from `METRICS`, so a new metric is its evaluate module plus one entry here.

This module is a leaf (it imports nothing of the engine): records, charts, reports and the
dashboard all read it.
"""

from __future__ import annotations

from dataclasses import dataclass


def pct_change(value, base):
    """Relative change in percent against the baseline; None when either is missing or the base is 0."""
    if value is None or base in (None, 0):
        return None
    return 100.0 * (value - base) / base


@dataclass(frozen=True)
class Metric:
    name: str  # the key in its record section, and the CSV column
    section: str  # size | latency | memory | cost | accuracy
    label: str
    unit: str  # of the shown value (stored value x scale)
    scale: float = 1.0
    fmt: str = ",.2f"  # the shown value; a leading "$" for money
    higher_is_better: bool | None = None
    share: bool = False  # stored in [0, 1]: shown in percent, changes in points
    change: str = "pct"  # a change against the baseline reads as: pct (relative), pts (points), abs, "" (none)
    verdict: str = ""  # non-empty: may decide the verdict; says what it measures, for the form
    column: str = ""  # header in the terminal table ("" leaves it out of it)
    text: str = ""  # terminal format of the stored value: a format spec, or "bytes"
    suffix: str = ""  # after the terminal value
    diverges: bool = False  # meaningless once the plan diverged: reads "diverged"
    compare: bool = True  # a column of the dashboard's comparison tables
    brief: bool = False  # in the terminal's default (100-column) table; every column is in `--wide`

    @property
    def title(self) -> str:
        return f"{self.label} ({self.unit})"

    @property
    def change_unit(self) -> str:
        return {"pct": "%", "pts": "pts", "abs": self.unit}.get(self.change, "")

    def raw(self, plan: dict):
        """The stored value (None when the plan has none: it failed, or did not measure this)."""
        return (plan.get(self.section) or {}).get(self.name)

    def value(self, plan: dict):
        """The shown value (stored value x scale) of a finished plan, else None."""
        raw = self.raw(plan)
        return None if raw is None else raw * self.scale

    def format(self, value) -> str:
        """A shown value as text, 'n/a' when missing."""
        if value is None:
            return "n/a"
        if self.fmt.startswith("$"):
            return "$" + format(value, self.fmt[1:])
        return format(value, self.fmt)

    def delta(self, plan: dict, base: dict):
        """The plan's change against the baseline in this metric's change unit (None when either is missing)."""
        value, base_value = self.raw(plan), self.raw(base)
        if value is None or base_value is None or not self.change:
            return None
        if self.change == "pct":
            return pct_change(value, base_value)
        return (value - base_value) * (100 if self.change == "pts" else self.scale)

    def terminal(self, plan: dict) -> str:
        """The cell of the terminal table for a finished plan."""
        accuracy = plan.get("accuracy") or {}
        if self.section == "accuracy" and not accuracy.get("applicable", True):
            return "n/a"
        raw = self.raw(plan)
        if self.diverges and accuracy.get("diverged"):
            return "diverged" if raw is None else f"{raw:.3g}{self.suffix} (diverged)"
        if raw is None:
            return "-"
        return (human_bytes(raw) if self.text == "bytes" else format(raw, self.text or self.fmt)) + self.suffix


def human_bytes(n) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1000.0
    return str(n)


_CATALOGUE = (
    Metric("weight_bytes", "size", "Weights in memory", "MB", 1e-6, ",.1f", False, column="weights", text="bytes",
           brief=True),
    Metric("compression_ratio", "size", "Compression ratio", "× vs baseline", 1, ".2f", True, change="",
           column="ratio", suffix="x", brief=True),
    Metric("bits_per_weight", "size", "Bits per weight", "bits", 1, ".2f", False, column="bpw"),
    Metric("ttft_ms", "latency", "Time to first token", "ms", 1, ",.1f", False, column="ttft_ms", text=".1f"),
    Metric("tpot_ms", "latency", "Time per output token", "ms", 1, ",.1f", False, column="tpot_ms", text=".1f",
           brief=True),
    Metric("tokens_per_s", "latency", "Throughput", "tokens/s", 1, ",.1f", True),
    Metric("roofline_efficiency", "latency", "Roofline efficiency", "%", 100, ".1f", True, change="",
           column="roofline", text=".1%"),
    Metric("ttft_roofline_efficiency", "latency", "Prefill roofline efficiency", "%", 100, ".1f", True, change="",
           column="prefill_roof", text=".1%"),
    Metric("j_per_token", "latency", "Energy per output token", "J", 1, ",.3f", False, column="j_token",
           text=".3f"),
    Metric("watts_mean", "latency", "Power while decoding", "W", 1, ",.0f", False, column="watts", text=".0f"),
    Metric("peak_bytes", "memory", "Peak memory", "MB", 1e-6, ",.0f", False),
    Metric("usd_per_1k_queries", "cost", "Cost per 1,000 queries", "USD", 1, "$,.4f", False, column="usd_1k",
           text=".4f", brief=True),
    Metric("kwh_per_1k_queries", "cost", "Energy per 1,000 queries", "kWh", 1, ",.4f", False, column="kwh_1k",
           text=".4f"),
    Metric("co2_g_per_1k_queries", "cost", "CO2 per 1,000 queries", "g", 1, ",.1f", False, column="co2_g_1k",
           text=".1f"),
    Metric("perplexity", "accuracy", "Perplexity", "lower is better", 1, ".2f", False, column="ppl",
           verdict="Perplexity (relative increase)", diverges=True),
    Metric("ppl_delta_pct", "accuracy", "Perplexity change", "%", 1, "+.2f", False, change="", column="ppl_delta",
           suffix="%", diverges=True),
    Metric("kl_divergence", "accuracy", "KL divergence from baseline", "nats", 1, ".4f", False, change="abs",
           verdict="KL divergence from the baseline (tolerance in nats)", column="kl"),
    Metric("top1_agreement", "accuracy", "Top-1 agreement with baseline", "%", 100, ".1f", True, share=True,
           change="pts", verdict="Top-1 agreement with the baseline's next token", column="top1", text=".1%"),
    Metric("generation_agreement", "accuracy", "Same generation as baseline", "%", 100, ".1f", True, share=True,
           change="pts", verdict="Same greedy generation as the baseline", column="gen_agree", text=".1%"),
    Metric("task_accuracy", "accuracy", "Task accuracy", "%", 100, ".1f", True, share=True, change="pts",
           verdict="Task accuracy (prompts with a reference answer)", column="task_acc", text=".1%"),
    Metric("accuracy_delta_pts", "accuracy", "Task accuracy change", "pts", 1, "+.1f", True, change="",
           column="acc_delta", text="+.1f", suffix=" pts"),
)

METRICS: dict[str, Metric] = {m.name: m for m in _CATALOGUE}


def register(metric: Metric) -> Metric:
    """Add a metric to the catalogue (a plug-in's figure, or a test's toy metric)."""
    if metric.name in METRICS:
        raise ValueError(f"metric {metric.name!r} is already in the catalogue")
    METRICS[metric.name] = metric
    return metric


def verdict_metrics() -> dict[str, Metric]:
    """The metrics a verdict may be judged on."""
    return {name: m for name, m in METRICS.items() if m.verdict}


def terminal_metrics() -> list[Metric]:
    return [m for m in METRICS.values() if m.column]


def compared_metrics() -> list[Metric]:
    return [m for m in METRICS.values() if m.compare]


def accuracy_fields() -> list[str]:
    """The accuracy section's figures (what a plan's evaluation fills in)."""
    return [name for name, m in METRICS.items() if m.section == "accuracy"]
