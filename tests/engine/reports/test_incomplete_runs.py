"""A run with a failed plan and one that never ran still renders in every text format, the error
escaped, the recommendation withheld and the failure listed among the known limits."""

import copy

from engine.reports import content, html, tabular
from engine.reports.disclosure import cards_markdown
from engine.reports.markdown import to_markdown


def _interrupted(record: dict) -> dict:
    record = copy.deepcopy(record)
    record["status"] = "interrupted"
    record.pop("recommendation", None)
    record["plans"][1] = {"plan": "int8", "status": "failed", "error": "RuntimeError: <b>kernel</b> missing",
                          "steps": [{"name": "int8", "params": {}}]}
    record["plans"].append({"plan": "int4:group=32", "status": "interrupted", "error": None})
    return record


def _report(run: content.RunReport) -> content.Report:
    return content.Report("t", "2026-01-01T00:00:00+00:00", "0", (("compecon (this tool)", "0"),), (run,), None)


def test_failed_and_unfinished_plans_render(embedded_run):
    record = _interrupted(embedded_run)
    run = content.build_run(record)
    report = _report(run)
    assert run.headline.warning and "interrupted" in run.headline.warning
    page = html.render(report)
    assert "<b>kernel</b>" not in page and "&lt;b&gt;kernel&lt;/b&gt;" in page
    assert "int4:group=32" in page
    md = to_markdown(report)
    assert "&lt;b&gt;kernel&lt;/b&gt;" in md and "<b>" not in md
    card = cards_markdown(report)
    assert "int8 failed" in card and "int4:group=32 did not finish" in card
    assert "groups of 32" in card  # the GGUF's Q4_1 blocks make such a plan look lossless
    rows = tabular.plans_csv(report).splitlines()
    assert len(rows) == 1 + len(record["plans"])
