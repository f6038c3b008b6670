"""Machine-readable exports of one or more runs: CSV with one row per plan, JSON with the full run
records, a per-prompt CSV, and the stored prompt set as JSONL. Every CSV cell taken from user text
is neutralised with engine.exporting.safe_cell, so a spreadsheet never runs it as a formula."""

from __future__ import annotations

import csv
import io
import json

from engine.exporting import CSV_FIELDS, _get, safe_cell
from engine.reports.content import Report, ReportError

# The engine's export columns, then the accuracy and verdict columns a report adds.
PLAN_FIELDS = CSV_FIELDS + [
    ("memory_kind", "memory.kind"), ("seconds_per_query", "cost.seconds_per_query"),
    ("generation_agreement", "accuracy.generation_agreement"), ("task_accuracy", "accuracy.task_accuracy"),
    ("accuracy_delta_pts", "accuracy.accuracy_delta_pts"), ("accuracy_applicable", "accuracy.applicable"),
    ("perplexity_source", "accuracy.perplexity_source"), ("verdict_metric", "verdict.metric"),
    ("verdict_within", "verdict.within"), ("seconds", "seconds"),
]
PROMPT_FIELDS = ["index", "category", "prompt", "reference", "baseline_output", "output", "baseline_correct",
                 "correct", "kl", "top1_agreement", "same_generation"]


def plans_csv(report: Report) -> str:
    """One row per plan of every run; each run's recommendation and verdict rule repeated on its rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["run_id", "created", "model", "device", "position", *[name for name, _ in PLAN_FIELDS],
                     "recommended"])
    for record in report.records:
        recommended = (record.get("recommendation") or {}).get("plan")
        for position, plan in enumerate(record["plans"]):
            writer.writerow([record["run_id"], record.get("created"), safe_cell(record["model"]["name"]),
                             safe_cell(record["device"]["name"]), position]
                            + [safe_cell(_get(plan, path)) for _, path in PLAN_FIELDS]
                            + [plan["plan"] == recommended])
    return buffer.getvalue()


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
