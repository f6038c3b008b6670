"""The Results page's sections: the verdict sentence, the charts, the table, slices, and the
"why is it slower?" notes. Charts and captions come from engine.charts.catalogue, so the reports
draw the same ones."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.components import services, tables
from engine.charts.catalogue import run_charts
from engine.records import is_ok, ok_plans, runtime_label
from engine.reports.explain import slower_than_baseline
from engine.reports.mdtext import text as inert

PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def plot(fig, key: str) -> None:
    st.plotly_chart(fig, theme=None, config=PLOTLY_CONFIG, key=key)


def pick_run() -> str | None:
    """?run=ID, else a choice among stored runs (newest first)."""
    rows = services.runs()
    wanted = st.query_params.get("run")
    ids = [r["run_id"] for r in rows]
    if wanted and wanted not in ids:
        matches = [i for i in ids if i.startswith(wanted)]
        wanted = matches[0] if len(matches) == 1 else None
        if wanted is None:
            st.error(f"No stored run matches '{inert(st.query_params.get('run'), 40)}'.")
    if not rows:
        return None
    labels = {r["run_id"]: services.run_label(r) for r in rows}
    run_id = st.selectbox("Run", ids, index=ids.index(wanted) if wanted else 0, format_func=labels.get,
                          key=f"results_run_{wanted or ''}")
    st.query_params["run"] = run_id
    return run_id


def headline(record: dict) -> None:
    """The verdict and recommendation in one sentence a PM can repeat."""
    done = len(ok_plans(record))
    if record["status"] != "done":
        st.warning(f"This run is {record['status']}: {done} of {len(record['plans'])} plans finished. "
                   "No recommendation until every plan has run; the figures below are those finished.")
    recommendation = record.get("recommendation") or {}
    if recommendation.get("reason"):
        box = st.success if recommendation.get("plan") else st.info
        box(recommendation["reason"], icon=":material/recommend:")
    rule = ((record.get("settings") or {}).get("verdict") or {}).get("rule")
    prompts = (record.get("settings") or {}).get("prompts") or {}
    facts = [f"{record['model']['name']} on {record['device']['name']}"]
    if rule:
        facts.append(f"verdict: {rule}")
    if prompts:
        facts.append(f"{prompts.get('evaluation', '?')} prompts evaluated from '{prompts.get('name')}'")
    st.caption(inert(" · ".join(facts)))  # the model's and prompt file's names as written, never as Markdown
    for note in record["model"].get("notes") or []:
        st.caption(f"Note: {inert(note)}")  # a note can quote the model's own files (custom code it names)


FOLLOW_S = 2.0


def finished_plans(record: dict) -> int:
    return sum(p.get("status") != "pending" for p in record["plans"])


def follow(record: dict) -> None:
    """While the run is going, watch the store: a newly finished plan, or the run's end, redraws the page."""
    if record["status"] == "running":
        _watch(record["run_id"], finished_plans(record))


@st.fragment(run_every=FOLLOW_S)
def _watch(run_id: str, seen: int) -> None:
    fresh = services.run_record(run_id)
    if fresh is None or fresh["status"] != "running" or finished_plans(fresh) != seen:
        st.rerun()
    st.caption(":material/autorenew: This page updates itself as plans finish.")


def chart_grid(record: dict) -> None:
    """The run's charts, two to a row (wide ones alone), each with its caption; a chart with
    nothing to draw says why in its place."""
    pending = []

    def flush():
        if not pending:
            return
        columns = st.columns(2) if len(pending) == 2 else [st.container()]
        for column, chart in zip(columns, pending):
            with column:
                show_chart(chart)
        pending.clear()

    for chart in run_charts(record):
        if chart.wide:
            flush()
            pending.append(chart)
            flush()
            continue
        pending.append(chart)
        if len(pending) == 2:
            flush()
    flush()


def show_chart(chart) -> None:
    if chart.fig is None:
        st.info(chart.caption, icon=":material/info:")
        return
    plot(chart.fig, f"chart_{chart.key}")
    st.caption(chart.caption)


