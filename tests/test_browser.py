"""The app in a real Chromium: every page draws its charts, moving α changes the preview, a
1-epoch training run shows its curve. Screenshots go to a temp folder, or to $CLUES_SCREENSHOTS (a path
relative to the repository root). The README's screenshots come from bench/rehearsal.py instead
(scripts/refresh_screenshots.sh).

Starts `streamlit run app.py` on a free port (CLUES_HOME in a temp folder, one torch thread) and
drives the system Chromium (/usr/bin/chromium; Playwright cannot download its own here). Every
wait is bounded; the server and any training process it started are stopped at the end.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from clues.runs import RunStore, pid_alive, slots

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from app_server import free_port, wait_healthy  # noqa: E402 — shared with bench/rehearsal.py
from app_server import stop_group as _stop_group  # noqa: E402
from app_server import stop_runs as _stop_runs  # noqa: E402

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


def start_streamlit(home: Path, pair, env: dict | None = None) -> tuple[str, subprocess.Popen]:
    """`streamlit run app.py` on a free port with CLUES_HOME=home (and `env` added), healthy; (url, process).

    The server runs in its own process group, its output in home/server-<port>.log.
    """
    port = free_port()
    url = f"http://localhost:{port}"
    env = {**os.environ, "CLUES_HOME": str(home), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "CLUES_DEMO_LARGE": pair[0], "CLUES_DEMO_SMALL": pair[1], **(env or {})}
    with open(home / f"server-{port}.log", "wb") as log:  # the child keeps its own handle
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    try:
        wait_healthy(url, process, timeout_s=90)
    except BaseException:
        _stop_group(process)
        raise
    return url, process


@pytest.fixture(scope="module")
def server(pair, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    url, process = start_streamlit(home, pair)
    try:
        yield url, home
    finally:
        _stop_group(process)
        _stop_runs(home)


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
    nav = page.locator('[data-testid="stSidebar"] [data-testid="stPageLink"]')
    assert "Augmentation lab" in " ".join(nav.all_inner_texts())
    assert "Clue explorer" in " ".join(nav.all_inner_texts())
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
    page.get_by_text("runs ended").wait_for(timeout=60_000)  # the comparison's bar
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot .gtitle')]"
        ".some(t => t.textContent.includes('QA exact match'))", timeout=240_000)
    page.wait_for_function(
        "() => document.body.innerText.includes('— finished')", timeout=240_000)
    settle(page)
    runs = RunStore(home / "runs.sqlite").list_runs()
    assert [r["status"] for r in runs] == ["finished"]
    assert {"loss", "em"} <= set(RunStore(home / "runs.sqlite").metrics(runs[0]["id"])["name"])
    shoot(page, shots, "training")


# -- issue 19: Back and Forward; a comparison survives a reload ------------------------------------

def go_to(tab, title: str, ready: str) -> None:
    """Click `title` in the sidebar's page list and wait until `ready` (a JS expression) holds."""
    tab.locator('[data-testid="stSidebar"] a').filter(has_text=title).click()
    tab.wait_for_function(f"() => {ready}", timeout=90_000)
    settle(tab)


def alpha_shown(tab) -> str:
    slider = tab.locator('[data-testid="stSlider"]').filter(has_text="α (highest")
    return slider.get_by_role("slider").get_attribute("aria-valuenow") or slider.inner_text()


