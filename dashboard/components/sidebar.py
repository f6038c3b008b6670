"""The sidebar every page shares: where the store is, which devices run jobs, and the active job."""

from __future__ import annotations

import streamlit as st

from dashboard.components import services


def render() -> None:
    queue = services.queue()
    with st.sidebar:
        active = queue.active_job()
        if active:
            progress = active.get("progress") or {}
            plans = progress.get("plans") or []
            done = sum(p["state"] in ("ok", "failed") for p in plans)
            label = f"{active['status'].capitalize()}: {active['spec']['model']}" + (
                f" · {done}/{len(plans)}" if plans else "")
            st.page_link("app_pages/run.py", label=label, icon=":material/autorenew:",
                         query_params={"job": active["job_id"]})
        st.caption("Store")
        st.code(str(queue.path), language=None, wrap_lines=True)
        devices = services.devices()
        states = [f"{d}: worker {'running' if queue.worker_alive(d) else 'idle'}" for d in devices]
        st.caption("Devices · " + " · ".join(states))
