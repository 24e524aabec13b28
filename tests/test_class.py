"""A class at once (issue 17) in a real Chromium: the first view of a fresh server, the class mode's rules
driven from two sessions, and eight students at once sharing one comparison's runs.

Servers and browsers come from tests/test_browser.py (its fixtures and helpers); each test has its own
CLUES_HOME and server.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from test_browser import (  # noqa: F401 — fixtures shared with the browser test
    CHROMIUM,
    VIEWPORT,
    browser,
    open_page,
    servers,
    settle,
    started_run,
    wait_for_text,
    wait_until,
)

from clues.corpus import generate_biographies, write_tagged_csv
from clues.runs import RunStore

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")]
playwright_api = pytest.importorskip("playwright.sync_api")

# Records, from the document's first node on, whether Streamlit's automatic page list (stSidebarNav)
# ever appeared, and when the app's own page links and the first chart did.
WATCH_SIDEBAR = """
window.__seen = {automatic: [], links: null, chart: null, start: performance.now()};
new MutationObserver(() => {
  const nav = document.querySelector('[data-testid="stSidebarNav"]');
  if (nav && window.__seen.automatic.length < 3) window.__seen.automatic.push(nav.innerText);
  const links = document.querySelectorAll('[data-testid="stSidebar"] [data-testid="stPageLink"]');
  if (window.__seen.links === null && links.length >= 5)
    window.__seen.links = performance.now() - window.__seen.start;
  if (window.__seen.chart === null && document.querySelector('.js-plotly-plot'))
    window.__seen.chart = performance.now() - window.__seen.start;
}).observe(document, {childList: true, subtree: true});
"""


@pytest.fixture
def class_server(servers):  # noqa: F811 — the fixture imported from test_browser
    """start(env) → url: a healthy server (nothing has opened it yet) on this test's CLUES_HOME; every
    server and run is stopped at the end (test_browser's `servers`)."""
    home, start = servers
    yield home, lambda env=None: start(env)[0]


def test_a_fresh_servers_first_view_shows_only_the_apps_navigation(class_server, browser):  # noqa: F811
    """Issue 17, item 5: Streamlit's automatic list of pages/ ('app / augmentation / corpus …') showed for
    the first seconds of a fresh server; now only the app's own page list ever shows, from before the
    models have loaded, and the page says the pair is loading."""
    home, start = class_server
    url = start()
    context = browser.new_context(viewport=VIEWPORT)
    try:
        tab = context.new_page()
        tab.add_init_script(WATCH_SIDEBAR)
        tab.goto(url, timeout=90_000)
        tab.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 5", timeout=120_000)
        settle(tab)
        seen = tab.evaluate("window.__seen")
        print("first view:", seen)
        assert seen["automatic"] == [], seen  # never, not even at the first paint
        assert seen["links"] is not None and seen["links"] <= seen["chart"], seen  # the app's list came first
        titles = tab.locator('[data-testid="stSidebar"] [data-testid="stPageLink"]').all_inner_texts()
        assert [t.split("\n")[-1].strip() for t in titles] == [
            "Clue explorer", "Corpus clues", "Augmentation lab", "Training", "How it works"], titles
        assert tab.locator('[data-testid="stException"]').count() == 0
        # straight to a page's URL on another fresh session: the same list, nothing automatic
        other = context.new_page()
        other.add_init_script(WATCH_SIDEBAR)
        open_page(other, f"{url}/corpus", charts=1, timeout_ms=120_000)
        assert other.evaluate("window.__seen.automatic") == []
    finally:
        context.close()


def _alerts(tab) -> str:
    return " | ".join(tab.eval_on_selector_all('[data-testid="stAlert"]', "nodes => nodes.map(n => n.innerText)"))


def set_seed(tab, value: str) -> None:
    """Type the training seed and wait until the page has applied it (in the link); typed while the live
    view redraws, a value can be lost, so try again."""
    for _ in range(4):
        box = tab.get_by_role("spinbutton", name="Seed", exact=True)
        box.fill(value)
        box.press("Enter")
        try:
            tab.wait_for_function("v => location.search.includes('train_seed=' + v)", arg=value, timeout=20_000)
            break
        except playwright_api.TimeoutError:
            continue
    settle(tab, 120_000)
    assert f"train_seed={value}" in tab.url


def _csv(people: int) -> bytes:
    buffer = io.StringIO()
    write_tagged_csv(buffer, generate_biographies(people, seed=11))
    return buffer.getvalue().encode()


def test_class_mode_keeps_each_student_to_their_seat(class_server, browser):  # noqa: F811
    """Issue 17, item 6, each rule driven from two sessions (a third only looks on), each refusal one line."""
    home, start = class_server
    url = start({"CLUES_CLASS": "1", "CLUES_CLASS_MAX_RUNS": "1", "CLUES_CLASS_MAX_UPLOAD_MB": "0.002"})
    contexts = [browser.new_context(viewport=VIEWPORT) for _ in range(3)]
    try:
        a, b, c = (context.new_page() for context in contexts)
        for tab in (a, b, c):
            tab.set_default_timeout(60_000)

        # 1. models: only the teacher's pairs, whatever a link asks for
        open_page(b, f"{url}/?pair=custom&large=/etc&small=/etc", charts=5, timeout_ms=180_000)
        assert "only the model pairs the teacher configured can be loaded here" in _alerts(b)
        assert b.get_by_label("Large model").count() == 0  # no box to type a model in
        open_page(a, f"{url}/training?train_model=other&train_other=/etc", charts=0, timeout_ms=180_000)
        wait_for_text(a, "Start 5 runs")  # the page has run to its end
        wait_for_text(a, "only the model pairs the teacher configured")
        assert a.get_by_text("another model", exact=True).count() == 0

        # 2. stopping: a's run, shared by b; c follows nothing. The run outlasts the test (12 people, 100 epochs).
        long_run = f"{url}/training?conditions=none&epochs=100&train_n=12&train_copies=1&batch=2&train_chosen=0"
        open_page(a, long_run, charts=0, timeout_ms=180_000)
        a.get_by_role("button", name="Start 1 run").click()
        run_id = started_run(a, home)
        store = RunStore(home / "runs.sqlite")
        open_page(b, long_run, charts=0, timeout_ms=180_000)
        b.get_by_role("button", name="Start 1 run").click()
        wait_for_text(b, f"Shared runs #{run_id}: identical runs")
        wait_for_text(b, "shared by 2 comparisons")
        assert len(store.list_runs()) == 1
        open_page(c, f"{url}/training", charts=0, timeout_ms=180_000)
        wait_for_text(c, f"#{run_id} none — ")
        c.locator(f".st-key-stop-{run_id}").get_by_role("button", name="Stop").first.click()
        wait_for_text(c, f"You can stop only runs you started: run #{run_id} belongs to another session.")
        b.locator(f".st-key-stop-{run_id}").get_by_role("button", name="Stop").first.click()
        wait_for_text(b, f"Run #{run_id} is shared: 1 other session follows it, so it goes on")
        assert not store.get_run(run_id)["stop_requested"]

        # 3. the cap (1 run of one's own at a time): a may not start another; b, whose only run is shared, may.
        # (Another seed in the same session: a reload would be a new session, with no runs of its own.)
        for tab in (a, b):
            set_seed(tab, "5")
        a.get_by_role("button", name="Start 1 run").click()
        wait_for_text(a, "Class mode: a session may have 1 run of its own queued or running; you have 1")
        b.get_by_role("button", name="Start 1 run").click()
        wait_until(lambda: len(store.list_runs()) == 2, 120, "b's own run")
        own = store.list_runs()[-1]["id"]
        wait_for_text(b, f"#{own} none — ")
        b.locator(f".st-key-stop-{own}").get_by_role("button", name="Stop").first.click()
        wait_until(lambda: store.get_run(own)["stop_requested"], 30, "b's own run to be asked to stop")

        # a stops its run: b has left it, so no one else follows it and it stops
        a.locator(f".st-key-stop-{run_id}").get_by_role("button", name="Stop").first.click()
        wait_until(lambda: store.get_run(run_id)["status"] == "stopped", 120, "the shared run to stop")

        # 4. uploads: over the cap refused, under it read
        for tab, people, expected in ((a, 40, "Class mode: uploads are capped at 0.002 MB"), (b, 2, None)):
            tab.goto(f"{url}/?src=csv")
            settle(tab, 120_000)
            tab.locator('[data-testid="stSidebar"] input[type=file]').set_input_files(
                {"name": "people.csv", "mimeType": "text/csv", "buffer": _csv(people)})
            if expected:
                wait_for_text(tab, expected)
            else:
                tab.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 5", timeout=90_000)
                assert "uploads are capped" not in _alerts(tab)
        for tab in (a, b, c):
            assert tab.locator('[data-testid="stException"]').count() == 0
        assert store.integrity_check()
    finally:
        for context in contexts:
            context.close()


CLASS_SIZE = 8
# The Training page's default comparison (its five conditions, the default method and settings), made
# small enough to finish in minutes on a 2-core CPU: 4 people, one copy, one epoch.
CLASS_COMPARISON = "training?train_n=4&train_copies=1&epochs=1"


@pytest.mark.slow
def test_a_class_of_eight_at_once(class_server, browser):  # noqa: F811
    """Issue 17, item 4: eight sessions open the explorer at once on eight texts, then start the same
    comparison at once: no traceback, every session shows its clues, the store holds one comparison's
    runs, every run finishes, the store is whole."""
    home, start = class_server
    url = start({"CLUES_CLASS": "1"})
    small = {"width": 1280, "height": 900}
    contexts = [browser.new_context(viewport=small) for _ in range(CLASS_SIZE)]
    try:
        tabs = [context.new_page() for context in contexts]
        began = time.monotonic()
        for seed, tab in enumerate(tabs):  # all requests out before any answer is awaited
            tab.goto(f"{url}/?src=generated&seed={seed + 1}", wait_until="commit", timeout=120_000)
        for tab in tabs:
            tab.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 5"
                                  " && document.querySelectorAll('.clues-text .clue-token').length > 10",
                                  timeout=300_000)
        print(f"{CLASS_SIZE} sessions showed their clues within {time.monotonic() - began:.1f} s")
        texts = {tab.locator(".clues-text").first.inner_text()[:80] for tab in tabs}
        assert len(texts) == CLASS_SIZE  # each on its own text

        for tab in tabs:
            tab.goto(f"{url}/{CLASS_COMPARISON}", wait_until="commit", timeout=120_000)
        for tab in tabs:
            tab.get_by_role("button", name="Start 5 runs").wait_for(timeout=300_000)
            settle(tab, 300_000)
        clicked = time.monotonic()
        for tab in tabs:
            tab.get_by_role("button", name="Start 5 runs").click()
        for tab in tabs:
            tab.wait_for_function("() => /(Started|Shared) runs #\\d+/.test(document.body.innerText)", timeout=300_000)
        print(f"{CLASS_SIZE} comparisons started within {time.monotonic() - clicked:.1f} s")
        store = RunStore(home / "runs.sqlite")
        runs = store.list_runs()
        assert len(runs) == 5, [r["name"] for r in runs]  # one comparison's runs, shared by all eight
        assert len({f["comparison"] for f in store.follows()}) == CLASS_SIZE
        wait_until(lambda: all(r["status"] == "finished" for r in store.list_runs()), 900, "every run to finish")
        finished = time.monotonic()
        print(f"all 5 runs finished {finished - clicked:.0f} s after the clicks")
        for tab in tabs:
            wait_for_text(tab, "5 of 5 runs ended", 120_000)
            assert tab.locator('[data-testid="stException"]').count() == 0
        assert store.integrity_check()
    finally:
        for context in contexts:
            context.close()
