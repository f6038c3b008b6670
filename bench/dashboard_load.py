"""The dashboard under load (issue 16): how long its pages take to become usable while a job runs.

    python bench/dashboard_load.py [--sessions 10] [--rounds 1] [--no-compare] [--no-wait]

Starts `compecon ui` on loopback (a free port) with a store of its own, runs one real job first (the
embedded model, plans fp32 and int8, the sample prompts limited to 16) so every page has a finished run to
show, then opens SESSIONS headless Chromium sessions at once (one browser, a context each), each loading
the New run, Run, Results and History pages in turn (starting at a different page), and times each from
navigation until the page is usable: its last element visible and Streamlit's "running" icon gone (and,
apart, until that element is drawn). Phases: no job; a job run by the worker as the dashboard starts it
(nice 10, its session group too, cores - 1 threads); and, unless --no-compare, the same job with the
worker at the server's priority on every core (nice 0 in a session group of its own, as before issue 16).
CPU seconds of the server, the worker, the browsers (they share the machine's cores here) and the rest
are counted for each phase. Prints p50/p95 per phase, the load average during each, and whether the machine was busy
before timing (it waits up to 20 minutes for the 1-minute load average to fall below 1.0).

Everything is bounded: SESSIONS browser contexts, ROUNDS loads of each page per session, a per-page
bound and an overall deadline per phase; the server and workers are stopped by their pids.
tests/reliability/test_dashboard_load.py runs the same measurement as a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.evaluation.prompts import load_prompts  # noqa: E402
from engine.jobs import ACTIVE, JobQueue  # noqa: E402
from engine.store import pid_alive  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# page: (path, the element its script draws last, by role or text)
PAGES = {
    "New run": ("/", ("button", "Start run")),
    "Run": ("/run", ("text", "Plans finished")),
    "Results": ("/results", ("heading", "Prompts each plan broke")),
    "History": ("/history", ("text", "Select runs to open, compare or delete")),
}
EMPTY = "No stored runs yet|No run yet"  # what Run, Results and History draw last in an empty store
RUNNING_ICON = '[data-testid="stStatusWidgetRunningIcon"]'
JOB_SETTINGS = {"device": "cpu", "limit": 16, "keep_artifacts": False}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Dashboard:
    """`compecon ui` on 127.0.0.1 with a store of its own, and the job queue of that store."""

    home: Path
    log: Path
    process: subprocess.Popen | None = None
    url: str = ""
    queue: JobQueue | None = None
    extra_pids: list[int] = field(default_factory=list)

    def start(self, timeout_s: float = 180) -> Dashboard:
        self.home.mkdir(parents=True, exist_ok=True)
        port = free_port()
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "compecon"), "ui", "--server.port", str(port),
                 "--server.address", "127.0.0.1", "--server.headless", "true"],
                env={**os.environ, "COMPECON_HOME": str(self.home)}, stdout=log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"the dashboard did not start: {self.log.read_text()[-2000:]}") from None
                time.sleep(0.5)
        self.queue = JobQueue(self.home / "runs.sqlite")
        return self

    def stop(self) -> None:
        """The server by its pid, then every worker registered in its store and any this script started."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        pids = list(self.extra_pids)
        if self.queue is not None:
            with self.queue.connect() as db:
                pids += [int(r[0].rpartition(":")[2]) for r in db.execute("SELECT worker FROM workers")]
        for pid in set(pids):
            if pid != os.getpid() and pid_alive(pid):
                os.kill(pid, signal.SIGKILL)

    def worker_pids(self) -> list[int]:
        with self.queue.connect() as db:
            return [int(r[0].rpartition(":")[2]) for r in db.execute("SELECT worker FROM workers")]

    def stop_workers(self) -> None:
        """Kill the store's registered workers by pid (an idle one would otherwise take the next job)."""
        with self.queue.connect() as db:
            pids = [int(r[0].rpartition(":")[2]) for r in db.execute("SELECT worker FROM workers")]
            db.execute("DELETE FROM workers")
        for pid in pids:
            if pid != os.getpid() and pid_alive(pid):
                os.kill(pid, signal.SIGKILL)

    def submit(self, token: str, limit: int = 16) -> str:
        spec = {"model": "smollm2-135m", "plans": ["fp32", "int8"], "settings": {**JOB_SETTINGS, "limit": limit},
                "prompts": load_prompts(ROOT / "sample_data" / "prompts.jsonl").to_dict()}
        return self.queue.submit(spec, token)

    def start_worker(self, niced: bool = True) -> int | None:
        """The worker as the dashboard starts it (niced), or one at the server's priority on every core."""
        if niced:
            return self.queue.ensure_worker("cpu")
        cores = len(os.sched_getaffinity(0))
        with open(self.home / "worker-normal.log", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "engine.worker", "--device", "cpu", "--store", str(self.queue.path),
                 "--nice", "0", "--threads", str(cores)],
                cwd=ROOT, env={**os.environ, "COMPECON_HOME": str(self.home)}, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        threading.Thread(target=process.wait, daemon=True).start()
        self.extra_pids.append(process.pid)
        return process.pid

    def wait_job(self, job_id: str, condition, timeout_s: float) -> dict:
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.queue.get_job(job_id, prompts=False)
            if condition(job):
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout_s:g} s")
            time.sleep(0.5)

    def job_running(self) -> bool:
        """A job runs, or one is queued while another runs or just ended: between one job's end and the next
        one's start the worker holds no running job for a moment, yet it is as busy as ever (a load that ended
        in that gap was once counted as a load with no job)."""
        jobs = self.queue.list_jobs(ACTIVE, prompts=False)
        return any(j["status"] == "running" for j in jobs) or bool(jobs and self.queue.worker_alive("cpu"))


