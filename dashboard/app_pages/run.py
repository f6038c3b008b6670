"""Run: follow a queued or running job live; a reload reattaches through ?job=ID."""

import streamlit as st

from dashboard.components import progress, services, sweep_view
from engine.jobs import ACTIVE, is_sweep
from engine.reports.mdtext import text as inert

queue = services.queue()
job_id = progress.pick_job(queue)
if job_id is None:
    st.title("Run")
    st.info("No run yet. Start one on the New run page.")
    st.page_link("app_pages/new_run.py", label="New run", icon=":material/add_circle:")
    st.stop()
try:
    job = queue.get_job(job_id, prompts=False)
except KeyError:
    st.title("Run")
    st.error(f"There is no job '{inert(job_id, 40)}' in this store.")
    st.stop()

st.query_params["job"] = job_id  # a reload comes back to this job
spec = job["spec"]
if is_sweep(spec):  # a sweep's cells are followed on the Sweeps page
    st.title(f"Sweep: {len(spec['models'])} models × {len(spec.get('plans') or [])} plans")
    sweep_view.job_banner(job)
    st.page_link("app_pages/sweeps.py", label="Follow its cells on the Sweeps page", icon=":material/grid_view:",
                 query_params={"job": job_id})
    st.stop()
st.title(f"Run: {spec['model']}")
st.caption(f"Job {job_id} · {len(spec.get('plans') or [])} plans on the {job['device']} · submitted "
           f"{job['created'][:19].replace('T', ' ')} UTC")
if job["status"] in ACTIVE:
    progress.live(job_id)
else:
    progress.show_job(job)
