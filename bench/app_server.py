"""A `streamlit run` server for a benchmark or a browser test: a free port, waiting until it is
healthy, and stopping it (its own process group) with the training runs it queued (each in a session
of its own). Shared by bench/rehearsal.py and tests/test_browser.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from clues.runs import RunStore, pid_alive


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, timeout_s: float) -> None:
    """Return once the server at `url` answers its health check; raise if it exits or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"streamlit did not become healthy within {timeout_s} s")


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
