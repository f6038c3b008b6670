"""Machine-readable exports of one or more runs: CSV with one row per plan, JSON with the full run
records, a per-prompt CSV, and the stored prompt set as JSONL. Every CSV cell taken from user text
is neutralised with `safe_cell`, so a spreadsheet never runs it as a formula.

The plan CSV's figures are the metric catalogue's (engine/metrics.py), one column each, between the
columns that say what ran and the context every figure needs (batch, decode path, prices, verdict).
"""

from __future__ import annotations

import csv
import io
import json

from engine.metrics import METRICS
from engine.reports.content import Report, ReportError

IDENTITY = [("plan", "plan"), ("status", "status"), ("error", "error"), ("runtime", "runtime.name"),
            ("backend", "backend"), ("kernel_path", "kernel_path")]
CONTEXT = [
    ("disk_bytes", "size.disk_bytes"), ("batch_size", "latency.batch_size"), ("decode_path", "latency.decode_path"),
    ("memory_kind", "memory.kind"), ("hardware", "cost.hardware"), ("price_per_hour", "cost.price_per_hour"),
    ("prompt_tokens", "cost.prompt_tokens"), ("output_tokens", "cost.output_tokens"),
    ("utilisation", "cost.utilisation"), ("seconds_per_query", "cost.seconds_per_query"),
    ("accuracy_applicable", "accuracy.applicable"), ("perplexity_source", "accuracy.perplexity_source"),
    ("verdict_metric", "verdict.metric"), ("verdict_within", "verdict.within"), ("verdict_state", "verdict.state"),
    ("verdict_delta", "verdict.delta"), ("verdict_p_value", "verdict.p_value"),
    ("verdict_prompts_needed", "verdict.prompts_needed"), ("seconds", "seconds"),
    ("runtime_version", "runtime.version"), ("threads", "runtime.threads"), ("artifact", "runtime.artifact"),
    ("artifact_sha256", "runtime.artifact_sha256"),
]
PROMPT_FIELDS = ["index", "category", "prompt", "reference", "baseline_output", "output", "baseline_correct",
                 "correct", "kl", "top1_agreement", "same_generation"]


def plan_fields() -> list[tuple[str, str]]:
    """(column, dotted path in a plan record) for every column of the plan CSV, the catalogue's now."""
    return IDENTITY + [(m.name, f"{m.section}.{m.name}") for m in METRICS.values()] + CONTEXT


def _get(record: dict, dotted: str):
    value = record
    for key in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def safe_cell(value):
    """Neutralise text a spreadsheet would run as a formula (=, +, -, @, tab, CR)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def records_csv(records: list[dict]) -> str:
    """One row per plan of every run; each run's recommendation repeated on its rows."""
    fields = plan_fields()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["run_id", "created", "model", "device", "position", *[name for name, _ in fields],
                     "recommended"])
    for record in records:
        recommended = (record.get("recommendation") or {}).get("plan")
        for position, plan in enumerate(record["plans"]):
            writer.writerow([record["run_id"], record.get("created"), safe_cell(record["model"]["name"]),
                             safe_cell(record["device"]["name"]), position]
                            + [safe_cell(_get(plan, path)) for _, path in fields]
                            + [plan["plan"] == recommended])
    return buffer.getvalue()


def to_csv(record: dict) -> str:
    """One run as CSV (`compecon export`, the dashboard's Export page)."""
    return records_csv([record])


def to_json(record: dict) -> str:
    return json.dumps(record, indent=2)


def plans_csv(report: Report) -> str:
    return records_csv(report.records)


def prompts_csv(report: Report) -> str:
    """Every stored per-prompt record: the baseline's and each plan's output side by side."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["run_id", "position", "plan", *PROMPT_FIELDS])
    for run in report.runs:
        plans = [p["plan"] for p in run.record["plans"]]
        for row in run.prompt_records:
            writer.writerow([run.run_id, row["position"], safe_cell(plans[row["position"]])]
                            + [safe_cell(row.get(name)) for name in PROMPT_FIELDS])
    return buffer.getvalue()


def report_json(report: Report) -> str:
    """The full run records (the CLI's --json contract), wrapped with what made the report."""
    return json.dumps({"format": "compecon-report/1", "generated": report.generated,
                       "tool_version": report.tool_version, "software": dict(report.software),
                       "runs": report.records}, indent=2)


def prompt_set_jsonl(report: Report) -> str:
    """The stored prompt set of the runs as JSONL, ready for `compecon run --prompts` (same sha256)."""
    sets = {run.prompt_set["sha256"]: run.prompt_set for run in report.runs if run.prompt_set}
    if not sets:
        raise ReportError("these runs were not evaluated on a prompt file: there is no prompt set to write")
    if len(sets) > 1:
        raise ReportError("these runs used different prompt sets; write one run's prompt set at a time")
    items = next(iter(sets.values()))["items"]
    rows = [{k: item[k] for k in ("prompt", "reference", "choices", "category") if item.get(k) is not None}
            for item in items]
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
