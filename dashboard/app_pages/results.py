"""Results: the recommendation first, then the charts, the comparison table, and the prompts each plan broke."""

import streamlit as st

from dashboard.components import drilldown, results_view, services
from engine.reports.mdtext import text as inert

st.title("Results")
run_id = results_view.pick_run()
if run_id is None:
    st.info("No stored runs yet. Start one on the New run page.")
    st.page_link("app_pages/new_run.py", label="New run", icon=":material/add_circle:")
    st.stop()
record = services.run_record(run_id)
if record is None:
    st.error(f"Run {inert(run_id, 40)} is no longer in the store.")
    st.stop()

results_view.headline(record)
results_view.follow(record)
results_view.chart_grid(record)
results_view.slowness(record)

st.subheader("Comparison with the baseline")
results_view.comparison(record)

st.subheader("Prompts each plan broke")
drilldown.drilldown(record)

results_view.speed_detail(record)

st.subheader("Deploy")
results_view.deployable(record, "results")

st.page_link("app_pages/export.py", label="Export this run (JSON, CSV)", icon=":material/download:",
             query_params={"run": run_id})