@dataclass
class Load:
    """One page load: which page, in which session, how long until usable (None: not within the bound)."""

    page: str
    session: int
    seconds: float | None  # until its last element is visible and Streamlit's running icon is gone
    job_at_start: bool
    job_at_end: bool
    error: str = ""
    visible: float | None = None  # until its last element is visible (the running icon may still show)


async def _load(context, dashboard: Dashboard, session: int, name: str, query: str, bound_s: float) -> Load:
    from playwright.async_api import expect

    path, (kind, label) = PAGES[name]
    page = await context.new_page()
    running = await asyncio.to_thread(dashboard.job_running)
    began, visible = time.perf_counter(), None
    try:
        await page.goto(dashboard.url + path + query, wait_until="commit", timeout=bound_s * 1000)
        left = lambda: max(1.0, bound_s - (time.perf_counter() - began)) * 1000  # noqa: E731
        target = (page.get_by_role(kind, name=label) if kind in ("button", "heading")
                  else page.get_by_text(label, exact=True)).or_(page.get_by_text(re.compile(EMPTY)))
        await expect(target.first).to_be_visible(timeout=left())
        visible = time.perf_counter() - began
        await page.wait_for_function(f"!document.querySelector('{RUNNING_ICON}')", timeout=left())
        seconds, error = time.perf_counter() - began, ""
    except Exception as failure:  # a page not usable within the bound is a result, not a crash
        seconds, error = None, f"{type(failure).__name__}: {str(failure).splitlines()[0][:200]}"
    finally:
        await page.close()
    return Load(name, session, seconds, running, await asyncio.to_thread(dashboard.job_running), error, visible)


async def _session(browser, dashboard: Dashboard, session: int, rounds: int, queries: dict, bound_s: float,
                   stop_at: float):
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    names = list(PAGES)
    order = names[session % len(names):] + names[:session % len(names)]  # every page is hit at once
    loads = []
    try:
        for _ in range(rounds):
            for name in order:
                if time.monotonic() > stop_at:  # past the phase's deadline: no new loads
                    return loads
                loads.append(await _load(context, dashboard, session, name, queries.get(name, ""), bound_s))
    finally:
        await context.close()
    return loads


async def _measure(dashboard: Dashboard, sessions: int, rounds: int, queries: dict, bound_s: float,
                   deadline_s: float) -> list[Load]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            stop_at = time.monotonic() + deadline_s
            tasks = [_session(browser, dashboard, s, rounds, queries, bound_s, stop_at) for s in range(sessions)]
            results = await asyncio.wait_for(asyncio.gather(*tasks), deadline_s + bound_s + 60)
        finally:
            await browser.close()
    return [load for loads in results for load in loads]


