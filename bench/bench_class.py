"""Benchmark: what one student costs the server (CPU-seconds of the `streamlit run` process).

A class opens the app at once on one machine, so what bounds it is the server's CPU time per student,
not one student's wall time. This starts `streamlit run app.py` (the README's command) and opens N
real Chromium sessions one after another, each in a fresh browser context (empty cache and cookies,
as a new student's browser). For each it reads the server process's own CPU time from /proc (user +
system of all its threads, children and the browser excluded) around:

  first view   — a new session opening the explorer on a generated biography never read before
                 (session start, static files, the analysis, every figure);
  again        — a new session on a text already read (everything but the analysis);
  new text     — the same session changing the seed in the sidebar (a new analysis, no new session);
  top-k move   — one step of the explorer's "Top-k clues to mark" slider (a full rerun of the page).

Beside each it runs the same work through streamlit's AppTest in this process (no websocket, no
static files, no browser), timed with this process's CPU time, and prints server ÷ AppTest. A
window ends when the page is idle and the server's CPU time has stopped rising, so what the server
does after the browser has drawn (a late message, a session's clean-up) lands in the window that
caused it. The server's idle CPU rate is measured first and given beside.

    python bench/bench_class.py [--students 6] [--moves 4] [--port 0] [--profile DIR]

--profile DIR records the server with py-spy (`pip install py-spy`) during the sessions, one
speedscope file per kind of window, and prints each profile's top functions by own time.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
TICKS = os.sysconf("SC_CLK_TCK")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
IDLE = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
HEATMAPS = ("() => [...document.querySelectorAll('.js-plotly-plot .gtitle')]"
            ".filter(t => /^(Large|Small) model/.test(t.textContent)).length >= 2")
FIRST_SEED = 5000  # generated biographies from here on are new to a fresh server
KINDS = ("first view", "again", "new text", "top-k move")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (all its threads, not its children), from /proc."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime: fields 14 and 15 of stat(5)


def wait_quiet(pid: int, window_s: float = 0.4, slack_s: float = 0.011, timeout_s: float = 30) -> None:
    """Until the server's CPU time rises by at most `slack_s` (one tick) over `window_s`."""
    deadline = time.monotonic() + timeout_s
    before = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(window_s)
        now = cpu_seconds(pid)
        if now - before <= slack_s:
            return
        before = now


@contextmanager
def server(port: int, env: dict):
    """`streamlit run app.py` (the README's command), healthy; yields (url, pid) and stops it after."""
    if port == 0:
        import socket  # noqa: PLC0415 — only to find a free port

        with socket.socket() as s:
            s.bind(("localhost", 0))
            port = s.getsockname()[1]
    url = f"http://localhost:{port}"
    process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", APP, "--server.port", str(port),
                                "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError as error:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("streamlit did not start") from error
                time.sleep(0.3)
        yield url, process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


class Profiler:
    """py-spy recording the server, one file per kind of window (started and stopped around each)."""

    def __init__(self, pid: int, folder: Path | None):
        self.pid, self.folder, self.running = pid, folder, None
        self.parts: dict[str, list[Path]] = {}

    @contextmanager
    def window(self, kind: str):
        if self.folder is None:
            yield
            return
        path = self.folder / f"{kind.replace(' ', '-')}-{sum(map(len, self.parts.values()))}.txt"
        self.parts.setdefault(kind, []).append(path)
        spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(self.pid),
                                "--rate", "250", "--format", "raw", "--threads",
                                "--output", str(path), "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # py-spy attaches
        try:
            yield
        finally:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=30)


def top_functions(paths: list[Path], count: int = 12) -> list[tuple[float, str]]:
    """Share of non-idle samples whose innermost frame is each function (raw py-spy stacks)."""
    own: dict[str, int] = {}
    total = 0
    for path in paths:
        if not path.is_file():
            continue
        for row in path.read_text().splitlines():
            stack, _, number = row.rpartition(" ")
            frames = stack.split(";")
            leaf = frames[-1]
            if any(word in leaf for word in ("select (", "wait (", "_worker (", "poll (", "epoll")):
                continue  # a thread waiting, not working
            own[leaf] = own.get(leaf, 0) + int(number)
            total += int(number)
    ranked = sorted(own.items(), key=lambda kv: -kv[1])[:count]
    return [(n / max(total, 1), leaf) for leaf, n in ranked]


# -- the browser side -------------------------------------------------------------------------

def settle(page, pid: int) -> None:
    page.wait_for_timeout(200)
    page.wait_for_function(IDLE, timeout=120_000)
    wait_quiet(pid)


