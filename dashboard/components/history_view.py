"""History: every stored run in a filterable table, a sweep's runs grouped under it; open one, compare several,
delete with care."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.components import services
from engine.charts.results import compare_runs
from engine.jobs import ACTIVE
from engine.metrics import compared_metrics
from engine.records import cost_sentence, ok_plans, verdict_label


def filtered(rows: list[dict]) -> list[dict]:
    """The runs matching the filters above the table (model, status, free text)."""
    a, b, c = st.columns([2, 2, 3])
    models = a.multiselect("Model", sorted({r["model"] for r in rows}), key="history_models")
    statuses = b.multiselect("Status", sorted({r["status"] for r in rows}), key="history_statuses")
    text = c.text_input("Search run id, model or plan", key="history_text").strip().lower()
    keep = []
    for r in rows:
        haystack = " ".join([r["run_id"], r["model"], *r["plans"]]).lower()
        if (not models or r["model"] in models) and (not statuses or r["status"] in statuses) \
                and (not text or text in haystack):
            keep.append(r)
    return keep


def table(rows: list[dict], key: str | None = None) -> None:
    frame = pd.DataFrame([{"run": r["run_id"], "created (UTC)": r["created"][:19].replace("T", " "),
                           "status": r["status"], "model": r["model"],
                           "plans": f"{r['finished_plans']}/{len(r['plans'])}: " + ", ".join(r["plans"]),
                           "recommendation": (r.get("recommendation") or {}).get("reason") or "–"}
                          for r in rows])
    st.dataframe(frame, hide_index=True, height=min(38 + 35 * len(frame), 420), key=key)


def grouped(rows: list[dict], sweeps: list[dict]) -> tuple[list[dict], list[tuple[dict, list[dict]]]]:
    """(runs of their own, [(sweep, its runs among rows)]): a sweep is one entry, with the runs the filters kept."""
    known = {s["sweep_id"] for s in sweeps}
    alone = [r for r in rows if r.get("sweep") not in known]
    groups = [(s, [r for r in rows if r.get("sweep") == s["sweep_id"]]) for s in sweeps]
    return alone, [(s, runs) for s, runs in groups if runs]


def _pick(run_ids: list[str]) -> None:
    """Callback: select a sweep's runs in the picker below (to compare, open or delete them)."""
    st.session_state["history_pick"] = list(dict.fromkeys(st.session_state.get("history_pick", []) + run_ids))


def sweep_groups(groups: list[tuple[dict, list[dict]]]) -> None:
    """One expandable entry per sweep: its runs (one per model), its grid on the Sweeps page, select them all."""
    for sweep, runs in groups:
        spec = sweep["spec"]
        label = (f"Sweep {sweep['sweep_id']} · {sweep['created'][:19].replace('T', ' ')} · {len(spec['models'])} "
                 f"models × {len(spec['plans'])} plans · {sweep['status']}")
        with st.expander(label, icon=":material/grid_view:"):
            table(runs, key=f"history_sweep_{sweep['sweep_id']}")
            left, right = st.columns(2)
            with left:
                st.page_link("app_pages/sweeps.py", label="Open the sweep's grid", icon=":material/grid_view:",
                             query_params={"sweep": sweep["sweep_id"]})
            right.button("Select its runs below", key=f"history_pick_sweep_{sweep['sweep_id']}", on_click=_pick,
                         args=([r["run_id"] for r in runs],), icon=":material/checklist:")


def compare(records: list[dict]) -> None:
    """Side by side: one row per run and plan, and one metric as grouped bars."""
    metrics = compared_metrics()
    rows = []
    for r in records:
        for p in ok_plans(r):
            rows.append({"run": r["run_id"], "model": r["model"]["name"], "device": r["device"]["name"],
                         "plan": p["plan"], **{m.title: m.value(p) for m in metrics},
                         "verdict": verdict_label(p) or "n/a"})
    frame = pd.DataFrame(rows)
    formats = {m.title: "{:,.4f}" if m.unit in ("USD", "nats") else "{:,.2f}" for m in metrics}
    st.dataframe(frame.style.format(formats, na_rep="–"), hide_index=True)
    by_name = {m.name: m for m in metrics}
    names = sorted(by_name, key=lambda name: name != "usd_per_1k_queries")  # cost first, then catalogue order
    metric = st.selectbox("Compare", names, format_func=lambda m: by_name[m].title, key="compare_metric")
    fig = compare_runs(records, metric)
    if fig is None:
        st.info(f"{by_name[metric].label}: not available in these runs.")
    else:
        st.plotly_chart(fig, theme=None, key="chart_compare", config={"displaylogo": False})
    st.caption("Cost assumptions per run: " + "; ".join(
        f"{r['run_id']}: {cost_sentence(r)}" for r in records if cost_sentence(r)))


def _ask(run_ids: list[str]) -> None:
    st.session_state["confirm_delete"] = run_ids


def _cancel_delete() -> None:
    st.session_state.pop("confirm_delete", None)


def _delete(run_ids: list[str]) -> None:
    """Callback: runs before the next script run, so the selection widget may still be changed."""
    for run_id in run_ids:
        services.store().delete_run(run_id)  # its saved compressed models go too
    st.session_state["history_pick"] = [r for r in st.session_state.get("history_pick", []) if r not in run_ids]
    st.session_state.pop("confirm_delete", None)
    st.session_state["deleted"] = run_ids


def delete(run_ids: list[str], active_runs: set[str]) -> None:
    """Two steps: ask, then confirm; a run that a job is still writing is refused."""
    busy = [r for r in run_ids if r in active_runs]
    if busy:
        st.warning(f"Run {', '.join(busy)} is still running: cancel it on the Run page before deleting it.")
        return
    if st.session_state.get("confirm_delete") != run_ids:
        st.button(f"Delete {len(run_ids)} run{'s' if len(run_ids) > 1 else ''}…", key="delete_ask",
                  icon=":material/delete:", on_click=_ask, args=(run_ids,))
        return
    st.error(f"Delete {', '.join(run_ids)} with all their results and per-prompt records? This cannot be undone. "
             "Other runs are not touched.")
    a, b = st.columns([1, 5])
    a.button("Yes, delete", type="primary", key="delete_yes", on_click=_delete, args=(run_ids,))
    b.button("Keep", key="delete_no", on_click=_cancel_delete)


def active_runs() -> set[str]:
    """Runs a queued or running job is writing: a run job's run, a sweep job's runs."""
    jobs = [j for j in services.queue().list_jobs(ACTIVE, prompts=False) if j["status"] in ACTIVE]
    busy = {j["run_id"] for j in jobs if j["run_id"]}
    for sweep in {(j.get("progress") or {}).get("sweep") for j in jobs} - {None}:
        busy |= set(services.store().sweep_runs(sweep).values())
    return busy
