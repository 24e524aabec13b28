"""Benchmark: a teacher's rehearsal of a class, replayed in Chromium at a projector's size (1280×800) and
a desktop's (1920×1080), with a screenshot and the wall time of every step.

For each size it starts its own `streamlit run app.py` on a fresh temporary CLUES_HOME (the user's run
store is never touched) and one browser tab, then plays the session a class sees:

  the explorer opened fresh (the server's first view: imports, the pair, the attention), a generated
  biography and a new seed, one top-k move, the one-head view; the augmentation lab and one α move; the
  Corpus page; How it works, scrolled step by step; the Training page, then one small comparison from a
  prepared link (2 conditions, 8 people, 1 copy, 1 epoch) started, the page reloaded while it trains,
  until its curves are drawn; then Back, Back and Forward.

A step's time runs from the action (navigation, click, key press) until the element it waits for is
there. After each step it records history.length, the page, the smallest computed font size of the
visible text (bench/page_probes.py, the probe of tests/test_lecture_hall.py) and a screenshot
<size>-<nn>-<step>.png. It writes timings.json and timings.md (the table of docs/benchmarks.md) to --out.
It prints numbers and asserts no timing; a step that fails ends that size's rehearsal (written as such).

    python bench/rehearsal.py --out DIR [--sizes 1280x800 1920x1080] [--port 0] [--skip-training]
                              [--docs docs/screenshots]

--docs copies the first size's screenshots to the README's names (scripts/refresh_screenshots.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from app_server import free_port, stop_group, stop_runs, wait_healthy
from page_probes import smallest_font

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
IDLE = "!document.querySelector('[data-testid=\"stStatusWidget\"]')"
# The run is over and nothing on the page is left from the one before (Streamlit keeps a replaced element,
# marked stale, until the new run draws over it or ends).
FRESH = IDLE + " && !document.querySelector('[data-stale=\"true\"]')"
TITLES = {"": "Clue explorer", "corpus": "Corpus clues", "augmentation": "Augmentation lab", "training": "Training",
          "how_it_works": "How it works"}
# The page the URL names has drawn its own title (not the last page's, left on screen while it loads).
TITLED = (f"(() => {{ const t = {json.dumps(TITLES)}[location.pathname.replace(/^\\/|\\/$/g, '')];"
          " const h = document.querySelector('h1'); return t !== undefined && h && h.textContent.startsWith(t); })()")
SHADED = "(document.querySelector('.clues-text') || {}).innerText"
HEATMAPS = ("[...document.querySelectorAll('.js-plotly-plot .gtitle')]"
            ".filter(t => /^(Large|Small) model/.test(t.textContent)).length >= 2")
PAGE_S, TRAINING_S = 180, 900  # bounds on one wait: a page under load; a whole comparison
# The prepared link of the small comparison: the plain baseline against the contrast, 8 people, 1 copy, 1 epoch.
COMPARISON = "training?conditions=plain,contrast&epochs=1&train_n=8&train_copies=1"
# Steps also shot as a whole page (the viewport made TALL px high for the shot): a projector's view of a
# page shows its top only, and the README shows each page's figures.
TALL, TALL_STEPS = 1900, ("first-view", "alpha", "corpus", "how-it-works", "curves")
# The screenshots the README and docs show (docs/screenshots/<name>), from the first size's steps:
# step → [(name, "page" for its whole-page shot or "view" for what the projector shows)].
DOCS_NAMES = {"first-view": [("explorer.png", "page")], "alpha": [("augmentation.png", "page")],
              "corpus": [("corpus.png", "page")],
              "how-it-works": [("how_it_works.png", "page"), ("how-it-works-1280.png", "view")],
              "how-it-works-3": [("how-it-works-1280-contrast.png", "view")],
              "how-it-works-6": [("how-it-works-1280-result.png", "view")], "curves": [("training.png", "page")]}


def charts(at_least: int) -> str:
    return f"document.querySelectorAll('.js-plotly-plot').length >= {at_least}"


def on_page(path: str) -> str:
    where = f"location.pathname.replace(/\\/$/, '').endsWith('/{path}')" if path else "location.pathname === '/'"
    return f"{where} && {TITLED} && {FRESH}"


def all_of(*conditions: str, arg: str = "") -> str:
    """A JS predicate (of `arg`, if given) that holds when every condition does."""
    return f"{arg or '()'} => " + " && ".join(f"({c})" for c in conditions)


# -- the server -------------------------------------------------------------------------------------

@contextmanager
def server(home: Path, port: int):
    """`streamlit run app.py` with CLUES_HOME=home (its log in home/server.log); yields its URL. On the
    way out it stops the server and every training run it started (they run in sessions of their own)."""
    port = port or free_port()
    url = f"http://localhost:{port}"
    env = {**os.environ, "CLUES_HOME": str(home), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with open(home / "server.log", "wb") as log:  # the child keeps its own handle
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    try:
        wait_healthy(url, process, timeout_s=120)
        yield url
    finally:
        stop_group(process)
        stop_runs(home)


# -- one rehearsal at one size ----------------------------------------------------------------------

class Rehearsal:
    """One browser tab at one size: `step` times an action until its element is there and records it."""

    def __init__(self, tab, url: str, size: str, out: Path):
        self.tab, self.url, self.size, self.out = tab, url, size, out
        self.steps: list[dict] = []

    def step(self, name: str, what: str, act, ready: str, *, arg=None, timeout_s: float = PAGE_S,
             since: float | None = None) -> dict:
        """Run `act()`, wait until the JS predicate `ready` holds; seconds from the action (or from `since`)."""
        start = time.perf_counter()
        if act is not None:
            act()
        self.tab.wait_for_function(ready, arg=arg, timeout=timeout_s * 1000)
        seconds = time.perf_counter() - (since if since is not None else start)
        return self.record(name, what, seconds)

    def record(self, name: str, what: str, seconds: float) -> dict:
        settle(self.tab)
        shot = f"{self.size}-{len(self.steps) + 1:02d}-{name}.png"
        self.tab.wait_for_timeout(500)  # plotly finishes its transitions
        self.tab.screenshot(path=str(self.out / shot))
        font = smallest_font(self.tab)  # at the rehearsal's size, before any tall shot
        path = self.tab.evaluate("location.pathname").strip("/")
        entry = {"step": name, "what": what, "seconds": round(seconds, 2),
                 "history": self.tab.evaluate("history.length"), "page": path or "explorer",
                 "url": self.tab.evaluate("location.pathname + location.search"),
                 "smallest_font_px": font[0] if font else None, "smallest_font_text": font[1] if font else None,
                 "load_1min": round(os.getloadavg()[0], 2), "screenshot": shot}
        if name in TALL_STEPS:
            entry["page_screenshot"] = self.shoot_tall(shot.replace(".png", "-page.png"))
        self.steps.append(entry)
        print(f"  {self.size} {name:<18} {seconds:7.2f} s  history {entry['history']:>3}  "
              f"font ≥ {entry['smallest_font_px']} px  ({entry['page']})", flush=True)
        return entry

    def shoot_tall(self, shot: str) -> str:
        """The whole page (up to TALL px) at this width; the viewport is put back after."""
        size = self.tab.viewport_size
        self.tab.set_viewport_size({"width": size["width"], "height": max(TALL, size["height"])})
        self.tab.wait_for_timeout(1000)  # plotly redraws its figures at the new size
        self.tab.screenshot(path=str(self.out / shot))
        self.tab.set_viewport_size(size)
        self.tab.wait_for_timeout(500)
        return shot

    def link(self, title: str) -> None:
        """Click `title` in the sidebar's page list."""
        self.tab.locator('[data-testid="stSidebar"] a').filter(has_text=title).click()

    def key_on_slider(self, label: str, key: str) -> None:
        slider = self.tab.locator('[data-testid="stSlider"]').filter(has_text=label).get_by_role("slider")
        slider.focus()
        self.tab.keyboard.press(key)


