"""The app in a real Chromium: every page draws its charts, moving α changes the preview, a
1-epoch training run shows its curve. Screenshots go to a temp folder, or to $CLUES_SCREENSHOTS
(scripts/refresh_screenshots.sh sets docs/screenshots, a path relative to the repository root).

Starts `streamlit run app.py` on a free port (CLUES_HOME in a temp folder, one torch thread) and
drives the system Chromium (/usr/bin/chromium; Playwright cannot download its own here). Every
wait is bounded; the server and any training process it started are stopped at the end.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} to drive"),
]
playwright_api = pytest.importorskip("playwright.sync_api")

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1440, "height": 1900}


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """The folder for screenshots: $CLUES_SCREENSHOTS if set, else a temp folder (tracked files stay as they are)."""
    chosen = os.environ.get("CLUES_SCREENSHOTS")
    folder = ROOT / chosen if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, timeout_s: float = 90) -> None:
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


@pytest.fixture(scope="module")
def server(pair, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    port = free_port()
    url = f"http://localhost:{port}"
    env = {**os.environ, "CLUES_HOME": str(home), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "CLUES_DEMO_LARGE": pair[0], "CLUES_DEMO_SMALL": pair[1]}
    log = open(home / "server.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_healthy(url, process)
        yield url, home
    finally:
        _stop_group(process)
        log.close()
        _stop_runs(home)


def _stop_group(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _stop_runs(home: Path) -> None:
    """Kill training processes this test's server started (they run in their own sessions)."""
    from clues.runs import RunStore, pid_alive

    path = home / "runs.sqlite"
    if not path.exists():
        return
    for run in RunStore(path).list_runs():
        if run["status"] in ("queued", "running") and pid_alive(run["pid"]):
            try:
                os.killpg(run["pid"], signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    try:
        yield tab
    finally:
        context.close()


def settle(tab, timeout_ms: int = 60_000) -> None:
    """Wait until the script run is over (no 'Running…' status widget), bounded."""
    tab.wait_for_timeout(300)
    tab.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                          timeout=timeout_ms)
    tab.wait_for_timeout(300)


def open_page(tab, url: str, charts: int = 1, timeout_ms: int = 90_000) -> None:
    tab.goto(url, timeout=timeout_ms)
    tab.wait_for_function(f"() => document.querySelectorAll('.js-plotly-plot').length >= {charts}",
                          timeout=timeout_ms)
    settle(tab, timeout_ms)
    assert "Page not found" not in tab.inner_text("body")
    assert tab.locator('[data-testid="stException"]').count() == 0, tab.locator(
        '[data-testid="stException"]').first.inner_text()


def shoot(tab, folder: Path, name: str) -> None:
    tab.wait_for_timeout(500)  # plotly finishes its transitions
    tab.screenshot(path=str(folder / f"{name}.png"))


def drop_probabilities(tab) -> list[str]:
    return tab.eval_on_selector_all(".drop-token", "nodes => nodes.map(n => n.dataset.p)")


def test_alpha_slider_changes_the_preview(server, page, shots):
    url, _ = server
    # The first visit of the fresh server goes straight to a page, not to the entry point.
    open_page(page, f"{url}/augmentation?copies=3", charts=2)
    nav = page.locator('[data-testid="stSidebarNav"]')
    assert "Augmentation lab" in nav.inner_text() and "Clue explorer" in nav.inner_text()
    before = drop_probabilities(page)
    assert before and max(map(float, before)) <= 0.7 + 1e-9
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="α (highest").get_by_role("slider")
    slider.focus()
    for _ in range(8):  # 8 steps of 0.05: α 0.70 → 0.30
        page.keyboard.press("ArrowLeft")
    page.wait_for_function(
        "before => { const p = [...document.querySelectorAll('.drop-token')].map(n => n.dataset.p);"
        " return p.length && p.join() !== before.join() && Math.max(...p.map(Number)) <= 0.3 + 1e-9; }",
        arg=before, timeout=30_000)
    settle(page)
    assert "alpha=0.3" in page.url  # the view is in the link
    assert page.locator(".clues-copy s").count() > 0  # dropped tokens are struck
    shoot(page, shots, "augmentation")


@pytest.mark.parametrize("name, path, charts", [("explorer", "", 5), ("corpus", "corpus", 1),
                                                ("how_it_works", "how_it_works", 2)])
def test_pages_draw_their_charts(server, page, shots, name, path, charts):
    url, _ = server
    open_page(page, f"{url}/{path}", charts=charts)  # the explorer is the start page, at /
    if name == "explorer":
        assert page.locator(".clues-text .clue-token").count() > 10
        assert page.locator('[data-testid="stDataFrame"]').count() >= 1
    shoot(page, shots, name)


def test_a_training_run_shows_its_curve(server, page, shots):
    url, home = server
    open_page(page, f"{url}/training?conditions=contrast&epochs=1&train_n=8&train_copies=1&batch=8", charts=0)
    start = page.get_by_role("button", name="Start 1 run")
    start.click()
    # The run is a separate process: the page keeps answering while it trains.
    page.get_by_text("Current runs").wait_for(timeout=60_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot .gtitle')]"
        ".some(t => t.textContent.includes('QA exact match'))", timeout=240_000)
    page.wait_for_function(
        "() => document.body.innerText.includes('— finished')", timeout=240_000)
    settle(page)
    from clues.runs import RunStore

    runs = RunStore(home / "runs.sqlite").list_runs()
    assert [r["status"] for r in runs] == ["finished"]
    assert {"loss", "em"} <= set(RunStore(home / "runs.sqlite").metrics(runs[0]["id"])["name"])
    shoot(page, shots, "training")