def test_back_returns_to_the_previous_page_in_one_press(server, page):
    """A page visit is one history entry, an α move one more; Back undoes one step at a time.

    The sidebar's seed is not its default, so every page link carries it (st.navigation's own list
    dropped the query string, and the run that wrote it back pushed a second entry)."""
    url, _ = server
    has_drops = "document.querySelectorAll('.drop-token').length > 0"
    open_page(page, f"{url}/?src=generated&seed=3", charts=5)
    counts = {"explorer": page.evaluate("history.length")}
    go_to(page, "Augmentation lab", f"location.pathname.endsWith('/augmentation') && {has_drops}")
    counts["augmentation"] = page.evaluate("history.length")
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="α (highest").get_by_role("slider")
    slider.focus()
    page.keyboard.press("ArrowLeft")  # α 0.70 → 0.65
    page.wait_for_function("() => location.search.includes('alpha=0.65')", timeout=60_000)
    settle(page)
    counts["α move"] = page.evaluate("history.length")
    go_to(page, "Corpus clues", "location.pathname.endsWith('/corpus') && "
                                "document.querySelectorAll('.js-plotly-plot').length > 0")
    counts["corpus"] = page.evaluate("history.length")
    print("history.length after each step:", counts)
    assert "seed=3" in page.url and "src=generated" in page.url
    steps = list(counts.values())
    assert [b - a for a, b in zip(steps, steps[1:])] == [1, 1, 1], counts

    page.go_back()  # one press: the augmentation lab as it was left
    page.wait_for_function(f"() => location.pathname.endsWith('/augmentation') && {has_drops}", timeout=60_000)
    settle(page)
    assert "alpha=0.65" in page.url and "seed=3" in page.url
    assert "0.65" in alpha_shown(page)
    page.go_back()  # the α move undone
    page.wait_for_function("() => !location.search.includes('alpha=')", timeout=60_000)
    settle(page)
    assert "0.7" in alpha_shown(page) and page.url.rstrip("?").endswith("augmentation?seed=3&src=generated")
    page.go_back()  # the explorer
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 5", timeout=60_000)
    settle(page)
    assert urllib.parse.urlsplit(page.url).path == "/"
    assert page.evaluate("history.length") == counts["corpus"]  # Back pushed nothing


PROJECTOR = {"width": 1280, "height": 800}


def test_every_chosen_condition_shows_at_1280_by_800(server, browser):
    """Issue 19: in a third of the width, 3 of the 5 default conditions showed, contrast and
    position hidden."""
    url, _ = server
    context = browser.new_context(viewport=PROJECTOR)
    try:
        tab = context.new_page()
        tab.set_default_timeout(60_000)
        open_page(tab, f"{url}/training", charts=0)
        box = tab.locator('[data-testid="stMultiSelect"]').filter(has_text="Conditions to compare")
        chips = box.evaluate("""n => { const b = n.getBoundingClientRect();
            return [...n.querySelectorAll('[data-tag]')].map(t => {
                const r = t.getBoundingClientRect(), s = getComputedStyle(t);
                const shown = r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'
                    && r.left >= b.left - 1 && r.right <= b.right + 1 && r.top >= b.top - 1 && r.bottom <= b.bottom + 1;
                return [t.innerText.trim(), shown]; }); }""")
        assert [shown for _, shown in chips] == [True] * 5, chips
        assert {text for text, _ in chips} >= {"contrast", "position (control)"}, chips
    finally:
        context.close()


def comparison_text(tab) -> str:
    return " | ".join(tab.eval_on_selector_all('[data-testid="stProgress"]', "nodes => nodes.map(n => n.innerText)"))


def test_a_reload_during_training_keeps_the_comparison_whole(servers, page):
    """Issue 19: reloaded during a comparison, each run vanished as it finished and the end showed
    no curves. Reloaded after the first of two runs ended, the page shows both, one bar for the
    whole, the curves; at the end all of it, until Dismiss."""
    home, start = servers
    url, _ = start()
    # plain trains on the originals once, an eighth of contrast's steps (7 copies): it ends well before
    # contrast even where the cores let both train at once (runs.slots)
    # one setting for all (train_chosen=0): the experiment's choice would stop both runs early
    open_page(page, f"{url}/training?conditions=plain,contrast&epochs=40&train_n=4&train_copies=7&batch=2"
              "&train_chosen=0", charts=0, timeout_ms=180_000)
    button = page.get_by_role("button", name="Start 2 runs")
    # The clock starts at the click, not while a fresh server's first run still imports torch and
    # draws the button (open_page with charts=0 returns before that).
    page.wait_for_function("() => [...document.querySelectorAll('button')].some(b => "
                           "b.innerText.includes('Start 2 runs') && !b.disabled)", timeout=180_000)
    clicked = time.monotonic()
    button.click()
    page.wait_for_function("() => [...document.querySelectorAll('button')].some(b => "
                           "b.innerText.includes('Start 2 runs') && b.disabled)", timeout=10_000)
    print(f"Start disabled {time.monotonic() - clicked:.1f} s after the click")  # the click's own run
    first = started_run(page, home)
    print(f"'Started runs' {time.monotonic() - clicked:.1f} s after the click")
    second = first + 1
    store = RunStore(home / "runs.sqlite")
    wait_until(lambda: store.get_run(first)["status"] == "finished", 300, "the first run to finish")
    assert store.get_run(second)["status"] in ("queued", "running")
    page.reload()
    settle(page, 120_000)
    wait_for_text(page, f"#{first} plain — finished", 60_000)
    wait_for_text(page, f"#{second} contrast — ", 60_000)
    whole = comparison_text(page)
    print("after the reload:", whole)
    assert "1 of 2 runs ended" in whole, whole
    wait_for_chart(page, "QA exact match")
    assert store.get_run(second)["status"] in ("queued", "running")  # the reload came mid-comparison
    wait_until(lambda: store.get_run(second)["status"] == "finished", 420, "the second run to finish")
    wait_for_text(page, "2 of 2 runs ended", 60_000)
    wait_for_text(page, f"#{second} contrast — finished", 60_000)
    settle(page)
    print("at the end:", comparison_text(page))
    wait_for_chart(page, "QA exact match")
    assert page.get_by_role("button", name="Start 2 runs").is_enabled()
    page.get_by_role("button", name="Dismiss").click()
    wait_for_text(page, "No comparison yet", 60_000)


