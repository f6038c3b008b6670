"""The Sweeps page on a real sweep (the tiny llama and a random-weight shape, fp32 and int8, on a local Ray), made once
for this module in a store of its own: the grid, each model's recommendation, the Pareto front checked against the
records, pending cells filling in while a sweep runs, a sweep as one entry on History, and a sweep submitted from the
New run page as one job."""

from __future__ import annotations

import pytest

from engine.settings import RunSettings, plans_for
from engine.store import Store
from engine.sweep import Cluster, sweep
from tests.dashboard.conftest import quiet
from tests.dashboard.helpers import plotly_figures, texts

SETTINGS = RunSettings(device="cpu", decode_steps=2, repeats=1, prompt_tokens=8, output_tokens=8, eval_tokens=64,
                       max_new_tokens=4, keep_artifacts=False)


@pytest.fixture(scope="module")
def swept(tiny_llama, tmp_path_factory):
    """One real sweep; the module's pages read its store (COMPECON_HOME) and its own device lock."""
    home = tmp_path_factory.mktemp("sweeps-home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("COMPECON_HOME", str(home))
        env.setenv("COMPECON_LOCK_DIR", str(home / "locks"))
        env.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        yield sweep([str(tiny_llama), "shape:smollm2-135m"], plans_for(["fp32", "int8"], None, "cpu"), SETTINGS,
                    None, Cluster(cpus=2), Store(), progress=quiet)


def _figure(at, title: str) -> dict:
    return next(f for f in plotly_figures(at) if f["layout"].get("title", {}).get("text", "").startswith(title))


def _cell_words(fig: dict) -> dict:
    words = fig["data"][-1]  # the words laid over the cells
    return dict(zip(zip(words["y"], words["x"]), words["text"]))


def test_the_grid_recommendations_and_front_match_the_records(app, swept):
    at = app("sweeps", sweep=swept["sweep_id"][:6])
    assert texts(at, "title") == ["Sweeps"] and not at.exception
    tiny, shape = swept["runs"]
    for run in swept["runs"]:
        assert any(run["recommendation"]["reason"] in box for box in texts(at, "success") + texts(at, "info"))
    cost = _cell_words(_figure(at, "Cost per 1,000 queries"))
    base, int8 = (p["cost"]["usd_per_1k_queries"] for p in tiny["plans"])
    assert f"{100 * (int8 - base) / base:+.1f}%" in cost[(tiny["model"]["name"], "int8")]
    accuracy = _cell_words(_figure(at, "Top-1 agreement with baseline: change"))
    assert accuracy[("shape:smollm2-135m", "int8")] == "n/a"
    change = 100 * (tiny["plans"][1]["accuracy"]["top1_agreement"] - tiny["plans"][0]["accuracy"]["top1_agreement"])
    assert accuracy[(tiny["model"]["name"], "int8")].replace("★ ", "").startswith(f"{change:+.1f} pts")

    cells = at.dataframe[0].value
    assert len(cells) == 4 and set(cells["Status"]) == {"ok"}
    assert cells["Cost / 1k queries (USD)"].tolist() == pytest.approx(
        [p["cost"]["usd_per_1k_queries"] for r in swept["runs"] for p in r["plans"]])
    # the front on accuracy, by definition, from the records: only the tiny llama has accuracy
    points = {p["plan"]: (p["cost"]["usd_per_1k_queries"], -(p["accuracy"]["top1_agreement"] -
                                                             tiny["plans"][0]["accuracy"]["top1_agreement"]))
              for p in tiny["plans"]}
    front = {name for name, (x, y) in points.items()
             if not any(x2 <= x and y2 <= y and (x2, y2) != (x, y) for other, (x2, y2) in points.items()
                        if other != name)}
    assert set(cells[cells["Pareto front"] == "yes"]["Plan"]) == front
    assert set(cells[cells["Pareto front"] == "yes"]["Model"]) == {tiny["model"]["name"]}
    assert any("measured cells have no accuracy" in c for c in texts(at, "caption"))

    at.radio(key="sweep_axis").set_value("size").run()
    assert _figure(at, "Cost vs size across every cell")
    cells = at.dataframe[0].value
    assert "shape:smollm2-135m" not in set(cells[cells["Pareto front"] == "yes"]["Model"])  # larger and dearer
    assert any(link.value.startswith(f"Open {tiny['model']['name']} in Results") for link in at.page_link)
    at.button(key=f"build_sweep_report_{swept['sweep_id']}").click().run()  # both runs as one HTML comparison
    assert "Download the HTML report" in [b.label for b in at.get("download_button")]


def test_a_running_sweep_shows_pending_cells_and_fills_them_in(app, swept):
    """A sweep this process owns, stored cell by cell from the real sweep's records, as the driver stores them."""
    store = Store()
    live = "5eed" + swept["sweep_id"][4:]
    store.start_sweep(live, swept["spec"])
    tiny = swept["runs"][0]
    run_id = store.create_run(tiny["model"], tiny["device"],
                              {**tiny["settings"], "sweep": {"id": live, "model_spec": swept["spec"]["models"][0]}},
                              [p["plan"] for p in tiny["plans"]], sweep=live)
    store.add_plan_result(run_id, 0, tiny["plans"][0])
    at = app("sweeps", sweep=live)
    words = _cell_words(_figure(at, "Cost per 1,000 queries"))
    assert sorted(k for k, v in words.items() if v == "pending") == [
        ("shape:smollm2-135m", "fp32"), ("shape:smollm2-135m", "int8"), (tiny["model"]["name"], "int8")]
    assert any("updates itself as cells land" in c for c in texts(at, "caption"))
    assert any("grey cells are pending" in i for i in texts(at, "info"))

    store.add_plan_result(run_id, 1, tiny["plans"][1])
    at.run()
    words = _cell_words(_figure(at, "Cost per 1,000 queries"))
    assert list(words.values()).count("pending") == 2 and words[(tiny["model"]["name"], "int8")].startswith("$")

    store.finish_run(run_id, "done", {"recommendation": tiny["recommendation"]})
    store.finish_sweep(live, "done", {})
    at.run()
    assert not any("updates itself" in c for c in texts(at, "caption"))
    assert list(_cell_words(_figure(at, "Cost per 1,000 queries")).values()).count("not run") == 2
    store.delete_run(run_id)


def test_history_shows_a_sweep_as_one_entry(app, swept):
    at = app("history")
    ids = [r["run_id"] for r in swept["runs"]]
    entry = next(e for e in at.expander if e.label.startswith(f"Sweep {swept['sweep_id']}"))
    assert len(at.dataframe) == len(entry.dataframe) == 1  # every run here is a sweep's: no table of runs alone
    assert "2 models × 2 plans" in entry.label
    assert sorted(entry.dataframe[0].value["run"]) == sorted(ids)
    at.button(key=f"history_pick_sweep_{swept['sweep_id']}").click().run()
    assert sorted(at.multiselect(key="history_pick").value) == sorted(ids)
    assert "Side by side" in texts(at, "subheader")


def test_new_run_submits_several_models_as_one_sweep_job(app, swept, tiny_llama, queue, no_worker_runs):
    at = app()
    at.toggle(key="sweep_mode").set_value(True).run()
    assert at.button(key="start_sweep").disabled is False  # the defaults: the embedded model and its shape
    at.text_area(key="sweep_more_models").set_value("shape:nope").run()
    assert any("unknown shape 'nope'" in e for e in texts(at, "error"))
    assert at.button(key="start_sweep").disabled is True
    at.multiselect(key="sweep_models").set_value(["shape:smollm2-135m"]).run()
    at.text_area(key="sweep_more_models").set_value(str(tiny_llama)).run()
    assert not at.error
    at.button(key="start_sweep").click().run()
    (job,) = [j for j in queue.list_jobs() if j["status"] == "queued"]
    assert job["spec"]["models"] == ["shape:smollm2-135m", str(tiny_llama)] and "model" not in job["spec"]
    assert at.query_params.get("job") == job["job_id"] and texts(at, "title") == ["Sweeps"]
    assert [m.value for m in at.metric][0] == "queued"
    assert any("Queued on the cpu: position 1" in i for i in texts(at, "info"))
    run_page = app("run", job=job["job_id"])
    assert texts(run_page, "title") == [f"Sweep: 2 models × {len(job['spec']['plans'])} plans"]
