"""Benchmark: how fast the app answers, on the demo pair (a benchmark, not a timed test).

  1. opening the clue explorer until its heatmaps are built:
     cold  — the first session of a process: loading the pair, reading attention (AppTest: the
             libraries are imported already; Chromium: a fresh server, so imports count too);
     new   — a new session on a warm process, a text never seen (attention is read);
     again — a new session on a text already read (everything cached);
  2. moving α on the augmentation lab until the new preview is built (median of several moves).

By default it times the script runs with streamlit's AppTest (server side, no browser). With
--browser it also starts `streamlit run app.py` and times the same two things in Chromium, from
navigation until the heatmaps are drawn and from the key press until the preview has changed, and
beside it the floor: the same key press on the smallest page (one slider and one st.write, its own
server, the same browser, moves alternating with the lab's) until its text has changed.

Goals on this 2-core machine: explorer ≤ 3 s, α → preview ≤ 200 ms.

    python bench/bench_app.py [--moves 10] [--browser] [--large DIR --small DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import torch
from streamlit.testing.v1 import AppTest

from clues.ui.sidebar import demo_refs

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
GOAL_EXPLORER_S = 3.0
GOAL_ALPHA_S = 0.200


def verdict(seconds: float, goal: float) -> str:
    return f"{'ok  ' if seconds <= goal else 'SLOW'} (goal ≤ {goal * 1000:.0f} ms)" if goal < 1 else \
        f"{'ok  ' if seconds <= goal else 'SLOW'} (goal ≤ {goal:.0f} s)"


def line(label: str, seconds: float, goal: float | None = None) -> None:
    text = f"  {label:<48} {seconds * 1000:8.0f} ms"
    print(text + ("  " + verdict(seconds, goal) if goal else ""), flush=True)


def heatmaps_shown(at) -> bool:
    titles = [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in at.get("plotly_chart")]
    return any(t.startswith("Large model") for t in titles) and any(t.startswith("Small model") for t in titles)


def apptest_bench(moves: int) -> dict:
    results = {}
    start = time.perf_counter()
    at = AppTest.from_file(APP, default_timeout=300).run()
    results["cold"] = time.perf_counter() - start
    assert heatmaps_shown(at) and not at.exception, [e.value for e in at.exception]

    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update({"src": "generated", "seed": "4242"})
    start = time.perf_counter()
    at.run()
    results["new"] = time.perf_counter() - start
    assert heatmaps_shown(at) and not at.exception

    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update({"src": "generated", "seed": "4242"})
    start = time.perf_counter()
    at.run()
    results["again"] = time.perf_counter() - start

    at.switch_page("pages/augmentation.py").run()
    assert not at.exception, [e.value for e in at.exception]
    times = []
    for index in range(moves):
        value = round(0.3 + 0.05 * (index % 8), 2)
        if value == at.slider(key="alpha").value:
            value = 0.25
        start = time.perf_counter()
        at.slider(key="alpha").set_value(value).run()
        times.append(time.perf_counter() - start)
        assert not at.exception
    results["alpha"] = statistics.median(times)
    results["alpha_max"] = max(times)
    return results


# The floor: the smallest page with the same kind of control, timed the same way in the same browser;
# once as a plain script (a move reruns the whole script) and once inside a fragment, as the lab runs.
FLOOR_SCRIPT = """import streamlit as st

value = st.slider("α (highest drop probability)", 0.0, 1.0, 0.7, step=0.05, key="alpha")
st.write(f"α = {value:.2f}")
"""
FLOOR_FRAGMENT_SCRIPT = """import streamlit as st


@st.fragment
def lab():
    value = st.slider("α (highest drop probability)", 0.0, 1.0, 0.7, step=0.05, key="alpha")
    st.write(f"α = {value:.2f}")


lab()
"""
LAB_STATE = "() => [...document.querySelectorAll('.drop-token')].map(x => x.dataset.p).join()"
FLOOR_STATE = ("() => [...document.querySelectorAll('[data-testid=\"stMarkdownContainer\"]')]"
               ".map(x => x.textContent).filter(t => t.startsWith('α = ')).join()")
IDLE = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"


@contextmanager
def streamlit_server(script: str, cwd: Path, env: dict):
    """`streamlit run script` on a free port; yields its URL and stops it on the way out."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    url = f"http://localhost:{port}"
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
                               "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                              cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError as error:
                if time.monotonic() > deadline:
                    raise TimeoutError("streamlit did not start") from error
                time.sleep(0.3)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