def open_explorer(browser, url: str, seed: int, pid: int):
    """A new student: a fresh context opening the explorer on the generated text `seed`."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.goto(f"{url}/?src=generated&seed={seed}", timeout=120_000)
    page.wait_for_function(HEATMAPS, timeout=120_000)
    settle(page, pid)
    return context, page


def shaded_text(page) -> str:
    return page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot .gtitle')]"
                         ".map(t => t.textContent).join() + document.body.innerText.length")


def change_seed(page, seed: int, pid: int) -> None:
    box = page.get_by_role("spinbutton", name="Seed")
    box.fill(str(seed))
    box.press("Enter")
    page.wait_for_function(f"() => location.search.includes('seed={seed}')", timeout=60_000)
    page.wait_for_function(HEATMAPS, timeout=120_000)
    settle(page, pid)


def move_top_k(page, index: int, pid: int) -> None:
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Top-k clues").get_by_role("slider")
    slider.focus()
    before = page.evaluate("() => location.search")
    page.keyboard.press("ArrowRight" if index % 2 == 0 else "ArrowLeft")
    page.wait_for_function("before => location.search !== before", arg=before, timeout=60_000)
    settle(page, pid)


def browser_bench(url: str, pid: int, students: int, moves: int, profiler: Profiler) -> dict:
    # inside: playwright is a development extra, needed only here
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    costs = {kind: [] for kind in KINDS}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context, _ = open_explorer(browser, url, FIRST_SEED - 1, pid)  # cold: imports, loading the pair
        context.close()
        wait_quiet(pid)
        for student in range(students):
            with profiler.window("first view"):
                before = cpu_seconds(pid)
                context, page = open_explorer(browser, url, FIRST_SEED + student, pid)
                costs["first view"].append(cpu_seconds(pid) - before)
            for index in range(moves):
                with profiler.window("top-k move"):
                    before = cpu_seconds(pid)
                    move_top_k(page, index, pid)
                    costs["top-k move"].append(cpu_seconds(pid) - before)
            with profiler.window("new text"):
                before = cpu_seconds(pid)
                change_seed(page, FIRST_SEED + 1000 + student, pid)
                costs["new text"].append(cpu_seconds(pid) - before)
            context.close()  # the session ends: its clean-up lands in the next window, as in a class
            wait_quiet(pid)
        for student in range(students):
            with profiler.window("again"):
                before = cpu_seconds(pid)
                context, _ = open_explorer(browser, url, FIRST_SEED + student, pid)
                costs["again"].append(cpu_seconds(pid) - before)
            context.close()
            wait_quiet(pid)
        browser.close()
    return costs


# -- the same work in AppTest ------------------------------------------------------------------

def apptest_bench(students: int, moves: int) -> dict:
    # inside: AppTest and the app's modules load torch; the browser side needs neither
    from streamlit.testing.v1 import AppTest  # noqa: PLC0415

    sys.path.insert(0, str(ROOT / "bench"))
    from bench_app import heatmaps_shown  # noqa: PLC0415 — the bench folder is not a package

    def session(seed: int):
        at = AppTest.from_file(APP, default_timeout=300)
        at.query_params.update({"src": "generated", "seed": str(seed)})
        return at

    costs = {kind: [] for kind in KINDS}
    at = session(FIRST_SEED - 1).run()  # cold: loading the pair
    assert heatmaps_shown(at) and not at.exception, [e.value for e in at.exception]
    for student in range(students):
        before = time.process_time()
        at = session(FIRST_SEED + student).run()
        costs["first view"].append(time.process_time() - before)
        assert heatmaps_shown(at) and not at.exception
        for index in range(moves):
            value = 11 if index % 2 == 0 else 10
            before = time.process_time()
            at.slider(key="top_k").set_value(value).run()
            costs["top-k move"].append(time.process_time() - before)
        before = time.process_time()
        at.number_input(key="seed").set_value(FIRST_SEED + 1000 + student).run()
        costs["new text"].append(time.process_time() - before)
        assert heatmaps_shown(at) and not at.exception
    for student in range(students):
        before = time.process_time()
        session(FIRST_SEED + student).run()
        costs["again"].append(time.process_time() - before)
    return costs


def idle_rate(pid: int, seconds: float = 5.0) -> float:
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds


def report(served: dict, tested: dict, idle: float, students: int) -> None:
    print("\n| per student | server, browser: median (min–max) CPU s | mean | AppTest: median CPU s | "
          "server ÷ AppTest (medians) |")
    print("|---|---|---|---|---|")
    for kind in KINDS:
        values, base = served[kind], statistics.median(tested[kind])
        middle = statistics.median(values)
        print(f"| {kind} ({len(values)}) | {middle:.3f} ({min(values):.3f}–{max(values):.3f}) | "
              f"{statistics.mean(values):.3f} | {base:.3f} | {middle / base:.1f}× |")
    print(f"\nserver idle: {idle * 1000:.1f} ms of CPU per second (included above, windows of ~1–3 s)")
    first = statistics.mean(served["first view"])
    print(f"30 students arriving at once, first views alone (mean): {30 * first:.1f} CPU-s, "
          f"≥ {30 * first / 2:.1f} s on 2 cores (goal ≤ 0.4 CPU-s a first view, ≤ 0.1 a move)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=6, help="browser sessions opened one after another")
    parser.add_argument("--moves", type=int, default=4, help="top-k moves per session")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--profile", type=Path, help="record the server with py-spy into this folder")
    parser.add_argument("--skip-apptest", action="store_true", help="only the browser sessions")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "CLUES_HOME": tempfile.mkdtemp(prefix="clues-class-")}
    os.environ.update({k: env[k] for k in ("OMP_NUM_THREADS", "HF_HUB_OFFLINE", "CLUES_HOME")})
    print(f"{os.cpu_count()} cores; load average (1 min) {os.getloadavg()[0]:.1f}; "
          f"{args.students} students, {args.moves} top-k moves each", flush=True)
    with server(args.port, env) as (url, pid):
        urllib.request.urlopen(url, timeout=10).read()
        wait_quiet(pid)
        idle = idle_rate(pid)
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        profiler = Profiler(pid, args.profile)
        served = browser_bench(url, pid, args.students, args.moves, profiler)
    tested = {kind: [float("nan")] for kind in KINDS} if args.skip_apptest else apptest_bench(args.students,
                                                                                               args.moves)
    print(f"load average (1 min) after: {os.getloadavg()[0]:.1f}")
    report(served, tested, idle, args.students)
    for kind, paths in profiler.parts.items():
        print(f"\npy-spy, {kind}: own time of the busiest functions (share of non-idle samples)")
        for share, leaf in top_functions(paths):
            print(f"  {share * 100:5.1f}%  {leaf}")


if __name__ == "__main__":
    main()
