"""Sweeps: several models × plans in one grid coloured by cost and by accuracy change, each model's recommendation,
and the Pareto front across every cell; a sweep still going fills in as its cells land."""

import streamlit as st

from dashboard.components import services, sweep_view
from engine.reports.mdtext import text as inert

st.title("Sweeps")
job = sweep_view.pick_job()
sweep_id = sweep_view.pick_sweep(job)
if sweep_id is None:
    if job is None:
        st.info("No sweeps yet. Start one on the New run page (Compare several models), or with `compecon sweep`.")
        st.page_link("app_pages/new_run.py", label="New run", icon=":material/add_circle:")
    sweep_view.follow(job, None)  # a sweep job still queued or starting its Ray
    st.stop()
sweep = services.sweep_record(sweep_id)
if sweep is None:
    st.error(f"Sweep {inert(sweep_id, 40)} is no longer in the store.")
    st.stop()

sweep_view.follow(job, sweep)
sweep_view.headline(sweep)

st.subheader("Models × plans")
sweep_view.grid(sweep)

st.subheader("Recommendation per model")
sweep_view.recommendations(sweep)

st.subheader("Pareto front across every cell")
axis = sweep_view.pareto(sweep)

st.subheader("Cells")
sweep_view.cells_table(sweep, axis)

st.subheader("Report")
sweep_view.report(sweep)
