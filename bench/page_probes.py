"""What a page looks like to a student, measured in the browser (Playwright): the font sizes of the
visible text. Shared by bench/rehearsal.py and tests/test_lecture_hall.py, so the benchmark's table
and the test's threshold measure the same thing."""

from __future__ import annotations

# Every visible element that holds text directly: [computed font size in px, its first 30 characters]
# (HTML and plotly's SVG text alike). Visible: displayed, not hidden or transparent, at least 1 px.
FONT_SIZES = """() => {
  const out = [];
  const shown = (el) => {
    for (let p = el; p; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (s.display === 'none' || s.visibility === 'hidden' || parseFloat(s.opacity) === 0) return false;
    }
    const r = el.getBoundingClientRect();
    return r.width >= 1 && r.height >= 1;
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    const text = walker.currentNode.textContent.trim();
    if (!text || !el || seen.has(el) || ['SCRIPT', 'STYLE', 'NOSCRIPT'].includes(el.tagName)) continue;
    seen.add(el);
    if (shown(el)) out.push([parseFloat(getComputedStyle(el).fontSize), text.slice(0, 30)]);
  }
  return out;
}"""


def font_sizes(tab) -> list[tuple[float, str]]:
    """(px, text) of every visible text element of the page open in `tab`."""
    return [(size, text) for size, text in tab.evaluate(FONT_SIZES)]


def smallest_font(tab) -> tuple[float, str] | None:
    """The smallest (px, text) on the page, or None when it shows no text."""
    sizes = font_sizes(tab)
    return min(sizes) if sizes else None
