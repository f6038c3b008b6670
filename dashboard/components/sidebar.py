"""The sidebar every page shares: where the store is, which devices run jobs, and the active job."""

from __future__ import annotations

import streamlit as st

from dashboard.components import services
from engine.jobs import is_sweep


def _active_link(active: dict | None) -> None:
    if active is None:
        return
    progress = active.get("progress") or {}
    if is_sweep(active["spec"]):  # followed on the Sweeps page, cell by cell
        label = f"{active['status'].capitalize()}: sweep of {len(active['spec']['models'])} models"
        if progress.get("cells"):
            label += f" · {progress.get('cells_done', 0)}/{progress['cells']}"
        st.page_link("app_pages/sweeps.py", label=label, icon=":material/autorenew:",
                     query_params={"job": active["job_id"]})
        return
    plans = progress.get("plans") or []
    done = sum(p["state"] in ("ok", "failed") for p in plans)
    label = f"{active['status'].capitalize()}: {active['spec']['model']}" + (f" · {done}/{len(plans)}" if plans else "")
    st.page_link("app_pages/run.py", label=label, icon=":material/autorenew:", query_params={"job": active["job_id"]})


LINK_POLL_S = 5.0  # every open tab polls: ten tabs at 2 s were several server reruns a second (bench/RESULTS.md)


@st.fragment(run_every=LINK_POLL_S)
def _live_active_link() -> None:
    """Polls only while a job is active, so the link's state follows the job within a few seconds."""
    _active_link(services.queue().active_job(prompts=False))


def render(on_run_page: bool = False) -> None:
    """On the Run page the job is the page itself (and one polling fragment per page is plenty)."""
    queue = services.queue()
    with st.sidebar:
        if not on_run_page and queue.active_job(prompts=False) is not None:
            _live_active_link()
        st.caption("Store")
        st.code(str(queue.path), language=None, wrap_lines=True)
        devices = services.devices()
        states = [f"{d}: worker {'running' if queue.worker_alive(d) else 'idle'}" for d in devices]
        st.caption("Devices · " + " · ".join(states))