def move_slider(page, state: str, index: int) -> float:
    """Seconds from a key press on the focused slider until `state` (a JS function) changes.

    Timed inside the page (checked every animation frame), so Playwright's own round trips do not count.
    """
    before = page.evaluate(state)
    start = page.evaluate("() => performance.now()")
    page.keyboard.press("ArrowLeft" if index % 2 == 0 else "ArrowRight")
    end = page.evaluate(
        "([state, before]) => new Promise(done => { const read = eval(state); const check = () => {"
        " if (read() !== before) done(performance.now()); else requestAnimationFrame(check); }; check(); })",
        [state, before])
    page.wait_for_function(IDLE, timeout=30_000)
    page.wait_for_timeout(300)
    return (end - start) / 1000


def focus_slider(page) -> None:
    page.wait_for_function(IDLE, timeout=60_000)
    page.locator('[data-testid="stSlider"]').filter(has_text="α (highest").get_by_role("slider").focus()


def browser_bench(moves: int, env: dict) -> dict:
    # inside: playwright is needed only with --browser (a development extra, not a requirement)
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    home = tempfile.mkdtemp(prefix="clues-bench-")
    floor_dir = Path(tempfile.mkdtemp(prefix="clues-floor-"))
    (floor_dir / "floor.py").write_text(FLOOR_SCRIPT)
    (floor_dir / "floor_fragment.py").write_text(FLOOR_FRAGMENT_SCRIPT)
    results = {}
    with streamlit_server(APP, ROOT, {**env, "CLUES_HOME": home}) as url, \
            streamlit_server("floor.py", floor_dir, env) as floor_url, \
            streamlit_server("floor_fragment.py", floor_dir, env) as fragment_url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        heatmaps = "() => [...document.querySelectorAll('.js-plotly-plot .gtitle')]" \
                   ".filter(t => /^(Large|Small) model/.test(t.textContent)).length >= 2"
        visits = (("cold", ""), ("new", "?src=generated&seed=4243"), ("again", "?src=generated&seed=4243"))
        for label, query in visits:
            start = time.perf_counter()
            page.goto(f"{url}/{query}", timeout=120_000)  # the explorer is the start page
            page.wait_for_function(heatmaps, timeout=120_000)
            results[label] = time.perf_counter() - start
        page.goto(f"{url}/augmentation", timeout=120_000)
        page.wait_for_selector(".drop-token", timeout=120_000)
        focus_slider(page)
        pages = {"alpha": (page, LAB_STATE)}
        for name, floor_page_url in (("floor", floor_url), ("floor_fragment", fragment_url)):
            floor = browser.new_page(viewport={"width": 1440, "height": 1000})
            floor.goto(floor_page_url, timeout=120_000)
            floor.wait_for_function(f"() => ({FLOOR_STATE})() !== ''", timeout=120_000)
            focus_slider(floor)
            pages[name] = (floor, FLOOR_STATE)
        times = {name: [] for name in pages}
        for index in range(moves):  # alternating, so all see the same load
            for name, (each, state) in pages.items():
                each.bring_to_front()
                times[name].append(move_slider(each, state, index))
        for name, seconds in times.items():
            results[name], results[f"{name}_max"] = statistics.median(seconds), max(seconds)
        browser.close()
    return results


def report(title: str, results: dict) -> None:
    print(title)
    line("explorer, first session (load the pair + read)", results["cold"])
    line("explorer, new session, new text", results["new"], GOAL_EXPLORER_S)
    line("explorer, new session, text already read", results["again"], GOAL_EXPLORER_S)
    line("α moved → new preview (median)", results["alpha"], GOAL_ALPHA_S)
    line("α moved → new preview (slowest)", results["alpha_max"])
    if "floor" in results:
        line("floor: slider + st.write, α → new text (median)", results["floor"])
        line("floor (slowest)", results["floor_max"])
        line("floor in a fragment, as the lab (median)", results["floor_fragment"])
        line("floor in a fragment (slowest)", results["floor_fragment_max"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=10, help="α moves to time (default 10)")
    parser.add_argument("--browser", action="store_true", help="also time in Chromium against a real server")
    parser.add_argument("--large", help="large model folder (default: the bundled demo pair)")
    parser.add_argument("--small", help="small model folder")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["CLUES_HOME"] = os.environ.get("CLUES_HOME") or str(Path("/tmp") / "clues-bench-home")
    if args.large and args.small:
        os.environ["CLUES_DEMO_LARGE"], os.environ["CLUES_DEMO_SMALL"] = args.large, args.small
    large, small = demo_refs()
    if not (Path(large) / "config.json").is_file():
        sys.exit(f"No model pair at {large}: build the demo pair (`python -m clues demo build`) or pass "
                 "--large and --small.")
    torch.set_num_threads(args.threads)
    print(f"pair: {large} / {small}; torch threads {args.threads}; {os.cpu_count()} cores; "
          f"load average (1 min) {os.getloadavg()[0]:.1f}")
    report("AppTest (script run on the server, no browser):", apptest_bench(args.moves))
    if args.browser:
        report("Chromium (server + browser, until drawn):", browser_bench(args.moves, dict(os.environ)))
        print(f"load average (1 min) after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