# -- the run path: Stop, two sessions at once, a server restart during a run ----------------------
# Each test has its own CLUES_HOME (a temp folder) and server(s); every run is the small model of
# the pair on 4 people, no copies beyond one, batch 2: an epoch is a few steps and one QA pass.

@pytest.fixture
def servers(pair, tmp_path):
    """(home, start): `start(env=None)` starts a server on this test's fresh CLUES_HOME, with `env`
    added to its environment; (url, process). Every server and every training run left going is
    stopped at the end.
    """
    started = []

    def start(env: dict | None = None) -> tuple[str, subprocess.Popen]:
        url, process = start_streamlit(tmp_path, pair, env)
        started.append(process)
        return url, process

    try:
        yield tmp_path, start
    finally:
        for process in started:
            _stop_group(process)
        _stop_runs(tmp_path)


def training_url(url: str, epochs: int) -> str:
    # train_chosen=0: the epochs asked for (the experiment's choice for none stops after its first epoch)
    return f"{url}/training?conditions=none&epochs={epochs}&train_n=4&train_copies=1&batch=2&train_chosen=0"


def click_start(tab) -> None:
    tab.get_by_role("button", name="Start 1 run").click()


def started_run(tab, home: Path) -> int:
    """The id of the run this tab started, from its 'Started runs #N' message; if it never comes,
    fail with what the page says instead and the end of the server's log."""
    message = tab.get_by_text(re.compile(r"Started runs #\d+"))
    try:
        message.wait_for(timeout=120_000)
    except playwright_api.TimeoutError:
        alerts = tab.eval_on_selector_all('[data-testid="stAlert"], [data-testid="stException"]',
                                          "nodes => nodes.map(n => n.innerText)")
        logs = "".join(p.read_text(errors="replace")[-3000:] for p in sorted(home.glob("server-*.log")))
        raise AssertionError(f"no 'Started runs' message in 120 s; the page says {alerts}; "
                             f"server log ends:\n{logs}") from None
    return int(re.search(r"#(\d+)", message.inner_text()).group(1))


def wait_for_text(tab, text: str, timeout_ms: int = 120_000) -> None:
    try:
        tab.wait_for_function("text => document.body.innerText.includes(text)", arg=text, timeout=timeout_ms)
    except playwright_api.TimeoutError:
        shown = tab.inner_text("body")
        raise AssertionError(f"{text!r} not shown in {timeout_ms / 1000:.0f} s; the page shows:\n{shown[-3000:]}") \
            from None