def settle(tab, timeout_ms: int = PAGE_S * 1000) -> None:
    """Until the script run is over (no 'Running…' status widget), bounded."""
    tab.wait_for_timeout(300)
    tab.wait_for_function(f"() => {IDLE}", timeout=timeout_ms)
    tab.wait_for_timeout(300)


def explorer_steps(r: Rehearsal) -> None:
    tab, sidebar = r.tab, r.tab.locator('[data-testid="stSidebar"]')
    r.step("first-view", "open the app fresh: the explorer's heatmaps drawn", lambda: tab.goto(r.url + "/"),
           all_of(on_page(""), HEATMAPS))
    r.step("generated", "sidebar: a generated biography", lambda: sidebar.get_by_text(
        "Generated biography (seed)", exact=True).click(), all_of(
        "location.search.includes('src=generated')", f"{SHADED} !== before", HEATMAPS, FRESH, arg="before"),
        arg=tab.evaluate(SHADED))

    def new_seed():
        box = sidebar.get_by_label("Seed", exact=True)
        box.fill("7")
        box.press("Enter")
    r.step("seed", "sidebar: seed 1 → 7", new_seed, all_of(
        "/[?&]seed=7(&|$)/.test(location.search)", f"{SHADED} !== before", HEATMAPS, FRESH, arg="before"),
        arg=tab.evaluate(SHADED))
    badges = "document.querySelectorAll('sup.clue-rank').length"
    r.step("top-k", "top-k slider one step (10 → 11)", lambda: r.key_on_slider("Top-k clues to mark", "ArrowRight"),
           all_of("location.search.includes('top_k=11')", f"{badges} !== before", FRESH, arg="before"),
           arg=tab.evaluate(badges))

    menu = tab.get_by_role("combobox", name="Aggregation")
    menu.click()  # the menu is opened before the step: its time runs from the choice
    try:  # right after the slider's key press, a click only focused the menu: the arrow key opens it
        tab.get_by_role("listbox").wait_for(timeout=3000)
    except PlaywrightTimeout:
        menu.press("ArrowDown")
    r.step("one-head", "view: one head of one layer", tab.get_by_role("option", name="head", exact=True).click,
           all_of("[...document.querySelectorAll('.js-plotly-plot .gtitle')]"
                  ".some(t => /head \\d+ of layer/.test(t.textContent))", FRESH))


