"""Stopping what a benchmark or a browser test started: its `streamlit run` server (its own process
group) and the training runs that server queued (each in a session of its own). Shared by
bench/rehearsal.py and tests/test_browser.py."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from clues.runs import RunStore, pid_alive


def stop_group(process: subprocess.Popen) -> None:
    """Stop a server started with start_new_session=True, with its children: TERM, then KILL."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def stop_runs(home: Path) -> None:
    """Kill the training processes of the run store in `home` still queued or running."""
    path = Path(home) / "runs.sqlite"
    if not path.exists():
        return
    for run in RunStore(path).list_runs():
        if run["status"] in ("queued", "running") and run.get("pid") and pid_alive(run["pid"]):
            try:
                os.killpg(run["pid"], signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