class CpuShares:
    """CPU seconds used meanwhile by the web server, the worker, the browsers and everything else on the
    machine, from every process's CPU times sampled each second (a process that exits between two samples
    loses its last second)."""

    def __init__(self, dashboard: Dashboard):
        self.began = time.time()
        self.server = dashboard.process.pid
        self.workers = set(dashboard.worker_pids())
        self.last: dict[int, float] = {}
        self.used = {"server": 0.0, "worker": 0.0, "browsers": 0.0, "other": 0.0}
        self.sample(count=False)

    def category(self, process) -> str:
        if process.pid == self.server:
            return "server"
        if process.pid == os.getpid():
            return "browsers"  # this script drives them
        if process.pid in self.workers:
            return "worker"
        name = " ".join(process.info["cmdline"] or [])[:300]
        return "browsers" if "chromium" in name or "playwright" in name else "other"

    def sample(self, count: bool = True) -> None:
        import psutil

        for process in psutil.process_iter(["cmdline", "cpu_times", "create_time"]):
            times = process.info["cpu_times"]
            if times is None:
                continue
            total = times.user + times.system
            if count:  # a process started since the first sample counts from zero
                new = (process.info["create_time"] or 0) >= self.began
                self.used[self.category(process)] += total - self.last.get(process.pid, 0.0 if new else total)
            self.last[process.pid] = total


def measure(dashboard: Dashboard, sessions: int = 10, rounds: int = 1, queries: dict | None = None,
            bound_s: float = 180, deadline_s: float = 900) -> tuple[list[Load], dict]:
    """SESSIONS concurrent sessions, each loading every page ROUNDS times; the loads, and what the machine
    did meanwhile: the 1-minute load average (before, mean and max of samples every 2 s), the wall time
    and the CPU seconds of the server, the worker, the browsers and the rest."""
    samples, stop = [], threading.Event()
    cpu = CpuShares(dashboard)

    def sample():
        tick = 0
        while not stop.wait(1.0):
            cpu.sample()
            tick += 1
            if tick % 2 == 0:
                samples.append(os.getloadavg()[0])

    began = time.monotonic()
    sampler = threading.Thread(target=sample, daemon=True)
    before = os.getloadavg()[0]
    sampler.start()
    try:
        loads = asyncio.run(_measure(dashboard, sessions, rounds, queries or {}, bound_s, deadline_s))
    finally:
        stop.set()
        sampler.join()
    cpu.sample()
    samples.append(os.getloadavg()[0])
    wall = time.monotonic() - began
    return loads, {"before": before, "mean": statistics.fmean(samples), "max": max(samples), "wall_s": wall,
                   "cpu_s": {k: round(v, 1) for k, v in cpu.used.items()}}


def warm_up(dashboard: Dashboard, queries: dict | None = None) -> None:
    """One session loads every page once: the server's first script runs import the engine."""
    asyncio.run(_measure(dashboard, 1, 1, queries or {}, 120, 600))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(loads: list[Load]) -> dict:
    """p50/p95/max over every load, one not usable within the bound counting as infinitely slow."""
    times = [load.seconds if load.seconds is not None else float("inf") for load in loads]
    drawn = [load.visible if load.visible is not None else float("inf") for load in loads]
    return {"visible_p50": percentile(drawn, 50) if drawn else None,
            "visible_p95": percentile(drawn, 95) if drawn else None,
            "loads": len(loads), "usable": sum(load.seconds is not None for load in loads),
            "p50": percentile(times, 50) if times else None, "p95": percentile(times, 95) if times else None,
            "max": max(times) if times else None,
            "during_job": sum(load.job_at_start and load.job_at_end for load in loads),
            "per_page": {name: round(percentile(t, 50), 1) for name in PAGES
                         if (t := [x.seconds if x.seconds is not None else float("inf")
                                   for x in loads if x.page == name])},
            "failures": [f"{x.page}: {x.error}" for x in loads if x.seconds is None]}


def wait_for_quiet(threshold: float = 1.0, every_s: float = 15, give_up_s: float = 1200) -> tuple[bool, float]:
    """Wait until the 1-minute load average is below `threshold`; (busy, load) where busy means it never was."""
    deadline = time.monotonic() + give_up_s
    while True:
        load = os.getloadavg()[0]
        if load < threshold:
            return False, load
        if time.monotonic() > deadline:
            return True, load
        print(f"load average {load:.2f} >= {threshold}; waiting", flush=True)
        time.sleep(every_s)


@contextmanager
def dashboard_at(home: Path, log: Path):
    dashboard = Dashboard(home, log).start()
    try:
        yield dashboard
    finally:
        dashboard.stop()