def page_steps(r: Rehearsal) -> None:
    tab = r.tab
    drops = "document.querySelectorAll('.drop-token').length > 0"
    r.step("augmentation", "sidebar link: the augmentation lab", lambda: r.link("Augmentation lab"),
           all_of(on_page("augmentation"), drops))
    r.step("alpha", "α slider one step (0.70 → 0.65)",
           lambda: r.key_on_slider("α (highest", "ArrowLeft"),
           all_of("location.search.includes('alpha=0.65')", drops,
                "Math.max(...[...document.querySelectorAll('.drop-token')].map(n => Number(n.dataset.p))) <= 0.65",
                  FRESH),
           )
    r.step("corpus", "sidebar link: Corpus clues", lambda: r.link("Corpus clues"), all_of(on_page("corpus"), charts(2)))
    r.step("how-it-works", "sidebar link: How it works", lambda: r.link("How it works"),
           all_of(on_page("how_it_works"), charts(4)))
    for number in range(1, 7):
        heading = tab.locator("h2").filter(has_text=re.compile(rf"^{number} · "))

        def scroll(heading=heading):
            # to the top of the view (a title already in view near its bottom would stay there)
            heading.first.evaluate("h => h.scrollIntoView({block: 'start'})")
            box = heading.first.bounding_box()
            tab.mouse.move(box["x"] + 10, box["y"] + box["height"] + 10)  # over the main column, not the sidebar
            tab.mouse.wheel(0, -60)  # the sticky header would cover the step's title
        r.step(f"how-it-works-{number}", f"How it works scrolled to step {number}", scroll,
               "n => { const h = [...document.querySelectorAll('h2')].find(e => e.textContent.startsWith(n + ' · '));"
               " const b = h && h.getBoundingClientRect(); return b && b.top >= 0 && b.bottom <= innerHeight; }",
               arg=number)
    r.step("training", "sidebar link: Training", lambda: r.link("Training"),
           all_of(on_page("training"), "[...document.querySelectorAll('button')].some(b => "
                                     "b.innerText.startsWith('Start '))"))


