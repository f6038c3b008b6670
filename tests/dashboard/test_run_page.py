"""Run page: queued jobs with their position, a finished job with its results, a failed job's reason.

Jobs run through the real worker code (engine.worker.run_job) on a real, tiny engine run."""

from engine.worker import run_job
from tests.dashboard.conftest import FAST
from tests.dashboard.helpers import texts

SHAPE_SPEC = {"model": "shape:smollm2-135m", "plans": ["fp32", "bf16"], "settings": dict(FAST), "prompts": None}


def test_queued_jobs_show_their_position_and_can_be_cancelled(app, queue, no_worker_runs):
    first = queue.submit(SHAPE_SPEC, "run-page-queued-1")
    second = queue.submit(SHAPE_SPEC, "run-page-queued-2")
    at = app("run", job=second)
    ahead = queue.queue_position(first)
    assert any(f"position {ahead + 1}" in i for i in texts(at, "info")), texts(at, "info")
    assert [m.value for m in at.metric][0] == "queued"
    other = app("history")
    assert any(link.value.startswith("Queued: shape:smollm2-135m") for link in other.sidebar.page_link)
    at.button(key=f"cancel_{second}").click().run()
    assert queue.get_job(second)["status"] == "cancelled"
    assert queue.queue_position(first) == ahead


def test_a_finished_job_shows_every_plan_and_its_results(app, queue):
    job_id = queue.submit(SHAPE_SPEC, "run-page-done")
    job = queue.claim("cpu")
    assert job["job_id"] == job_id
    assert run_job(queue, job) == "done"
    at = app("run", job=job_id)
    metrics = [m.value for m in at.metric]
    assert metrics[:1] == ["done"] and "2 / 2" in metrics
    assert at.query_params["job"] == job_id
    table = at.dataframe[0].value
    assert table["Plan"].tolist() == ["fp32", "bf16"]
    assert [link.value for link in at.page_link if "results" in link.value.lower()]
    assert any("random-weight shape" in i for i in texts(at, "info"))


def test_without_a_job_id_the_newest_job_is_shown(app, queue):
    job_id = queue.list_jobs(limit=1)[0]["job_id"]
    at = app("run")
    assert at.query_params["job"] == job_id


def test_a_failed_job_says_why(app, queue):
    spec = dict(SHAPE_SPEC, model="/nowhere/model.gguf")
    job_id = queue.submit(spec, "run-page-failed")
    assert run_job(queue, queue.claim("cpu")) == "failed"
    at = app("run", job=job_id)
    assert any("GGUF file not found: /nowhere/model.gguf" in e for e in texts(at, "error")), texts(at, "error")
