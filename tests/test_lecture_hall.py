"""Readable from the back row (issue 19, items 4–8 and 10) in a real Chromium at 1280×800, a projector's
size: every text a student must read is at least 14 px (computed styles, plotly's SVG text included),
dropdown values and figure titles are not cut off, no table scrolls sideways, the sidebar's text picker
is above the fold, and the shaded text's rank badges do not cover letters.

`CLUES_SCREENSHOTS` (see tests/test_browser.py) also gets how-it-works-1280.png; the smallest font size
found on each page is printed (pytest -s) for the record.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from test_browser import CHROMIUM, open_page, server, shots  # noqa: F401 — fixtures shared with the browser test

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from page_probes import font_sizes  # noqa: E402 — the probe bench/rehearsal.py prints per page

pytestmark = [pytest.mark.browser]
playwright_api = pytest.importorskip("playwright.sync_api")

PROJECTOR = {"width": 1280, "height": 800}
SMALLEST = 14  # px
PAGES = [("explorer", "", 5), ("corpus", "corpus", 2), ("augmentation", "augmentation", 1),
         ("how_it_works", "how_it_works", 4)]

# Text cut off with an ellipsis or clipped: selectbox values and plotly titles wider than their box.
CUT = """() => {
  const cut = [];
  document.querySelectorAll('[data-baseweb="select"] [value], [data-baseweb="select"] div').forEach(el => {
    if (el.children.length === 0 && el.textContent.trim() && el.scrollWidth > el.clientWidth + 1)
      cut.push('dropdown: ' + el.textContent.trim());
  });
  document.querySelectorAll('.js-plotly-plot').forEach(plot => {
    const box = plot.getBoundingClientRect();
    plot.querySelectorAll('.gtitle, .annotation-text').forEach(t => {
      const r = t.getBoundingClientRect();
      if (r.left < box.left - 1 || r.right > box.right + 1) cut.push('figure title: ' + t.textContent);
    });
  });
  return cut;
}"""

# Tables (glide data grids) whose content is wider than the table: they scroll sideways.
SIDEWAYS = """() => Array.from(document.querySelectorAll('[data-testid="stDataFrame"] .dvn-scroller'))
  .filter(el => el.scrollWidth > el.clientWidth + 1).length"""

# Rank badges that overlap the letters of the token they rank (its last line, where a badge follows it).
OVERLAP = """() => Array.from(document.querySelectorAll('sup.clue-rank')).filter(sup => {
  const lines = sup.previousElementSibling.getClientRects(), badge = sup.getBoundingClientRect();
  const token = lines[lines.length - 1];
  return badge.left < token.right - 0.5 && badge.top < token.bottom && badge.bottom > token.top;
}).length"""


@pytest.fixture
def projector(browser):
    context = browser.new_context(viewport=PROJECTOR)
    tab = context.new_page()
    tab.set_default_timeout(90_000)
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.mark.parametrize("name, path, charts", PAGES)
def test_every_label_is_readable_at_1280_by_800(server, projector, shots, name, path, charts):  # noqa: F811
    url, _ = server
    open_page(projector, f"{url}/{path}", charts=charts)
    sizes = font_sizes(projector)
    smallest = min(size for size, _ in sizes)
    print(f"\n{name}: smallest font at 1280×800 = {smallest} px")
    assert smallest >= SMALLEST, sorted(sizes)[:10]
    assert projector.evaluate(CUT) == []
    assert projector.evaluate(SIDEWAYS) == 0, "a table scrolls sideways"
    assert projector.evaluate(OVERLAP) == 0, "a rank badge covers letters"
    picker = projector.get_by_text("Demo biography", exact=True)
    assert picker.bounding_box()["y"] + picker.bounding_box()["height"] <= PROJECTOR["height"], \
        "the text picker is below the fold"
    if name == "how_it_works":
        projector.wait_for_timeout(500)
        projector.screenshot(path=str(shots / "how-it-works-1280.png"))
        for step, suffix in (("3 · The contrast", "contrast"), ("6 · The result", "result")):
            projector.get_by_text(step).first.scroll_into_view_if_needed()
            projector.mouse.wheel(0, -60)  # the sticky header would cover the step's title
            projector.wait_for_timeout(800)
            projector.screenshot(path=str(shots / f"how-it-works-1280-{suffix}.png"))