def training_steps(r: Rehearsal) -> None:
    tab = r.tab
    r.step("comparison-link", "the prepared link: 2 conditions, 8 people, 1 copy, 1 epoch",
           lambda: tab.goto(f"{r.url}/{COMPARISON}"),
           all_of(on_page("training"), "[...document.querySelectorAll('button')].some(b => "
                                     "b.innerText.includes('Start 2 runs') && !b.disabled)"))
    clicked = time.perf_counter()
    r.step("start-greyed", "Start clicked: the button greyed out", lambda: tab.get_by_role(
        "button", name="Start 2 runs").click(), "() => [...document.querySelectorAll('button')].some(b => "
        "b.innerText.includes('Start 2 runs') && b.disabled)", since=clicked)
    r.step("started", "'Started runs #…' shown (from the click)", None,
           "() => /Started runs #\\d+/.test(document.body.innerText)", since=clicked)
    # Reload at once: the small comparison trains in seconds, and the reload must come in its middle.
    r.step("reload", "reload while a run trains: the comparison's bar back", tab.reload,
           all_of("/\\d of 2 runs ended/.test(document.body.innerText)", IDLE))
    r.steps[-1]["note"] = bar_text(tab)
    r.step("curves", "both runs ended, the QA curves drawn (from the click)", None,
           all_of("document.body.innerText.includes('2 of 2 runs ended')",
                "[...document.querySelectorAll('.js-plotly-plot .gtitle')]"
                ".some(t => t.textContent.includes('QA exact match'))"),
           timeout_s=TRAINING_S, since=clicked)


def bar_text(tab) -> str:
    return " | ".join(tab.eval_on_selector_all('[data-testid="stProgress"]', "nodes => nodes.map(n => n.innerText)"))


def history_steps(r: Rehearsal) -> None:
    tab = r.tab
    for name, move in (("back", tab.go_back), ("back-2", tab.go_back), ("forward", tab.go_forward)):
        before = tab.url
        r.step(name, f"browser {'Forward' if name == 'forward' else 'Back'}", move,
               f"before => location.href !== before && {TITLED} && {FRESH}", arg=before)


def rehearse(browser, url: str, size: str, out: Path, skip_training: bool) -> tuple[list[dict], str | None]:
    """Every step at one size; (steps, the error that ended it early or None)."""
    width, height = (int(v) for v in size.split("x"))
    context = browser.new_context(viewport={"width": width, "height": height})
    tab = context.new_page()
    tab.set_default_timeout(30_000)  # a click or a key; the waits have their own bounds
    r = Rehearsal(tab, url, size, out)
    error = None
    try:
        explorer_steps(r)
        page_steps(r)
        if not skip_training:
            training_steps(r)
        history_steps(r)
    except Exception as failure:  # noqa: BLE001 — written to the report; the other sizes still run
        error = f"{type(failure).__name__}: " + " ".join(str(failure).split())[:600]
        print(f"  {size}: stopped: {error}", flush=True)
        try:
            tab.screenshot(path=str(out / f"{size}-failed.png"))
        except Exception:  # noqa: BLE001 — the tab itself may be gone
            pass
    finally:
        context.close()
    return r.steps, error


# -- the report ---------------------------------------------------------------------------------------

def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except OSError:
        return ""


