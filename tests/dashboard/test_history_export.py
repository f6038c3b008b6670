"""History (filter, open, compare, delete with confirmation) and Export (JSON and CSV downloads)."""

from engine.pipeline import run
from engine.settings import RunSettings, plans_for
from engine.store import Store
from tests.dashboard.conftest import FAST, quiet
from tests.dashboard.helpers import plotly_figures, texts


def test_history_lists_filters_and_compares(app, embedded_record, shape_record):
    at = app("history")
    listed = at.dataframe[0].value
    runs = listed["run"].tolist()
    assert embedded_record["run_id"] in runs and shape_record["run_id"] in runs
    row = listed[listed["run"] == embedded_record["run_id"]].iloc[0]
    assert row["recommendation"] == embedded_record["recommendation"]["reason"]
    at.text_input(key="history_text").set_value("bf16").run()
    assert at.dataframe[0].value["run"].tolist() == [shape_record["run_id"]]
    at.text_input(key="history_text").set_value("").run()
    at.multiselect(key="history_pick").set_value([embedded_record["run_id"], shape_record["run_id"]]).run()
    links = [link.value for link in at.page_link]
    assert f"Open {embedded_record['run_id']} in Results" in links
    side_by_side = at.dataframe[1].value
    assert set(side_by_side["run"]) == {embedded_record["run_id"], shape_record["run_id"]}
    assert any(f["layout"]["title"]["text"] == "Cost per 1,000 queries by run" for f in plotly_figures(at))
    at.selectbox(key="compare_metric").set_value("tpot_ms").run()
    assert any(f["layout"]["title"]["text"] == "Time per output token by run" for f in plotly_figures(at))


def test_delete_asks_first_and_touches_only_that_run(app, embedded_record, shape_record):
    doomed = run("shape:smollm2-135m", plans_for(["fp32"], None, "cpu"), RunSettings(**FAST), progress=quiet)
    store = Store()
    others = {r["run_id"] for r in store.list_runs()} - {doomed["run_id"]}
    at = app("history")
    at.multiselect(key="history_pick").set_value([doomed["run_id"]]).run()
    at.button(key="delete_ask").click().run()
    assert any("cannot be undone" in e for e in texts(at, "error"))
    assert doomed["run_id"] in {r["run_id"] for r in store.list_runs()}  # not yet
    at.button(key="delete_no").click().run()
    assert doomed["run_id"] in {r["run_id"] for r in store.list_runs()}
    at.button(key="delete_ask").click().run()
    at.button(key="delete_yes").click().run()
    assert not at.exception
    remaining = {r["run_id"] for r in store.list_runs()}
    assert doomed["run_id"] not in remaining and remaining == others
    assert any(f"Deleted run {doomed['run_id']}" in s for s in texts(at, "success"))
    assert store.prompt_records(embedded_record["run_id"])  # other runs keep their per-prompt records


def test_export_offers_json_and_csv(app, embedded_record):
    at = app("export", run=embedded_record["run_id"])
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Download JSON (full run record)", "Download CSV (one row per plan)"]
    assert any("2 of 2 plans finished" in c for c in texts(at, "caption"))


def test_export_builds_an_html_report_on_click(app, embedded_record):
    at = app("export", run=embedded_record["run_id"])
    at.button(key="build_report").click().run()
    assert not at.exception
    labels = [b.label for b in at.get("download_button")]
    assert "Download HTML report" in labels
