"""The Run page's view of a job: per-plan states, the running stage with a prompt bar, elapsed
time, cancel, and the finished plans' table as each plan lands. It only reads the job row and
the store, so a reload or a second tab shows the same run."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from dashboard.components import services, tables
from engine.jobs import ACTIVE
from engine.reports.mdtext import text as inert
from engine.settings import JobState, PlanState

ICONS = {"queued": ":material/schedule:", "running": ":material/autorenew:", "ok": ":material/check_circle:",
         "failed": ":material/error:", "cancelled": ":material/block:", "interrupted": ":material/warning:",
         "not run": ":material/remove:", "done": ":material/check_circle:", "pending": ":material/schedule:"}
POLL_S = 2.0  # the Run page's poll; each open tab's poll is a server rerun (bench/RESULTS.md)


def pick_job(queue) -> str | None:
    """?job=ID, else the newest active job, else the newest job."""
    wanted = st.query_params.get("job")
    if wanted:
        return wanted
    active = queue.active_job(prompts=False)
    if active:
        return active["job_id"]
    jobs = queue.list_jobs(limit=1, prompts=False)
    return jobs[0]["job_id"] if jobs else None


def elapsed(job: dict) -> str:
    """m:ss since the job started (or was queued), to its end or now."""
    start = job.get("started") or job["created"]
    end = datetime.fromisoformat(job["finished"]) if job.get("finished") else datetime.now(UTC)
    seconds = max(0, int((end - datetime.fromisoformat(start)).total_seconds()))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _plan_rows(job: dict, record: dict | None) -> list[dict]:
    """Plan states from the job's progress, completed by the stored record (errors, final states)."""
    plans = [dict(p) for p in (job.get("progress") or {}).get("plans", [])]
    if not plans:
        plans = [{"plan": p, "state": PlanState.QUEUED, "stage": None, "message": "", "seconds": None}
                 for p in job["spec"].get("plans") or []]
    stored = {i: p for i, p in enumerate(record["plans"])} if record else {}
    ended = (JobState.INTERRUPTED, JobState.FAILED, JobState.CANCELLED)
    for i, plan in enumerate(plans):
        done = stored.get(i)
        if done and done.get("status") in (PlanState.OK, PlanState.FAILED, PlanState.INTERRUPTED):
            plan.update(state=done["status"], error=done.get("error"), seconds=done.get("seconds") or plan["seconds"])
        elif job["status"] in ended and plan["state"] in (PlanState.RUNNING, PlanState.QUEUED):
            plan["state"] = job["status"] if plan["state"] == PlanState.RUNNING else PlanState.NOT_RUN
    return plans


def show_job(job: dict) -> None:
    """Everything about one job, as of now."""
    queue = services.queue()
    record = services.run_record(job["run_id"]) if job.get("run_id") else None
    progress = job.get("progress") or {}
    status = job["status"]
    rows = _plan_rows(job, record)
    a, b, c = st.columns(3)
    a.metric("Status", status)
    b.metric("Elapsed", elapsed(job))
    c.metric("Plans finished", f"{sum(p['state'] in ('ok', 'failed') for p in rows)} / {len(rows)}")
    if job.get("run_id"):
        st.caption(f"Stored as run {job['run_id']}: finished plans are saved as they finish.")
    if status == "queued":
        position = queue.queue_position(job["job_id"])
        st.info(f"Queued on the {job['device']}: position {position}. One run at a time per device; "
                "it starts when the runs ahead of it finish.", icon=":material/schedule:")
        if not queue.worker_alive(job["device"]):
            queue.ensure_worker(job["device"])
    elif status == "running" and progress.get("position") is None:
        st.info(f"{progress.get('stage', 'starting')} …", icon=":material/hourglass_top:")
    _plans(rows, progress)
    _ending(job, record)
    if status in ACTIVE:
        if job["cancel_requested"]:
            st.warning("Cancel requested: the run stops at its next check; finished plans are kept.")
        elif st.button("Cancel run", key=f"cancel_{job['job_id']}", icon=":material/stop_circle:"):
            queue.request_cancel(job["job_id"])
            st.rerun()
    if record and any(p.get("status") in ("ok", "failed") for p in record["plans"]):
        st.subheader("Results so far" if status in ACTIVE else "Results")
        st.dataframe(tables.styled(tables.comparison_frame(record, finished_only=True)), hide_index=True)
        st.caption(tables.cost_assumptions(record))
    with st.expander("Log"):
        st.text("\n".join(progress.get("messages") or ["(nothing yet)"]))


def _plans(rows: list[dict], progress: dict) -> None:
    for i, plan in enumerate(rows):
        left, mid, right = st.columns([2, 5, 1])
        left.markdown(f"{ICONS.get(plan['state'], '')} **{plan['plan']}**" + (" · baseline" if i == 0 else ""))
        with mid:
            if plan["state"] == "running":
                stage = plan.get("stage") or "starting"
                done, total = progress.get("done", 0), progress.get("total", 0)
                if total and progress.get("position") == i:
                    st.progress(min(done / total, 1.0), text=bar_text(stage, progress))
                else:
                    st.progress(0.0, text=f"{stage} …")
            elif plan["state"] == "failed":
                st.error(f"failed: {inert(plan.get('error') or plan.get('message'))}")
            else:
                st.caption(plan["state"])
        right.caption(f"{plan['seconds']:.0f} s" if plan.get("seconds") else "")


def bar_text(stage: str, progress: dict) -> str:
    """'evaluating accuracy: answering 24 / 64 prompts', or training steps with loss and time left."""
    what = progress.get("prompt_stage") or ""
    unit = "prompts" if what == "answering" else "steps"
    text = f"{stage}: {what} {progress.get('done', 0)} / {progress.get('total', 0)} {unit}"
    detail = progress.get("detail") or {}
    if isinstance(detail.get("loss"), int | float):
        text += f", loss {detail['loss']:.3f}"
    if isinstance(detail.get("eta_s"), int | float):
        text += f", about {max(1, round(detail['eta_s'] / 60))} min left"
    return text


def _ending(job: dict, record: dict | None) -> None:
    status = job["status"]
    if status == "failed":
        st.error(f"The run failed: {inert(job.get('error')) or 'see the log below'}")
    elif status == "cancelled":
        st.warning("The run was cancelled; plans that had finished are kept.")
    elif status == "interrupted":
        st.warning("The worker stopped while this run was going (killed, or the machine restarted). Finished plans "
                   "are kept and the plan that was running is marked interrupted.")
    recommendation = (record or {}).get("recommendation") or {}
    if status == "done" and recommendation.get("reason"):
        box = st.success if recommendation.get("plan") else st.info
        box(recommendation["reason"], icon=":material/recommend:")
    if record and status not in ACTIVE:
        st.page_link("app_pages/results.py", label="Open the results", icon=":material/insights:",
                     query_params={"run": record["run_id"]})


@st.fragment(run_every=POLL_S)
def live(job_id: str) -> None:
    """Polls the job row; when the job ends, one full rerun swaps in the static view."""
    job = services.queue().get_job(job_id, prompts=False)
    show_job(job)
    if job["status"] not in ACTIVE:
        st.rerun()