def markdown(report: dict) -> str:
    sizes = list(report["sizes"])
    names = list(dict.fromkeys(s["step"] for size in sizes for s in report["sizes"][size]["steps"]))
    by = {(size, s["step"]): s for size in sizes for s in report["sizes"][size]["steps"]}
    lines = [f"Rehearsal on the demo pair, {report['date']}, commit {report['commit']}, {report['cpus']} CPUs; "
             + "; ".join(f"{size}: load average (1 min) {r['load_before']} before, {r['load_after']} after"
                         for size, r in report["sizes"].items()) + ".", "",
             "| # | step | what | " + " | ".join(f"{size} s | history" for size in sizes) + " |",
             "|---|---|---|" + "---:|---:|" * len(sizes)]
    for number, name in enumerate(names, start=1):
        cells = []
        for size in sizes:
            s = by.get((size, name))
            cells += [f"{s['seconds']:.1f}", str(s["history"])] if s else ["—", "—"]
        what = next(s["what"] for size in sizes for s in report["sizes"][size]["steps"] if s["step"] == name)
        lines.append(f"| {number} | {name} | {what} | " + " | ".join(cells) + " |")
    lines += ["", "Smallest font size of visible text (px), per page:", "",
              "| page | " + " | ".join(sizes) + " |", "|---|" + "---:|" * len(sizes)]
    pages = list(dict.fromkeys(s["page"] for size in sizes for s in report["sizes"][size]["steps"]))
    for page in pages:
        cells = []
        for size in sizes:
            found = [s["smallest_font_px"] for s in report["sizes"][size]["steps"]
                     if s["page"] == page and s["smallest_font_px"] is not None]
            cells.append(f"{min(found):g}" if found else "—")
        lines.append(f"| {page} | " + " | ".join(cells) + " |")
    for size, r in report["sizes"].items():
        if r["error"]:
            lines += ["", f"{size} stopped early: {r['error']}"]
        notes = [f"{s['step']}: {s['note']}" for s in r["steps"] if s.get("note")]
        if notes:
            lines += ["", f"{size}: " + "; ".join(notes)]
    return "\n".join(lines) + "\n"


def copy_docs(out: Path, steps: list[dict], docs: Path) -> None:
    """The first size's screenshots under the names the README and docs show."""
    docs.mkdir(parents=True, exist_ok=True)
    for entry in steps:
        for name, kind in DOCS_NAMES.get(entry["step"], []):
            shutil.copyfile(out / entry["page_screenshot" if kind == "page" else "screenshot"], docs / name)
            print(f"  {docs / name}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the screenshots and timings.json/.md")
    parser.add_argument("--sizes", nargs="+", default=["1280x800", "1920x1080"], help="viewports, WIDTHxHEIGHT")
    parser.add_argument("--port", type=int, default=0, help="the server's port (0: a free one); one size at a time")
    parser.add_argument("--skip-training", action="store_true", help="no comparison (the Training page still opens)")
    parser.add_argument("--docs", type=Path, help="copy the first size's screenshots here under the README's names")
    args = parser.parse_args(argv)
    if any(not re.fullmatch(r"\d+x\d+", size) for size in args.sizes):
        parser.error("--sizes are WIDTHxHEIGHT, e.g. 1280x800")
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "commit": commit(),
              "cpus": os.cpu_count(), "skip_training": args.skip_training, "sizes": {}}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            for size in args.sizes:
                # a fresh store and server for each size: its first view is a cold one
                home = Path(tempfile.mkdtemp(prefix="clues-rehearsal-"))
                load_before = round(os.getloadavg()[0], 2)
                with server(home, args.port) as url:
                    steps, error = rehearse(browser, url, size, args.out, args.skip_training)
                report["sizes"][size] = {"steps": steps, "error": error, "load_before": load_before,
                                         "load_after": round(os.getloadavg()[0], 2)}
                shutil.copyfile(home / "server.log", args.out / f"{size}-server.log")
                shutil.rmtree(home, ignore_errors=True)
        finally:
            browser.close()
    (args.out / "timings.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    table = markdown(report)
    (args.out / "timings.md").write_text(table)
    print("\n" + table)
    if args.docs:
        copy_docs(args.out, report["sizes"][args.sizes[0]]["steps"], args.docs)
    return 1 if any(r["error"] for r in report["sizes"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
