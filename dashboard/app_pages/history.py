"""History: every stored run, a sweep's runs under their sweep; filter, open, compare side by side, delete."""

import streamlit as st

from dashboard.components import history_view, services

st.title("History")
if st.session_state.get("deleted"):
    st.success(f"Deleted run {', '.join(st.session_state.pop('deleted'))}.")
rows = services.runs()
if not rows:
    st.info("No stored runs yet. Start one on the New run page.")
    st.page_link("app_pages/new_run.py", label="New run", icon=":material/add_circle:")
    st.stop()

shown = history_view.filtered(rows)
alone, sweeps = history_view.grouped(shown, services.sweeps())
st.caption(f"{len(shown)} of {len(rows)} runs" + (f", {sum(len(runs) for _, runs in sweeps)} of them in "
                                                   f"{len(sweeps)} sweep{'s' if len(sweeps) > 1 else ''} below"
                                                   if sweeps else "")
           + ". Interrupted runs keep the plans that finished.")
if alone or not sweeps:
    history_view.table(alone)
history_view.sweep_groups(sweeps)

labels = {r["run_id"]: services.run_label(r) for r in shown}
picked = st.multiselect("Select runs to open, compare or delete", list(labels), format_func=labels.get,
                        key="history_pick")
picked = [r for r in picked if r in labels]
for run_id in picked[:4]:
    st.page_link("app_pages/results.py", label=f"Open {run_id} in Results", icon=":material/insights:",
                 query_params={"run": run_id})
if len(picked) >= 2:
    st.subheader("Side by side")
    history_view.compare([services.run_record(r) for r in picked])
if picked:
    history_view.delete(picked, history_view.active_runs())