def _job_phase(dashboard: Dashboard, name: str, niced: bool, args, queries: dict) -> dict:
    """Submit a job, start its worker, measure once its run exists, then let it finish (it must end ok)."""
    if not niced:
        dashboard.stop_workers()
    job_id = dashboard.submit(f"bench-{name}")
    spare = dashboard.submit(f"bench-{name}-spare", limit=64)  # keeps the worker busy however long the loads take
    dashboard.start_worker(niced)
    dashboard.wait_job(job_id, lambda j: j["run_id"] and j["progress"].get("position") is not None, 600)
    loads, load_avg = measure(dashboard, args.sessions, args.rounds, {**queries, "Run": f"?job={job_id}"},
                             args.bound)
    dashboard.queue.request_cancel(spare)
    job = dashboard.wait_job(job_id, lambda j: j["status"] not in ACTIVE, 1200)
    dashboard.wait_job(spare, lambda j: j["status"] not in ACTIVE, 600)
    worker = job["progress"].get("worker", {})
    return {"phase": name, "job": job["status"], "worker": worker, "load": load_avg, **summary(loads)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10, help="concurrent browser sessions (at most 10)")
    parser.add_argument("--rounds", type=int, default=1, help="loads of each page per session (at most 3)")
    parser.add_argument("--bound", type=float, default=180, help="seconds a page may take before it counts as "
                        "not usable (default: %(default)g)")
    parser.add_argument("--no-compare", action="store_true", help="skip the worker-at-normal-priority phase")
    parser.add_argument("--no-wait", action="store_true", help="measure at once, however busy the machine")
    args = parser.parse_args(argv)
    args.sessions, args.rounds = max(1, min(args.sessions, 10)), max(1, min(args.rounds, 3))
    if not Path(CHROMIUM).exists():
        print(f"needs Chromium at {CHROMIUM}", file=sys.stderr)
        return 2
    busy, quiet_load = (False, os.getloadavg()[0]) if args.no_wait else wait_for_quiet()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"{started}: load average {quiet_load:.2f} before timing ({'busy machine' if busy else 'quiet'}); "
          f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="dashboard-load-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        models = Path(os.environ.get("COMPECON_HOME", "~/.compecon")).expanduser() / "models"
        if models.is_dir():
            (home / "models").symlink_to(models)  # reuse the converted embedded model
        with dashboard_at(home, Path(tmp) / "server.log") as dashboard:
            setup = dashboard.submit("bench-setup")
            dashboard.start_worker(niced=True)
            record_job = dashboard.wait_job(setup, lambda j: j["status"] not in ACTIVE, 1200)
            if record_job["status"] != "done":
                print(f"the setup job ended {record_job['status']}: {record_job['error']}", file=sys.stderr)
                return 1
            queries = {"Results": f"?run={record_job['run_id']}"}  # the same finished run in every phase
            warm_up(dashboard, queries)
            phases = []
            loads, load_avg = measure(dashboard, args.sessions, args.rounds, queries, args.bound)
            phases.append({"phase": "no job", "job": "-", "worker": {}, "load": load_avg, **summary(loads)})
            print(phases[-1], flush=True)
            phases.append(_job_phase(dashboard, "job, worker niced", True, args, queries))
            print(phases[-1], flush=True)
            if not args.no_compare:
                phases.append(_job_phase(dashboard, "job, worker at normal priority", False, args, queries))
                print(phases[-1], flush=True)
    print()
    print("| phase | worker | usable / loads | loads during a job | p50 s | p95 s | max s | drawn p50 / p95 s | wall s "
          "| load avg mean / max | CPU s: server / worker / browsers / other |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    fmt = lambda v: "-" if v is None else (f"> {args.bound:g}" if v == float("inf") else f"{v:.1f}")  # noqa: E731
    for ph in phases:
        w, load, cpu = ph["worker"], ph["load"], ph["load"]["cpu_s"]
        group = f" (group {w['autogroup_nice']})" if w.get("autogroup_nice") is not None else ""
        worker = f"nice {w['nice']}{group}, {w['threads']} of {w['cores']} threads" if w else "-"
        print(f"| {ph['phase']} | {worker} | {ph['usable']}/{ph['loads']} | {ph['during_job']} | {fmt(ph['p50'])} | "
              f"{fmt(ph['p95'])} | {fmt(ph['max'])} | {fmt(ph['visible_p50'])} / {fmt(ph['visible_p95'])} | "
              f"{load['wall_s']:.0f} | {load['mean']:.2f} / {load['max']:.2f} | "
              f"{cpu['server']:.0f} / {cpu['worker']:.0f} / {cpu['browsers']:.0f} / {cpu['other']:.0f} |")
    for ph in phases:
        print(f"{ph['phase']}: p50 per page {ph['per_page']}; job {ph['job']}"
              + (f"; not usable within {args.bound:g} s: {ph['failures']}" if ph["failures"] else ""))
    print(f"machine: {'busy machine' if busy else 'quiet'} before timing (load {quiet_load:.2f}), started {started}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
