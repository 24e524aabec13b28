"""HTML for the text views: tokens shaded by contrast or drop probability, copies with dropped
tokens struck through. Pure functions (no streamlit); every piece of text is escaped."""

from __future__ import annotations

import html
import re
from typing import Sequence

import numpy as np

from clues.figures import DROP_COLOR, FIELD_COLORS, FONT_SIZE

_BOX = ("font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 1.05rem; "
        "line-height: 2.6; white-space: pre-wrap; word-break: break-word; padding: 0.6rem 0.8rem; "
        "border: 1px solid rgba(128,128,128,0.3); border-radius: 0.4rem;")
# Rank badges and legends: never below FONT_SIZE px (readable at 1280×800 from the back row).
_BADGE = (f"font-size:{FONT_SIZE}px;line-height:1;vertical-align:super;color:#111;background:#ffffffcc;"
          "margin-left:2px;padding:0 2px;border-radius:0.2em;font-family:sans-serif")
_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def is_right_to_left(text: str) -> bool:
    """True when the text is mostly in a right-to-left script (Arabic, Hebrew, …): its letters join
    across token boundaries, so the views shade it without bold, boxes or badges inside words."""
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and sum(bool(_RTL.match(ch)) for ch in letters) > len(letters) / 2


def _box(body: str, css_class: str, text: str) -> str:
    direction = ' dir="rtl"' if is_right_to_left(text) else ""
    return f'<div class="{css_class}"{direction} style="{_BOX}">{body}</div>'


def _diverging(value: float, scale: float) -> str:
    """rgba background: red for positive, blue for negative, stronger the larger |value|."""
    if scale <= 0 or not np.isfinite(value):
        return "transparent"
    strength = min(1.0, abs(value) / scale) * 0.75
    return f"rgba(214,39,40,{strength:.3f})" if value > 0 else f"rgba(31,119,180,{strength:.3f})"


def _pieces(text: str, spans: Sequence[tuple[int, int]]):
    """Yield (gap text, unit index, unit text) in text order, with the tail as a last gap.

    Overlapping or unordered spans are clipped so each character is written once.
    """
    cursor = 0
    for index, (start, end) in sorted(enumerate(spans), key=lambda item: (item[1][0], item[1][1])):
        start = max(int(start), cursor)
        end = max(int(end), start)
        if end <= start:
            continue
        yield text[cursor:start], index, text[start:end]
        cursor = end
    yield text[cursor:], None, ""


def _render_units(text: str, spans: Sequence[tuple[int, int]], unit_html) -> str:
    """The text as HTML: gaps escaped, each unit as `unit_html(index, unit text)` writes it."""
    out = []
    for gap, index, unit in _pieces(text, spans):
        out.append(_esc(gap))
        if index is not None:
            out.append(unit_html(index, unit))
    return "".join(out)


def _spans(starts, ends) -> list[tuple[int, int]]:
    return list(zip(np.asarray(starts).tolist(), np.asarray(ends).tolist()))


def _legend(items: Sequence[tuple[str, str]]) -> str:
    chips = "".join(f'<span style="background:{color};padding:0 0.4em;margin-right:0.6em;border-radius:0.2em">'
                    f"{_esc(label)}</span>" for label, color in items)
    return f'<div class="clues-legend" style="font-size:{FONT_SIZE}px;margin-top:0.3rem">{chips}</div>'


