"""Results page on real stored runs: the sentence, every chart, the table, slices, drill-down."""

from tests.dashboard.helpers import plotly_figures, texts


def test_recommendation_charts_and_table(app, embedded_record):
    at = app("results", run=embedded_record["run_id"])
    reason = embedded_record["recommendation"]["reason"]
    assert any(reason in s for s in texts(at, "success") + texts(at, "info"))
    titles = [f["layout"].get("title", {}).get("text") for f in plotly_figures(at)]
    for expected in ("Size: weights held in memory", "Cost per 1,000 queries", "Cost vs accuracy", "Change per slice"):
        assert any(t and t.startswith(expected) for t in titles), (expected, titles)
    assert any(t and "vs baseline" in t for t in titles)  # the accuracy delta
    assert len(titles) == 6  # size, cost, latency, accuracy, scatter, slices (one batch size: no throughput)
    table = at.dataframe[0].value
    assert table["Plan"].tolist() == ["fp32", "int8"]
    assert table["Verdict"].iloc[1] in ("within", "outside")
    assert any("Cost assumes cpu-2vcpu at $0.096/h" in c for c in texts(at, "caption"))


def test_one_colour_per_plan_across_charts(app, embedded_record):
    at = app("results", run=embedded_record["run_id"])
    colours = {}
    for fig in plotly_figures(at):
        for trace in fig["data"]:
            if trace.get("type") == "bar" and isinstance(trace.get("marker", {}).get("color"), list):
                for plan, colour in zip(trace["x"], trace["marker"]["color"]):
                    assert colours.setdefault(plan, colour) == colour, plan
    assert set(colours) == {"fp32", "int8"} and colours["fp32"] != colours["int8"]


def test_slower_plans_are_explained(app, embedded_record):
    at = app("results", run=embedded_record["run_id"])
    base, plan = embedded_record["plans"]
    expanders = [e.label for e in at.expander]
    slower = plan["latency"]["tpot_ms"] > base["latency"]["tpot_ms"]
    assert any("Why is int8 slower" in label for label in expanders) == slower
    if slower:
        text = " ".join(str(m.value) for m in at.markdown)
        assert "Roofline efficiency" in text and plan["latency"]["kernel_path"] in text


def test_drill_down_shows_both_outputs_as_plain_text(app, embedded_record):
    at = app("results", run=embedded_record["run_id"])
    assert at.selectbox(key="drill_plan").value == 1
    prompts = at.dataframe[1].value
    assert len(prompts) == 6 and list(prompts.columns)[:3] == ["#", "effect", "KL (nats)"]
    shown = texts(at, "text")
    chosen = at.selectbox(key="drill_prompt").value
    record = [r for r in _records(embedded_record) if r["index"] == chosen][0]
    assert record["prompt"] in shown and (record["output"] or "(empty)") in shown


def _records(record):
    from engine.store import Store

    return Store().prompt_records(record["run_id"], 1)


def test_shape_run_says_accuracy_is_not_applicable(app, shape_record):
    at = app("results", run=shape_record["run_id"])
    titles = [f["layout"].get("title", {}).get("text") or "" for f in plotly_figures(at)]
    assert not any("vs baseline" in t for t in titles)  # no accuracy chart: its place says why
    assert any("Accuracy is not applicable" in i for i in texts(at, "info"))
    assert any("random-weight shape" in i for i in texts(at, "info"))


def test_unknown_run_is_reported(app, shape_record):
    at = app("results", run="zzzz")
    assert any("No stored run matches 'zzzz'" in e for e in texts(at, "error"))


def test_speed_detail_names_each_decode_path_and_kernel(app, embedded_record):
    at = app("results", run=embedded_record["run_id"])
    assert any("Speed detail" in e.label for e in at.expander)
    speed = at.dataframe[-1].value
    assert list(speed["Plan"]) == ["fp32", "int8"]  # one batch size, one path on a CPU
    assert set(speed["Decode path"]) == {embedded_record["plans"][0]["latency"]["decode_path"]}
    assert speed["Kernel"].iloc[1] == embedded_record["plans"][1]["latency"]["kernel_path"]


def test_a_run_still_going_says_so_and_follows_the_store(app, embedded_record):
    from engine.store import Store

    store, record = Store(), embedded_record
    live = store.create_run(record["model"], record["device"], record["settings"],
                            [p["plan"] for p in record["plans"]])  # owned by this (live) process: running
    store.add_plan_result(live, 0, record["plans"][0])
    try:
        at = app("results", run=live)
        assert any("This run is running: 1 of 2 plans finished" in w for w in texts(at, "warning"))
        assert any("updates itself as plans finish" in c for c in texts(at, "caption"))
        store.add_plan_result(live, 1, record["plans"][1])
        store.finish_run(live, "done", {"recommendation": record["recommendation"]})
        at.run()
        assert not any("updates itself" in c for c in texts(at, "caption"))
        assert any(record["recommendation"]["reason"] in s for s in texts(at, "success") + texts(at, "info"))
    finally:
        store.delete_run(live)
