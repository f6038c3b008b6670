"""CSV/JSON round-trip to the store's numbers; the per-prompt CSV neutralises formulas."""

import csv
import io
import json

from engine.evaluation.prompts import load_prompts
from engine.metrics import METRICS
from engine.reports import tabular

from .conftest import FORMULA, SCRIPT


def _get(record, dotted):
    for key in dotted.split("."):
        record = (record or {}).get(key)
    return record


def test_plans_csv_round_trips_to_the_store(two_run_report, store):
    rows = list(csv.DictReader(io.StringIO(tabular.plans_csv(two_run_report))))
    records = {r["run_id"]: store.get_run(r["run_id"]) for r in two_run_report.records}
    assert len(rows) == sum(len(r["plans"]) for r in records.values())
    for row in rows:
        plan = records[row["run_id"]]["plans"][int(row["position"])]
        for name, path in tabular.plan_fields():
            value = _get(plan, path)
            if isinstance(value, bool) or value is None:
                assert row[name] == ("" if value is None else str(value)), name
            elif isinstance(value, (int, float)):
                assert float(row[name]) == value, name  # exact: floats are written in full
            else:
                assert row[name] == value, name
    assert set(METRICS) <= set(rows[0])  # every catalogue metric has its column


def test_json_is_the_stored_records(two_run_report, store):
    data = json.loads(tabular.report_json(two_run_report))
    assert data["format"] == "compecon-report/1"
    assert data["runs"] == [store.get_run(r["run_id"]) for r in two_run_report.records]


def test_prompt_csv_neutralises_formulas(report, store, embedded_run):
    rows = list(csv.DictReader(io.StringIO(tabular.prompts_csv(report))))
    stored = store.prompt_records(embedded_run["run_id"])
    assert len(rows) == len(stored)
    prompts = {r["prompt"] for r in rows}
    assert "'" + FORMULA in prompts and FORMULA not in prompts
    assert SCRIPT in prompts  # harmless in a CSV: not a formula
    for row, record in zip(rows, stored):
        assert float(row["kl"]) == record["kl"] and int(row["index"]) == record["index"]
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "@", "\t", "\r")), value
            if value.startswith("-"):
                float(value)  # only a negative number may start with a minus


def test_prompt_set_jsonl_reloads_to_the_same_hash(report, prompt_set, tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text(tabular.prompt_set_jsonl(report), encoding="utf-8")
    assert load_prompts(path).sha256 == prompt_set.sha256