def contrast_text_html(text: str, clues, top_k: int = 10, *, cut_tokens: int = 0) -> str:
    """The text with each unit shaded by its contrast (red: the large model attends more), the
    top-k clues boxed with their rank (0 = strongest clue, as in p(r)). `clues`: the ContrastResult's
    clues. `cut_tokens` > 0: the analysis stopped that many tokens early (the token limit); a mark says
    so after the last analysed unit and the rest of the text follows, greyed.

    Right-to-left text (Arabic, Hebrew) is written right to left, shaded only: its letters join across
    token boundaries, so the top clues are underlined without badges or bold inside a word (the rank is
    in the hover)."""
    values = np.array([c.contrast for c in clues], dtype=np.float64)
    ranked = [c for c in clues if c.rank is not None]
    scale = max((abs(c.contrast) for c in ranked), default=0.0)
    top = {c.index: c.rank for c in ranked if c.rank < top_k}
    joined = is_right_to_left(text)

    def unit_html(index: int, unit: str) -> str:
        clue = clues[index]
        title = f"{clue.text!r} · large {clue.large:.4f} · small {clue.small:.4f} · contrast {clue.contrast:+.4f}"
        if clue.field:
            title += f" · {clue.field}"
        style = f"background:{_diverging(values[index], scale)};"
        badge = ""
        if index in top:
            title = f"clue rank {top[index]} · " + title
            if joined:
                style += "text-decoration:underline 3px #111;text-underline-offset:4px;"
            else:
                style += "outline:2px solid #111;outline-offset:1px;border-radius:0.2em;font-weight:700;"
                badge = f'<sup class="clue-rank" style="{_BADGE}">{top[index]}</sup>'
        return (f'<span class="clue-token" data-rank="{top.get(index, "")}" title="{_esc(title)}" '
                f'style="{style}">{_esc(unit)}</span>{badge}')

    analysed_end = max((c.end for c in clues), default=0) if cut_tokens else len(text)
    body = _render_units(text[:analysed_end], [(c.start, c.end) for c in clues], unit_html)
    if cut_tokens:
        body += ('<span class="analysis-stop" style="display:inline-block;margin:0 0.3em;padding:0 0.3em;'
                 f'border-left:3px solid #d62728;color:#d62728;font-size:{FONT_SIZE}px;font-weight:700">'
                 f"✂ analysis stopped here ({cut_tokens} tokens past the limit)</span>"
                 f'<span style="color:#999">{_esc(text[analysed_end:])}</span>')
    boxed = (f"underlined: top {top_k} clues (hover for the rank; right-to-left text keeps its words whole)"
             if joined else f"boxed: top {top_k} clues, rank 0 = strongest")
    legend = _legend([("large attends more", "rgba(214,39,40,0.6)"), ("small attends more", "rgba(31,119,180,0.6)"),
                      (boxed, "transparent")])
    return _box(body, "clues-text", text) + legend


def _shade(p: float) -> str:
    """Grey of the drop probability: darker = more likely dropped (grey, so it never reads as a model
    or a field colour)."""
    r, g, b = DROP_COLOR
    return f"rgba({r},{g},{b},{0.5 * p:.3f})"  # at most mid grey: black letters stay readable


def probability_text(text: str, starts, ends, probabilities, ranks, fields=None) -> str:
    """The text with each droppable unit shaded by its drop probability (darker = more likely to
    go), its rank r (0 = strongest clue, the r of p(r)) and probability in the hover; kept-always
    units stay plain."""

    def unit_html(index: int, unit: str) -> str:
        p, rank = float(probabilities[index]), int(ranks[index])
        if rank < 0:
            return f'<span title="never dropped">{_esc(unit)}</span>'
        field = fields[index] if fields else None
        underline = f"border-bottom:3px solid {FIELD_COLORS[field]};" if field in FIELD_COLORS else ""
        title = f"rank r = {rank} · drop probability {p:.2f}" + (f" · {field}" if field else "")
        return (f'<span class="drop-token" data-p="{p:.3f}" data-rank="{rank}" title="{_esc(title)}" '
                f'style="background:{_shade(p)};{underline}">'
                f"{_esc(unit)}</span>")

    body = _render_units(text, _spans(starts, ends), unit_html)
    legend = _legend([("p = 0", _shade(0.0)), ("p = 0.5", _shade(0.5)), ("p = 1", _shade(1.0))]
                     + [(f, FIELD_COLORS[f]) for f in dict.fromkeys(fields or []) if f in FIELD_COLORS])
    return _box(body, "clues-text", text) + legend


def struck_copy(text: str, starts, ends, dropped) -> str:
    """One augmented copy: dropped units struck through and greyed, the rest as they are."""

    def unit_html(index: int, unit: str) -> str:
        if dropped[index]:
            return f'<s class="dropped" style="color:#767676">{_esc(unit)}</s>'
        return _esc(unit)

    return _box(_render_units(text, _spans(starts, ends), unit_html), "clues-copy", text)
