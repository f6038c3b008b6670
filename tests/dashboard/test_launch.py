"""`compecon ui` starts Streamlit on the dashboard from the project root, passing options through."""

import os
from pathlib import Path

from typer.testing import CliRunner

from engine.cli import app

ROOT = Path(__file__).resolve().parents[2]


def test_ui_runs_streamlit_from_the_project_root_with_extra_options(monkeypatch, tmp_path):
    calls = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "execv", lambda path, argv: calls.append((path, argv, os.getcwd())))
    result = CliRunner().invoke(app, ["ui", "--server.port", "8600", "--server.headless", "true"])
    assert result.exit_code == 0, result.output
    (path, argv, cwd), = calls
    assert argv[1:4] == ["-m", "streamlit", "run"] and argv[4] == str(ROOT / "dashboard" / "app.py")
    assert argv[5:] == ["--server.port", "8600", "--server.headless", "true"]
    assert Path(cwd) == ROOT  # so .streamlit/config.toml applies


def test_worker_refuses_an_unknown_device():
    result = CliRunner().invoke(app, ["worker", "--device", "tpu"])
    assert result.exit_code == 2 and "unknown device 'tpu'" in result.output


def test_the_served_dashboard_binds_to_loopback_and_watches_no_files():
    """A file watcher walks every loaded module for each new session and re-imports edited pages mid-session
    (bench/RESULTS.md, "The polls, and the file watcher")."""
    import tomllib

    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert server["address"] == "localhost" and server["fileWatcherType"] == "none"
    assert server["enableXsrfProtection"] is True