def wait_until(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def evaluated_epochs(store, run_id: int) -> set[float]:
    frame = store.metrics(run_id)
    return set(frame[frame["field"] == "mean"]["epoch"])


def chart_titles(tab) -> list[str]:
    return tab.eval_on_selector_all(".js-plotly-plot .gtitle", "nodes => nodes.map(n => n.textContent)")


def wait_for_chart(tab, title: str, timeout_ms: int = 60_000) -> None:
    """Until a chart titled `title` is drawn: the page reruns on its own (the run list refreshes, and
    once more when no run is active any more), so a chart can be mid-redraw at any one instant."""
    tab.wait_for_function("title => [...document.querySelectorAll('.js-plotly-plot .gtitle')]"
                          ".some(t => t.textContent.includes(title))", arg=title, timeout=timeout_ms)


def test_stop_button_stops_a_live_run(servers, page):
    home, start = servers
    url, _ = start()
    open_page(page, training_url(url, 100), charts=0, timeout_ms=180_000)
    click_start(page)
    run_id = started_run(page, home)
    store = RunStore(home / "runs.sqlite")
    wait_until(lambda: {0.0, 1.0} <= evaluated_epochs(store, run_id), 240, "epoch 1 to be evaluated")
    wait_for_text(page, f"#{run_id} none — running")
    # the Stop button of this run (its key is stop-<id>); .first: a refresh may briefly hold two
    page.locator(f".st-key-stop-{run_id}").get_by_role("button", name="Stop").first.click()
    wait_for_text(page, f"#{run_id} none — stopped")
    settle(page)
    run = store.get_run(run_id)
    assert run["status"] == "stopped" and run["stop_requested"] and run["finished_at"]
    kept = evaluated_epochs(store, run_id)
    assert {0.0, 1.0} <= kept and max(kept) < 100  # stopped early, its evaluated epochs kept
    assert (store.metrics(run_id)["name"] == "loss").any()
    wait_for_chart(page, "QA exact match")  # its curve stays on the page
    assert store.integrity_check()


def test_two_sessions_start_runs_at_the_same_time(servers, browser):
    home, start = servers
    url, _ = start()
    contexts = [browser.new_context(viewport=VIEWPORT) for _ in range(2)]
    try:
        tabs = [context.new_page() for context in contexts]
        for seed, tab in enumerate(tabs):  # two comparisons (the same one twice would be shared)
            tab.set_default_timeout(60_000)
            open_page(tab, training_url(url, 10) + f"&train_seed={seed}", charts=0, timeout_ms=180_000)
        for tab in tabs:  # both clicks within a fraction of a second: two script runs at once
            click_start(tab)
        ids = [started_run(tab, home) for tab in tabs]
        assert len(set(ids)) == 2
        # On a CPU with room for both (runs.slots: cores over one thread each) both train at once,
        # else one trains while the other waits its turn; each session sees both runs.
        at_once = slots("cpu", 1)
        tabs[0].wait_for_function(
            "both => { const t = document.body.innerText;"
            " return both ? t.split('— running').length > 2 : t.includes('— running') && t.includes('— queued'); }",
            arg=at_once >= 2, timeout=240_000)
        for tab, run_id in zip(tabs, ids):
            wait_for_text(tab, f"#{run_id} none — finished", 300_000)
        store = RunStore(home / "runs.sqlite")
        runs = sorted((store.get_run(i) for i in ids), key=lambda r: r["started_at"])
        assert [r["status"] for r in runs] == ["finished", "finished"]
        if at_once >= 2:
            assert runs[1]["started_at"] < runs[0]["finished_at"]  # side by side: no core idled
        else:
            assert runs[1]["started_at"] >= runs[0]["finished_at"]  # the second waited for the first
        assert {r["device"] for r in runs} == {"cpu"}
        for run in runs:
            assert evaluated_epochs(store, run["id"]) == {float(e) for e in range(11)}
        assert store.integrity_check()
    finally:
        for context in contexts:
            context.close()


RESTART_EPOCHS = 70  # long enough to outlast a server restart (about 30 s of training on an idle CPU)


def test_a_run_goes_on_while_the_server_restarts(servers, page):
    home, start = servers
    url, process = start()
    open_page(page, training_url(url, RESTART_EPOCHS), charts=0, timeout_ms=180_000)
    click_start(page)
    run_id = started_run(page, home)
    store = RunStore(home / "runs.sqlite")
    wait_until(lambda: {0.0, 1.0} <= evaluated_epochs(store, run_id), 240, "epoch 1 to be evaluated")
    wait_for_text(page, f"#{run_id} none — running")

    os.killpg(process.pid, signal.SIGKILL)  # the server dies; the run is a process of its own
    process.wait(timeout=30)
    run = store.get_run(run_id)
    assert run["status"] == "running" and pid_alive(run["pid"])
    before = len(evaluated_epochs(store, run_id))

    url, _ = start()
    open_page(page, f"{url}/training", charts=1, timeout_ms=180_000)  # a new session: the live view
    wait_for_text(page, f"#{run_id} none — running")  # shows every active run, with its curve
    wait_for_chart(page, "QA exact match")
    wait_until(lambda: len(evaluated_epochs(store, run_id)) > before, 120, "epochs after the restart")
    wait_until(lambda: store.get_run(run_id)["status"] != "running", 420, "the run to finish")
    run = store.get_run(run_id)
    assert run["status"] == "finished"
    assert evaluated_epochs(store, run_id) == {float(e) for e in range(RESTART_EPOCHS + 1)}
    page.reload()
    settle(page, 120_000)
    page.get_by_role("tab", name="Runs").click()
    wait_for_text(page, f"#{run_id} none (finished)")
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot .gtitle')]"
                           ".some(t => t.textContent.includes('em per field'))", timeout=60_000)
    assert store.integrity_check()


