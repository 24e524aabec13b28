"""docs/tutorial.ipynb runs from top to bottom in a fresh kernel and its key cells show what they should: the
contrast as the app shows it, figures with plotly.js inside them, the clue-quality table, the runs' curves.
Exported to HTML and opened in Chromium, it asks no other host for anything; the contrast cell is saved as
docs/screenshots/notebook-contrast.png when $CLUES_SCREENSHOTS names that folder
(scripts/refresh_screenshots.sh).

The notebook is committed without outputs; it runs in a temp folder with CLUES_HOME there (its run store and
corpora), importing this checkout's clues (bench/bench_tutorial.py's `execute_tutorial`). Its time budget is a
speed goal: bench/bench_tutorial.py measures it, not this test.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench_tutorial import execute_tutorial  # noqa: E402 — bench/ is not a package

CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.slow

# Appended to the executed copy only: what the key cells left behind, as JSON on stdout.
CHECK = """
import json
print(json.dumps({
    "types": {name: type(value).__name__ for name, value in
              dict(pair=pair, found=found, quality=quality, corpus=corpus, runs=runs).items()},
    "top": [(clue.rank, clue.field) for clue in found.top(5)],
    "statuses": [run["status"] for run in runs.runs()],
    "conditions": list(runs.final()["run"]),
    "rows": len(corpus), "people": len(people),
    "quality_rankings": sorted(set(quality.frame["ranking"])),
}))
"""


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """(the executed notebook, the check cell's output last; its folder)."""
    folder = tmp_path_factory.mktemp("tutorial")
    notebook, seconds = execute_tutorial(folder, extra_cells=(CHECK,))
    nbformat.write(notebook, folder / "tutorial.ipynb")
    print(f"\ndocs/tutorial.ipynb ran in {seconds:.0f} s (its budget: python bench/bench_tutorial.py)")
    return notebook, folder


def outputs_of(notebook, tag: str) -> list[dict]:
    cells = [cell for cell in notebook.cells if tag in cell.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"no single cell tagged {tag!r}"
    return cells[0]["outputs"]


def shown(notebook, tag: str, mime: str = "text/html") -> str:
    """The `mime` part of the displayed result of the cell tagged `tag`."""
    results = [o for o in outputs_of(notebook, tag) if o["output_type"] in ("execute_result", "display_data")]
    assert results and mime in results[-1]["data"], f"cell {tag!r} shows no {mime}: {results}"
    return results[-1]["data"][mime]


def without_plotlyjs(markup: str) -> str:
    """The HTML with each inlined copy of plotly.js taken out (its source names map-tile hosts, which
    a figure without maps never asks for)."""
    from plotly.offline import get_plotlyjs  # noqa: PLC0415 — only this test reads the bundled library

    return markup.replace(get_plotlyjs(), "")


def figure_count(markup: str) -> int:
    return len(re.findall(r'<div id="[^"]+" class="plotly-graph-div"', markup))


def test_the_tutorial_runs_and_its_cells_show_their_objects(executed):
    notebook, _ = executed
    errors = [o for cell in notebook.cells if cell["cell_type"] == "code" for o in cell["outputs"]
              if o["output_type"] == "error"]
    assert not errors
    facts = json.loads("".join(o["text"] for o in notebook.cells[-1]["outputs"] if o["output_type"] == "stream"))
    assert facts["types"] == {"pair": "Pair", "found": "TextContrast", "quality": "ClueQuality",
                              "corpus": "DataFrame", "runs": "RunCurves"}
    assert [rank for rank, _ in facts["top"]] == [0, 1, 2, 3, 4]
    assert facts["statuses"] == ["finished"] * 3
    assert [name.split(" #")[0] for name in facts["conditions"]] == ["none", "position", "contrast"]
    assert facts["rows"] == facts["people"] * 4  # the original and 3 copies each
    assert {"total", "paper_mean", "far_mean", "position"} <= set(facts["quality_rankings"])

    assert shown(notebook, "pair", "text/plain").startswith("Pair(large=large")
    contrast = shown(notebook, "contrast")  # the explorer's view: shaded text, 5 boxed clues, the ranked table
    assert 'class="clues-text"' in contrast and contrast.count("outline:2px solid") == 5
    assert "<table" in contrast and "contrast" in contrast and figure_count(contrast) == 0
    assert figure_count(shown(notebook, "heatmaps")) == 2
    for tag in ("received", "position"):
        assert figure_count(shown(notebook, tag)) == 1
        assert shown(notebook, tag, "application/vnd.plotly.v1+json")["data"]
    quality = shown(notebook, "quality")
    assert figure_count(quality) == 1 and "position only (earliest first)" in quality
    assert "copy" in shown(notebook, "augment")
    compare = shown(notebook, "compare")
    assert without_plotlyjs(compare).count(">finished<") == 3 and figure_count(compare) == 2
    assert "contrast" in shown(notebook, "final") and "em" in shown(notebook, "evaluate")
    assert figure_count(shown(notebook, "read")) == 2


def test_every_output_is_self_contained(executed):
    notebook, _ = executed
    markup = "".join(o.get("data", {}).get("text/html", "") for cell in notebook.cells if cell["cell_type"] == "code"
                     for o in cell["outputs"])
    assert "plotly-graph-div" in markup
    rest = without_plotlyjs(markup)
    assert "plotly-graph-div" in rest
    assert not re.findall(r"<script[^>]*\ssrc=", rest), "an output loads a script"
    assert not re.findall(r"https?://", rest), "an output names another host"


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} to drive")
def test_the_exported_notebook_draws_offline_in_chromium(executed, tmp_path):
    playwright_api = pytest.importorskip("playwright.sync_api")
    nbconvert = pytest.importorskip("nbconvert")
    notebook, _ = executed
    notebook.cells.pop()  # the check cell
    # nbconvert's page (not the outputs) loads require.js and MathJax from a CDN: those tags go, so
    # any request left is one an output made
    page_html, _ = nbconvert.HTMLExporter(template_name="lab").from_notebook_node(notebook)
    page = tmp_path / "tutorial.html"
    page.write_text(re.sub(r'<script src="https://[^"]+">\s*</script>', "", page_html), encoding="utf-8")
    asked = []
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            view = browser.new_page(viewport={"width": 1200, "height": 900})
            view.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                       else (asked.append(route.request.url), route.abort()))
            view.goto(page.as_uri(), wait_until="load")
            # every figure drawn (plotly adds its svg when it has drawn one)
            view.wait_for_function("() => [...document.querySelectorAll('.plotly-graph-div')]"
                                   ".every(div => div.querySelector('.main-svg'))", timeout=60_000)
            drawn = view.locator(".plotly-graph-div:has(.main-svg)").count()
            cell = view.locator(".jp-Cell", has=view.locator(".clues-contrast")).first
            folder = Path(os.environ["CLUES_SCREENSHOTS"]) if os.environ.get("CLUES_SCREENSHOTS") else tmp_path
            folder = folder if folder.is_absolute() else ROOT / folder
            folder.mkdir(parents=True, exist_ok=True)
            cell.screenshot(path=str(folder / "notebook-contrast.png"))
        finally:
            browser.close()
    assert drawn == 9, f"{drawn} plotly figures drawn, not the tutorial's 9"
    assert not asked, f"the page asked other hosts: {asked[:5]}"