def comparison(record: dict) -> None:
    st.dataframe(tables.styled(tables.comparison_frame(record)), hide_index=True)
    st.caption("Δ columns compare each plan with the baseline (first row); green: within the tolerance, red: "
               "outside it. " + tables.cost_assumptions(record))
    failed = [p for p in record["plans"] if p.get("status") == "failed"]
    for plan in failed:
        st.error(f"{plan['plan']} failed: {inert(plan.get('error'))}")
    for plan in record["plans"]:
        for note in plan.get("notes") or []:
            st.caption(f"{plan['plan']}: {inert(note)}")


def speed_detail(record: dict) -> None:
    """Which decode path and kernels produced each latency, and the cheapest acceptable batch."""
    frame = tables.speed_frame(record)
    if frame.empty:
        return
    with st.expander("Speed detail: decode paths, kernels and batch sizes", expanded=False):
        st.dataframe(tables.formatted(frame), hide_index=True)
        st.caption("plain: transformers' own decode loop, as a naive generate() runs it. serving: a static KV cache "
                   "and the whole decode step replayed as one CUDA graph, as serving stacks decode. The headline "
                   "row sets the plan's speed and cost; roofline efficiency = weight bytes / bandwidth over the "
                   "measured time per token (batch 1).")
        for plan in record["plans"]:
            best = (plan.get("latency") or {}).get("best_batch")
            if best:
                st.caption(f"{plan['plan']}: cheapest batch within {best['max_tpot_ms']:,.0f} ms per token is "
                           f"{best['batch_size']} ({best['tokens_per_s']:,.0f} tokens/s, "
                           f"${best['usd_per_1k_queries']:,.4f} per 1,000 queries).")


def slowness(record: dict) -> None:
    for plan, text in slower_than_baseline(record):
        with st.expander(f"Why is {plan} slower than the baseline here?", expanded=False):
            st.write(text)


def _artifact(plan: dict) -> Path | None:
    path = (plan.get("runtime") or {}).get("artifact")
    return Path(path) if path and Path(path).is_file() else None


def deployable(record: dict, key: str) -> None:
    """The file a team would ship: the recommended plan's artifact (GGUF for llama.cpp plans, safetensors for
    torch plans) with its sha256, and the compression disclosure card that goes with it."""
    plans = [p for p in record["plans"] if is_ok(p) and _artifact(p)]
    if not plans:
        st.caption("No compressed model file was kept for this run (keep artifacts was off, or it is a shape).")
        return
    recommended = (record.get("recommendation") or {}).get("plan")
    names = [p["plan"] for p in plans]
    index = names.index(recommended) if recommended in names else 0
    chosen = st.selectbox("Plan", names, index=index, key=f"{key}_artifact_plan",
                          format_func=lambda n: n + (" (recommended)" if n == recommended else ""))
    plan = plans[names.index(chosen)]
    path = _artifact(plan)
    runtime = plan["runtime"]
    st.caption(f"{path.name} · {path.stat().st_size / 1e6:,.1f} MB · runs in {runtime_label(plan)} · "
               f"sha256 {runtime.get('artifact_sha256')}")
    left, right = st.columns(2)
    left.download_button(f"Download {path.name}", lambda: open(path, "rb"), file_name=f"{record['run_id']}-{path.name}",
                         mime="application/octet-stream", icon=":material/download:", key=f"{key}_artifact",
                         on_click="ignore")
    right.download_button("Download the disclosure card", lambda: services.report_bytes(record["run_id"], "disclosure"),
                          file_name=f"compecon-{record['run_id']}-disclosure.md", mime="text/markdown",
                          key=f"{key}_card", on_click="ignore", icon=":material/description:")
    if runtime.get("name") == "llama.cpp":
        st.caption(f"Serve it with llama.cpp: `llama-server -m {path.name}` (or `python -m llama_cpp.server --model "
                   f"{path.name}`).")
