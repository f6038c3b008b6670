"""The metric catalogue drives every table: a toy metric added through it shows up in the terminal
table, the CSV export and the dashboard's comparison without touching those modules."""

import csv
import io

import pytest

from engine import metrics
from engine.metrics import METRICS, Metric, pct_change


def _plan(name, weight, tpot, top1, toy=None):
    return {"plan": name, "status": "ok", "backend": "torch",
            "size": {"weight_bytes": weight, "compression_ratio": 1.0, "bits_per_weight": 16.0},
            "latency": {"ttft_ms": 10.0, "tpot_ms": tpot, "tokens_per_s": 1000 / tpot, "batch_size": 1},
            "memory": {"peak_bytes": 1e8}, "cost": {"usd_per_1k_queries": tpot / 100},
            "accuracy": {"applicable": True, "top1_agreement": top1, "toy_score": toy}}


RECORD = {"run_id": "r1", "created": "2026-12-04T00:00:00+00:00", "status": "done",
          "model": {"name": "m"}, "device": {"type": "cpu", "name": "test CPU"},
          "settings": {"verdict": {"metric": "top1_agreement", "rule": "within 1%"},
                       "cost": {"hardware": "cpu-2vcpu", "price_per_hour": 0.1, "prompt_tokens": 8,
                                "output_tokens": 8, "batch_size": 1, "utilisation": 0.5}},
          "plans": [_plan("fp32", 4e8, 50.0, 1.0, 0.5), _plan("int8", 1e8, 40.0, 0.9, 0.25)]}


@pytest.fixture
def toy_metric():
    metric = metrics.register(Metric("toy_score", "accuracy", "Toy score", "points", 1, ".3f", True,
                                     column="toy", text=".3f"))
    yield metric
    del METRICS["toy_score"]


def test_changes_follow_each_metric_kind():
    base, plan = RECORD["plans"]
    assert METRICS["weight_bytes"].delta(plan, base) == pytest.approx(-75.0)  # (1e8 - 4e8) / 4e8
    assert METRICS["top1_agreement"].delta(plan, base) == pytest.approx(-10.0)  # points: 100 * (0.9 - 1.0)
    assert METRICS["compression_ratio"].delta(plan, base) is None  # a ratio against the baseline already
    assert pct_change(3.0, 2.0) == pytest.approx(50.0) and pct_change(1.0, 0) is None


def test_a_toy_metric_reaches_the_terminal_the_csv_and_the_dashboard(toy_metric):
    from dashboard.components.tables import comparison_frame
    from engine.reports.tabular import to_csv
    from engine.reports.terminal import render

    table = render(RECORD, wide=True).splitlines()
    at = table[0].index(" toy ") + 1  # the column starts where its header does
    assert [line[at:].split("  ")[0] for line in table[1:3]] == ["0.500", "0.250"]
    rows = list(csv.DictReader(io.StringIO(to_csv(RECORD))))
    assert [float(r["toy_score"]) for r in rows] == [0.5, 0.25]
    frame = comparison_frame(RECORD)
    assert list(frame["Toy score (points)"]) == [0.5, 0.25]
    assert list(frame["Δ Toy score (%)"])[1] == pytest.approx(-50.0)


def test_every_verdict_metric_and_terminal_column_is_unique():
    columns = [m.column for m in metrics.terminal_metrics()]
    assert len(columns) == len(set(columns))
    assert set(metrics.verdict_metrics()) == {"perplexity", "kl_divergence", "top1_agreement",
                                             "generation_agreement", "task_accuracy"}
