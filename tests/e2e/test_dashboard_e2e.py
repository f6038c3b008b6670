"""End to end in Debian's Chromium: `compecon ui` in a fresh store, a run started from the form,
a reload mid-run that reattaches to the same job, the results with their charts and the
recommendation, a Results page that follows a run still going. Screenshots go to test-artifacts/ (look at them)."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from engine.jobs import JobQueue
from engine.store import pid_alive

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run installs it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path, compecon_home):
    """The dashboard as users start it, on a free port, with an empty store of its own."""
    home = tmp_path / "home"
    home.mkdir()
    (compecon_home / "models").mkdir(exist_ok=True)
    (home / "models").symlink_to(compecon_home / "models")  # reuse the converted embedded model
    port = free_port()
    log = open(tmp_path / "server.log", "wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "compecon"), "ui", "--server.port", str(port), "--server.headless", "true"],
        env={**os.environ, "COMPECON_HOME": str(home)}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://localhost:{port}"
    deadline = time.time() + 120
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            if time.time() > deadline or process.poll() is not None:
                raise AssertionError((tmp_path / "server.log").read_text()) from None
            time.sleep(0.5)
    queue = JobQueue(home / "runs.sqlite")
    yield url, queue
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
    with queue.connect() as db:
        workers = [int(r[0].rpartition(":")[2]) for r in db.execute("SELECT worker FROM workers")]
    for pid in workers:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(tmp_path / "server.log", ARTIFACTS / "e2e-server.log")
    worker_log = home / "logs" / "worker-cpu.log"
    if worker_log.exists():
        shutil.copy(worker_log, ARTIFACTS / "e2e-worker.log")


def set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    page.wait_for_timeout(400)


def settled(page) -> None:
    """Wait until Streamlit has replaced every stale element (a rerun finished), for clean screenshots."""
    page.wait_for_timeout(500)
    page.wait_for_function("document.querySelectorAll('[data-stale=\"true\"]').length === 0", timeout=60_000)


def plans_finished(page) -> int:
    text = page.get_by_test_id("stMetric").filter(has_text="Plans finished").inner_text()
    return int(re.search(r"(\d+) / \d+", text).group(1))


def follow_a_run_still_going(page, url, store, record) -> None:
    """The Results page of a run that is still going redraws itself as plans land in the store (no reload).
    The plans are the finished run's own records, written by this process, which owns the run."""
    expect, total = playwright.expect, len(record["plans"])
    live = store.create_run(record["model"], record["device"], record["settings"], [p["plan"] for p in record["plans"]])
    store.add_plan_result(live, 0, record["plans"][0])
    page.set_viewport_size({"width": 1400, "height": 2000})
    page.goto(f"{url}/results?run={live}")
    expect(page.get_by_text("updates itself as plans finish")).to_be_visible()
    expect(page.get_by_text(f"1 of {total} plans finished")).to_be_visible()
    store.add_plan_result(live, 1, record["plans"][1])
    expect(page.get_by_text(f"2 of {total} plans finished")).to_be_visible(timeout=30_000)
    settled(page)
    page.screenshot(path=ARTIFACTS / "e2e-6-results-following.png", full_page=True)
    for position in range(2, total):
        store.add_plan_result(live, position, record["plans"][position])
    store.finish_run(live, "done", {"recommendation": record["recommendation"]})
    expect(page.get_by_text(record["recommendation"]["reason"])).to_be_visible(timeout=30_000)
    expect(page.get_by_text("updates itself as plans finish")).to_have_count(0)
    store.delete_run(live)


