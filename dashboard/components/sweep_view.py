"""The Sweeps page's sections: which sweep (or the sweep job just submitted), its live state, the grid of models ×
plans coloured by cost and by accuracy change, each model's recommendation, the Pareto front across every cell and
the cells' table. Figures come from engine.charts.sweep; the page redraws itself while cells land."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.components import services, tables
from dashboard.components.progress import elapsed
from dashboard.components.results_view import plot
from engine.charts.sweep import accuracy_grid, axes, cost_grid, default_axis, front, front_chart
from engine.jobs import ACTIVE, is_sweep
from engine.records import sweep_cells, sweep_metric, sweep_model_runs, sweep_rows
from engine.reports.mdtext import text as inert

FOLLOW_S = 2.0
AXIS_LABELS = {"accuracy": "accuracy change", "size": "size (weights in memory)", "speed": "speed (ms per token)"}


def pick_job() -> dict | None:
    """?job=ID of a sweep job (the New run page sends a submitted sweep here), else None."""
    job_id = st.query_params.get("job")
    if not job_id:
        return None
    try:
        job = services.queue().get_job(job_id, prompts=False)
    except KeyError:
        st.error(f"There is no job '{inert(job_id, 40)}' in this store.")
        return None
    return job if is_sweep(job["spec"]) else None


def sweep_label(sweep: dict) -> str:
    """What the picker says of a sweep: nothing that changes while it runs (a picker's labels are not redrawn)."""
    spec = sweep["spec"]
    return (f"{sweep['sweep_id']} · {sweep['created'][:16].replace('T', ' ')} · {len(spec['models'])} models × "
            f"{len(spec['plans'])} plans")


def pick_sweep(job: dict | None) -> str | None:
    """The job's sweep once it exists; else ?sweep=ID (a unique prefix will do), else a choice, newest first."""
    rows = services.sweeps()
    ids = [s["sweep_id"] for s in rows]
    wanted = ((job.get("progress") or {}).get("sweep") or "") if job else st.query_params.get("sweep")
    if job and not wanted:
        return None  # queued, or its Ray is starting: the job's state says so
    if wanted and wanted not in ids:
        matches = [i for i in ids if i.startswith(wanted)]
        if len(matches) != 1:
            st.error(f"No stored sweep matches '{inert(wanted, 40)}'.")
        wanted = matches[0] if len(matches) == 1 else None
    if not rows:
        return None
    labels = {s["sweep_id"]: sweep_label(s) for s in rows}
    sweep_id = st.selectbox("Sweep", ids, index=ids.index(wanted) if wanted else 0, format_func=labels.get,
                            key=f"sweep_pick_{wanted or ''}")
    st.query_params["sweep"] = sweep_id
    if job and sweep_id != wanted:
        del st.query_params["job"]  # another sweep was picked: its job no longer belongs on the page
    return sweep_id


def landed(sweep_id: str | None) -> tuple[str | None, int]:
    """(the sweep's status, cells stored so far), from the light listings, for polling."""
    if not sweep_id:
        return None, 0
    status = next((s["status"] for s in services.sweeps() if s["sweep_id"] == sweep_id), None)
    return status, sum(r["finished_plans"] for r in services.runs() if r["sweep"] == sweep_id)


def _seen(job: dict | None, sweep_id: str | None) -> tuple:
    progress = (job or {}).get("progress") or {}
    return (job or {}).get("status"), progress.get("sweep"), *landed(sweep_id or progress.get("sweep"))


def follow(job: dict | None, sweep: dict | None) -> None:
    """While the job or the sweep is going, its state live and the page redrawn as cells land; after, the job's
    outcome as it ended."""
    sweep_id = sweep["sweep_id"] if sweep else None
    if (job and job["status"] in ACTIVE) or (sweep and sweep["status"] == "running"):
        _live(job["job_id"] if job else None, sweep_id, _seen(job, sweep_id))
    elif job:
        job_banner(job)


@st.fragment(run_every=FOLLOW_S)
def _live(job_id: str | None, sweep_id: str | None, seen: tuple) -> None:
    job = services.queue().get_job(job_id, prompts=False) if job_id else None
    if job:
        job_banner(job)
    if _seen(job, sweep_id) != seen:
        st.rerun()
    st.caption(":material/autorenew: This page updates itself as cells land; pending cells fill in.")


def job_banner(job: dict) -> None:
    """A sweep job's state: queued, starting its Ray, cells landed, how it ended; cancel while it is active."""
    queue = services.queue()
    progress = job.get("progress") or {}
    status = job["status"]
    a, b, c = st.columns(3)
    a.metric("Sweep job", status)
    b.metric("Elapsed", elapsed(job))
    cells = progress.get("cells") or len(job["spec"]["models"]) * len(job["spec"].get("plans") or [])
    c.metric("Cells landed", f"{progress.get('cells_done', 0)} / {cells}")
    if status == "queued":
        st.info(f"Queued on the {job['device']}: position {queue.queue_position(job['job_id'])}. One job at a time "
                "per device; it starts when the jobs ahead of it finish.", icon=":material/schedule:")
        if not queue.worker_alive(job["device"]):
            queue.ensure_worker(job["device"])
    elif status == "running":
        st.caption(f"Now: {inert(progress.get('stage') or 'starting', 200)}")
    elif status == "failed":
        st.error(f"The sweep failed: {inert(job.get('error')) or 'see the log below'}")
    elif status == "cancelled":
        st.warning("The sweep was cancelled; the cells that had landed are kept (run it again to measure the rest).")
    elif status == "interrupted":
        st.warning("The worker stopped while this sweep was going; the cells that had landed are kept.")
    if status in ACTIVE:
        if job["cancel_requested"]:
            st.warning("Cancel requested: the sweep stops at its next step; cells already stored are kept.")
        elif st.button("Cancel sweep", key=f"cancel_{job['job_id']}", icon=":material/stop_circle:"):
            queue.request_cancel(job["job_id"])
            st.rerun()
    with st.expander("Log"):
        st.text("\n".join(progress.get("messages") or ["(nothing yet)"]))


def headline(sweep: dict) -> None:
    """What the sweep is, how far it got and where it ran, in a line; models that could not run, in red."""
    spec, cells = sweep["spec"], sweep_cells(sweep)
    done = sum(c.status in ("ok", "failed") for c in cells)
    facts = [f"{len(spec['models'])} models × {len(spec['plans'])} plans = {len(cells)} cells",
             f"{sweep['status']}", f"{done} of {len(cells)} measured"]
    if sweep.get("wall_s") is not None:
        facts.append(f"{sweep['wall_s']:,.0f} s on {len(sweep.get('nodes') or [])} Ray node(s), "
                     f"{sweep.get('slots', '?')} cell(s) at a time")
    st.caption(inert(" · ".join(facts)))
    if sweep["status"] == "running" and done < len(cells):
        st.info("Running: grey cells are pending and fill in as they land. Each model's recommendation comes when "
                "all its cells have run.", icon=":material/hourglass_top:")
    rows = sweep_rows(list(spec["models"]))
    for model, error in (sweep.get("errors") or {}).items():
        st.error(f"{inert(rows.get(model, model))}: {inert(error)}")


def grid(sweep: dict) -> None:
    """The cost grid over the accuracy grid (each the page's width, so a cell's words fit), then what they assume."""
    plot(cost_grid(sweep), "sweep_cost_grid")
    accuracy = accuracy_grid(sweep)
    if accuracy is None:
        st.info("Accuracy is not applicable: every model of this sweep is a random-weight shape.",
                icon=":material/info:")
    else:
        plot(accuracy, "sweep_accuracy_grid")
    metric = sweep_metric(sweep)
    st.caption(f"Each cell is a plan on a model, compared with that model's own baseline (the first column). Above: "
               f"cost per 1,000 queries; below: change in {metric.label.lower()}, the verdict metric, with each plan's "
               "verdict. ★ marks the plan recommended for that model; grey: pending, failed, or n/a (random-weight "
               "shapes have no accuracy).")
    runs = sweep.get("runs") or []
    if runs and tables.cost_assumptions(runs[0]):
        st.caption(tables.cost_assumptions(runs[0]))
    for cell in sweep_cells(sweep):
        if cell.status == "failed":
            st.error(f"{inert(cell.key)} failed: {inert(cell.error)}")


def recommendations(sweep: dict) -> None:
    """Each model's recommendation, as its run recorded it, with a link to that run's full results."""
    runs = sweep_model_runs(sweep)
    rows = sweep_rows(list(sweep["spec"]["models"]))
    for model in sweep["spec"]["models"]:
        run = runs.get(model)
        label = inert(rows[model])
        reason = ((run or {}).get("recommendation") or {}).get("reason")
        if run is None or not reason:
            st.caption(f"{label}: no recommendation yet; it comes when every cell of this model has run.")
            continue
        box = st.success if run["recommendation"].get("plan") else st.info
        box(f"{label}: {reason}", icon=":material/recommend:")
        st.page_link("app_pages/results.py", label=f"Open {rows[model]} in Results (run {run['run_id']})",
                     icon=":material/insights:", query_params={"run": run["run_id"]})


def pareto(sweep: dict) -> str:
    """The Pareto chart with a choice of what cost is traded against; returns the axis chosen."""
    cells = sweep_cells(sweep)
    options = [k for k in AXIS_LABELS if k != "accuracy" or any(c.accuracy_change is not None for c in cells)]
    axis = st.radio("Trade cost against", options, index=options.index(default_axis(cells)), horizontal=True,
                    format_func=AXIS_LABELS.get,  # a new widget once accuracy lands, so it opens on accuracy then
                    key="sweep_axis" if "accuracy" in options else "sweep_axis_no_accuracy")
    fig = front_chart(sweep, axis)
    if fig is None:
        st.info("The Pareto front appears once cells have landed.", icon=":material/info:")
        return axis
    plot(fig, "sweep_front")
    on = front(cells, axes(sweep)[axis])
    note = ""
    missing = sum(c.status == "ok" and not c.accuracy_applicable for c in cells)
    if axis == "accuracy" and missing:
        note = (f" {missing} measured cells have no accuracy (random-weight shapes) and are left out here: choose size "
                "or speed to place them.")
    st.caption(inert(f"On the front (nothing else is both cheaper and better): {', '.join(c.key for c in on)}.")
               + note)
    return axis


def cells_frame(sweep: dict, axis: str) -> pd.DataFrame:
    """One row per cell, in grid order: its status, figures against its model's baseline, and where it ran."""
    metric = sweep_metric(sweep)
    cells = sweep_cells(sweep)
    on = {c.key for c in front(cells, axes(sweep)[axis])}
    return pd.DataFrame([{
        "Model": c.row, "Plan": c.plan, "Status": c.status,
        "Cost / 1k queries (USD)": c.usd_per_1k_queries, "Δ cost (%)": c.cost_change_pct if c.position else None,
        f"Δ {metric.label} ({metric.change_unit})": c.accuracy_change if c.position else None,
        "Verdict": (c.verdict or "") if c.accuracy_applicable else "n/a",
        "Weights (MB)": None if c.weight_bytes is None else c.weight_bytes / 1e6, "TPOT (ms)": c.tpot_ms,
        "Pareto front": "yes" if c.key in on else "", "Recommended": "yes" if c.recommended else "",
        "Host": c.host, "Attempts": c.attempts, "Seconds": c.seconds, "Run": c.run_id,
    } for c in cells])


def cells_table(sweep: dict, axis: str) -> None:
    st.dataframe(tables.formatted(cells_frame(sweep, axis)), hide_index=True)
    st.caption(f"Pareto front: on cost and {AXIS_LABELS[axis]}, as in the chart above. Host and attempts: the Ray "
               "worker that measured the cell, and how often it was started (a lost worker is retried).")


def report(sweep: dict) -> None:
    """The sweep's runs as one forwardable HTML report (`compecon report SWEEP_ID` writes the same)."""
    run_ids = [r["run_id"] for r in sweep.get("runs") or []]
    if not run_ids:
        return
    key = f"sweep_report_{sweep['sweep_id']}"
    if st.button("Build the sweep's HTML report", key=f"build_{key}", icon=":material/description:"):
        with st.spinner("Building the report ..."):
            st.session_state[key] = services.report_bytes(run_ids, "html")
    if st.session_state.get(key):
        st.download_button("Download the HTML report", st.session_state[key], mime="text/html",
                           file_name=f"compecon-sweep-{sweep['sweep_id']}.html", key=f"download_{key}",
                           icon=":material/download:")
    st.caption(f"The same report from the command line: `compecon report {sweep['sweep_id']}`.")