# -- issue 11: nothing from another host, settings shown as applied, the Runs tab refreshes -------

def test_no_page_asks_another_host_for_anything(server, page):
    """Every request of every page (scripts, fonts, icons, images) goes to the app's own host."""
    url, _ = server
    hosts = set()
    page.on("request", lambda request: hosts.add(urllib.parse.urlsplit(request.url).hostname))
    for path, charts in (("", 5), ("corpus", 1), ("augmentation", 2), ("training", 0), ("how_it_works", 2)):
        open_page(page, f"{url}/{path}", charts=charts)
    # How it works draws the reported experiment live (plotly, from docs/results*.json): no image to fetch.
    assert page.locator('[data-testid="stImage"] img').count() == 0
    icon = page.eval_on_selector("link[rel*='icon']", "node => node.href")
    assert urllib.parse.urlsplit(icon).hostname == "localhost"
    assert hosts == {"localhost"}, hosts


def test_the_view_shown_is_the_view_applied_after_an_early_stop(server, page):
    """Open a head view by its link, empty the free text (the page stops), type a text again."""
    url, _ = server
    open_page(page, f"{url}/?view=head&layer=3&head=5&src=free", charts=5)
    box = page.locator('[data-testid="stSidebar"] textarea')
    box.fill("")
    box.press("Control+Enter")
    wait_for_text(page, "Choose a text in the sidebar.", 60_000)
    settle(page)
    box.fill("Ana <name>Herrera</name> was born in <city>Lisbon</city> and works at <company>Acme</company>.")
    box.press("Control+Enter")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 5", timeout=90_000)
    settle(page)
    assert any("head 5 of layer 3" in title for title in chart_titles(page))
    view = page.locator('[data-testid="stSelectbox"]').filter(has_text="Aggregation")
    # the chosen option is drawn as text or as the value of the widget's input, depending on the version
    shown = view.evaluate("n => n.textContent + ' | ' + [...n.querySelectorAll('input')].map(i => i.value).join(' | ')")
    # the menu shows the view's name (it fits at 1280 px); its description is the caption under it
    assert "head" in shown and "mean" not in shown, shown
    assert page.get_by_text("one head of one layer", exact=True).count() >= 1
    for label, value in (("Layer (large model)", "3"), ("Head (large model)", "5")):
        slider = page.locator('[data-testid="stSlider"]').filter(has_text=label)
        # the thumb's value: its aria-valuenow, the range input's value, or the number drawn on it
        now = slider.evaluate("n => { const s = n.querySelector('[role=slider], input[type=range]');"
                              " const t = n.querySelector('[data-testid=stSliderThumbValue]');"
                              " return [s && s.getAttribute('aria-valuenow'), s && s.value, t && t.textContent]; }")
        assert value in [str(v).strip() for v in now if v is not None], (label, now)


def test_the_runs_tab_shows_runs_started_elsewhere_as_they_change(servers, page):
    home, start = servers
    url, _ = start()
    open_page(page, f"{url}/training", charts=0)
    page.get_by_role("tab", name="Runs").click()
    wait_for_text(page, "No runs yet", 30_000)
    store = RunStore(home / "runs.sqlite")  # another browser (or the CLI) starts a run
    run_id = store.create_run("contrast · elsewhere", {"model": "m", "epochs": 1}, "queued")
    assert store.try_claim(run_id, os.getpid(), "cpu")
    wait_for_text(page, f"#{run_id} contrast (running)", 90_000)  # no reload (a loaded CI machine can take a while)
    store.finish(run_id, "finished")
    wait_for_text(page, f"#{run_id} contrast (finished)", 90_000)


def test_a_link_that_spells_out_a_default_is_one_history_entry(server, page):
    """A shared link may name a setting at its default (top_k=10): loading it pushes nothing more, so
    one Back press leaves the page (the run used to rewrite the URL without it, pushing a second entry)."""
    url, _ = server
    open_page(page, f"{url}/?src=generated&seed=3", charts=5)
    plain = page.evaluate("history.length")
    page.goto(f"{url}/?src=generated&seed=4&top_k=10")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 5", timeout=120_000)
    settle(page)
    assert page.evaluate("history.length") == plain + 1, page.url
    assert "top_k=10" in page.url