def test_a_run_from_the_browser_survives_a_reload_and_shows_results(server):
    url, queue = server
    ARTIFACTS.mkdir(exist_ok=True)
    expect = playwright.expect
    expect.set_options(timeout=90_000)  # a cold page imports the engine first; CI machines are slow
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1400, "height": 2000})
        page.set_default_timeout(90_000)
        page.goto(url)
        expect(page.get_by_role("heading", name="New run")).to_be_visible()
        expect(page.get_by_text("Will run, in order:")).to_be_visible()
        set_number(page, "Prompts to evaluate (quick look)", 8)
        page.get_by_text("Measurement effort").click()
        for label, value in (("Decode steps timed", 2), ("Repeats", 1), ("Tokens generated per prompt", 4),
                             ("Evaluation-text tokens", 64), ("Prompt tokens per query", 16)):
            set_number(page, label, value)
        page.set_viewport_size({"width": 1400, "height": 2700})
        page.get_by_role("heading", name="New run").scroll_into_view_if_needed()
        settled(page)
        page.screenshot(path=ARTIFACTS / "e2e-1-new-run.png", full_page=True)
        page.set_viewport_size({"width": 1400, "height": 2000})
        page.get_by_role("button", name="Start run").click()

        page.wait_for_url(re.compile(r".*/run\?job=\w+"))
        job_id = parse_qs(urlparse(page.url).query)["job"][0]
        expect(page.get_by_text(f"Job {job_id}")).to_be_visible()
        expect(page.get_by_text("Plans finished")).to_be_visible()
        expect(page.get_by_test_id("stMetric").filter(has_text="Status")).to_contain_text(
            "running", timeout=600_000)
        expect(page.get_by_test_id("stProgress").first).to_be_visible(timeout=600_000)  # a plan is under way
        settled(page)
        before = plans_finished(page)
        page.screenshot(path=ARTIFACTS / "e2e-2-run-progress.png", full_page=True)

        page.reload()  # mid-run: the same job comes back and keeps moving
        expect(page.get_by_text(f"Job {job_id}")).to_be_visible()
        assert parse_qs(urlparse(page.url).query)["job"] == [job_id]
        page.wait_for_function(
            "n => [...document.querySelectorAll('[data-testid=stMetric]')].some(m => "
            "m.innerText.includes('Plans finished') && parseInt(m.innerText.split('Plans finished')[1]) > n)",
            arg=before, timeout=600_000)
        settled(page)
        page.screenshot(path=ARTIFACTS / "e2e-3-after-reload.png", full_page=True)
        assert len(queue.list_jobs()) == 1  # the reload did not submit anything

        expect(page.get_by_test_id("stMetric").filter(has_text="Status")).to_contain_text(
            re.compile("done|failed|cancelled|interrupted"), timeout=900_000)
        job = queue.get_job(job_id)
        assert job["status"] == "done", job["error"]
        settled(page)  # the live view has given way to the finished one
        page.screenshot(path=ARTIFACTS / "e2e-4-run-done.png", full_page=True)
        page.get_by_role("link", name="Open the results").first.click()
        page.wait_for_url(re.compile(r".*/results\?run=\w+"))
        page.set_viewport_size({"width": 1400, "height": 3600})
        record = queue.store.get_run(job["run_id"])
        expect(page.get_by_text(record["recommendation"]["reason"])).to_be_visible()
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 12",
                               timeout=120_000)
        assert page.locator(".js-plotly-plot").count() >= 6
        settled(page)
        page.wait_for_timeout(1500)
        page.screenshot(path=ARTIFACTS / "e2e-5-results.png", full_page=True)
        gguf = [p for p in record["plans"] if (p.get("runtime") or {}).get("name") == "llama.cpp"]
        assert gguf and all(p["status"] == "ok" for p in gguf), [p.get("error") for p in gguf]  # the CPU preset
        expect(page.get_by_role("heading", name="Deploy")).to_be_visible()
        expect(page.get_by_role("button", name=re.compile(r"Download .*\.(gguf|safetensors)"))).to_be_visible()
        shipped = next(p for p in record["plans"] if p["plan"] == record["recommendation"]["plan"])
        expect(page.get_by_text(f"runs in {shipped['runtime']['name']}")).to_be_visible()  # the Deploy caption

        follow_a_run_still_going(page, url, queue.store, record)

        page.set_viewport_size({"width": 1400, "height": 1400})
        page.goto(f"{url}/history")
        expect(page.get_by_role("heading", name="History")).to_be_visible()
        settled(page)
        page.screenshot(path=ARTIFACTS / "e2e-7-history.png", full_page=True)
        browser.close()
