"""Token-dropout augmentation guided by a ranking of clues.

The token of rank r (0 = strongest clue) is dropped with probability p(r) = α(1 − e^(−βr)), so
strong clues are kept and the rest is thinned out; the model then has to lean on the clues.
Punctuation and special tokens are never dropped. Each text gets K copies plus the original.

Everything after the ranking is vectorised over the whole corpus: all texts are packed into
one array of character codes, every copy's drops are drawn at once, and each copy of the corpus
is decoded in one go, instead of rebuilding a string for every dropped token. `augmented_csv`
writes the augmented corpus as CSV bytes straight from those arrays (the same file as
`augment_corpus(...).to_csv(path, index=False)`), without a Python string per copy.
"""

from __future__ import annotations

import csv
import functools
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from clues.capture import capture_pairs, check_batching
from clues.contrast import contrast_maps, is_punctuation, word_units
from clues.errors import InputError
from clues.importance import DEFAULT_DISTANCE, DEFAULT_IMPORTANCE, check_importance
from clues.text import token_fields

DROP_STYLES = ("space", "remove", "mask")
DROP_STYLE_HELP = {
    "space": "a dropped token's characters become spaces (the paper's released script); later text keeps its place",
    "remove": "a dropped token and the space before it disappear; later tokens move forward",
    "mask": "a dropped token becomes a placeholder (default '_'); the model sees that something was there",
}
_MARK = 0xE000  # a private-use code point marks where a mask placeholder goes


@dataclass
class RankedText:
    """A text split into droppable units with their rank.

    starts, ends: [U] character offsets of each unit, surrounding whitespace stripped
    ranks:        [U] 0 = strongest clue; −1 = never dropped (special token, punctuation, blank)
    fields:       [U] the fact field each unit belongs to, or None
    """

    text: str
    starts: np.ndarray
    ends: np.ndarray
    ranks: np.ndarray
    fields: list | None = None


def dropout_probability(ranks: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """p(r) = α(1 − e^(−βr)) for rank r ≥ 0; 0 for units that are never dropped (r = −1)."""
    ranks = np.asarray(ranks)
    probability = alpha * (1.0 - np.exp(-beta * np.maximum(ranks, 0)))
    return np.where(ranks >= 0, probability, 0.0)


def flat_probability(ranks: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Random dropout: every droppable unit with probability α, whatever its rank."""
    return np.where(np.asarray(ranks) >= 0, float(alpha), 0.0)


def no_dropout(ranks: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return np.zeros(np.asarray(ranks).shape, dtype=np.float64)


@dataclass(frozen=True)
class Mode:
    name: str
    ranking: str | None  # what ranks the units: "contrast", "large", "small", "position", or None
    probability: Callable[[np.ndarray, float, float], np.ndarray]
    description: str


MODES: dict[str, Mode] = {
    "none": Mode("none", None, no_dropout, "plain fine-tuning: the original texts only"),
    "random": Mode("random", None, flat_probability, "every droppable token with probability α"),
    "attention": Mode("attention", "small", dropout_probability,
                      "ranked by the trained model's own received attention"),
    "contrast": Mode("contrast", "contrast", dropout_probability,
                     "ranked by received attention of the large minus the small model"),
    "position": Mode("position", "position", dropout_probability,
                     "control: ranked by position in the text, earliest first (no attention at all)"),
}


def validate(alpha: float, beta: float, copies: int, style: str, mode: str | None = None) -> None:
    if mode is not None and mode not in MODES:
        raise InputError(f"Unknown mode {mode!r}; choose one of {', '.join(MODES)}.")
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"α = {alpha} is outside [0, 1]: it is a probability (the paper uses 0.6–0.7).")
    if beta < 0 or not np.isfinite(beta):
        raise InputError(f"β = {beta} must be a finite number ≥ 0 (the paper uses 0.01–0.05).")
    if not 0 <= copies <= 1000:
        raise InputError(f"copies = {copies}: give between 0 and 1000 augmented copies per text (the paper uses 10).")
    if style not in DROP_STYLES:
        raise InputError(f"Unknown drop style {style!r}; choose one of {', '.join(DROP_STYLES)}.")


def parse_condition(condition: str, default_importance: str = DEFAULT_IMPORTANCE) -> tuple[str, str]:
    """A training condition is a mode, optionally with the importance that ranks it:
    "contrast" (the default importance) or "contrast:paper_mean". Returns (mode, importance)."""
    mode, _, importance = str(condition).partition(":")
    if mode not in MODES:
        raise InputError(f"Unknown condition {condition!r}; use one of {', '.join(MODES)}, "
                         "optionally with an importance as in contrast:paper_mean.")
    importance = importance or default_importance
    check_importance(importance)
    return mode, importance


def mode_probabilities(ranked: RankedText, mode: str, alpha: float, beta: float) -> np.ndarray:
    """[U] drop probability of each unit under a mode."""
    validate(alpha, beta, 0, "space", mode)
    return MODES[mode].probability(ranked.ranks, alpha, beta)


def corpus_probabilities(ranked: Sequence[RankedText], mode: str, alpha: float, beta: float) -> list[np.ndarray]:
    """[U] drop probabilities of every text under a mode: one call over the whole corpus's ranks (a
    unit's probability depends on its own rank only), then one view per text."""
    validate(alpha, beta, 0, "space", mode)
    if not ranked:
        return []
    flat = MODES[mode].probability(np.concatenate([r.ranks for r in ranked]), alpha, beta)
    bounds = np.cumsum([0, *map(len, (r.ranks for r in ranked))]).tolist()
    return [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


# ---- packing a corpus -------------------------------------------------------------------

@dataclass
class _Packed:
    codes: np.ndarray  # [N] code points of all texts, one after another (uint8 for Latin-1, else uint32); read-only
    bounds: np.ndarray  # [n + 1] where each text starts in `codes`
    starts: np.ndarray  # [U] global unit offsets
    ends: np.ndarray
    encoding: str  # how `codes` decodes back to text
    units: np.ndarray  # [n] how many units each text has


def _pack(texts: Sequence[RankedText]) -> _Packed:
    joined = "".join(t.text for t in texts)
    # Most corpora are Latin-1: one byte a character decodes many times faster than four.
    try:
        codes, encoding = np.frombuffer(joined.encode("latin-1"), dtype=np.uint8), "latin-1"
    except UnicodeEncodeError:
        codes, encoding = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32), "utf-32-le"
    lengths = np.fromiter((len(t.text) for t in texts), dtype=np.int64, count=len(texts))
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    units = np.fromiter((len(t.starts) for t in texts), dtype=np.int64, count=len(texts))
    shift = np.repeat(bounds[:-1], units)
    starts = np.concatenate([t.starts for t in texts]).astype(np.int64) + shift
    ends = np.concatenate([t.ends for t in texts]).astype(np.int64) + shift
    return _Packed(codes, bounds, starts, ends, encoding, units)


def _in_order(starts: np.ndarray, ends: np.ndarray) -> bool:
    """Units one after another without overlap, as tokenizers give them (at least one unit)."""
    return bool(starts.size and (ends >= starts).all() and (starts[1:] >= ends[:-1]).all())


def _unit_of_char(size: int, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """[N] index of the unit covering each character; U (a never-dropped slot) elsewhere."""
    count = starts.size
    if _in_order(starts, ends) and starts[0] >= 0 and ends[-1] <= size:
        # units in order without overlap (as tokenizers give them): the characters are runs of
        # gap, unit, gap, unit, …, gap — one repeat of their owners
        edges = np.empty(2 * count + 2, dtype=np.int64)
        edges[0], edges[-1] = 0, size
        edges[1:-1:2], edges[2:-1:2] = starts, ends
        owners = np.full(2 * count + 1, count, dtype=np.intp)
        owners[1::2] = np.arange(count)
        return np.repeat(owners, np.diff(edges))
    owner = np.full(size, count, dtype=np.intp)
    lengths = ends - starts
    positions = np.repeat(starts - np.cumsum(np.concatenate([[0], lengths[:-1]])), lengths) + np.arange(lengths.sum())
    owner[positions] = np.repeat(np.arange(count, dtype=np.intp), lengths)
    return owner


def _with_space_before(packed: _Packed) -> np.ndarray:
    """[U] unit starts widened by one preceding whitespace character (for the remove style)."""
    before = np.maximum(packed.starts - 1, 0)
    is_space = np.isin(packed.codes[before], np.array([32, 9, 10])) & (packed.starts > 0)
    first_of_text = np.isin(packed.starts, packed.bounds)
    widened = np.where(is_space & ~first_of_text, before, packed.starts)
    # never overlap the previous unit (two units separated by exactly the space are fine)
    previous_end = np.concatenate([[0], packed.ends[:-1]])
    return np.maximum(widened, previous_end)


def _decode(codes: np.ndarray, bounds: np.ndarray, encoding: str) -> list[str]:
    """Decode a packed array in one go and cut it back into texts."""
    return _cut(codes.tobytes().decode(encoding), bounds.tolist())


def _cut(joined: str, bounds: list[int]) -> list[str]:
    return [joined[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


@dataclass
class _Draw:
    """One augmentation's draw over a packed corpus."""

    packed: _Packed
    drops: np.ndarray  # [K, U] bool: which units each copy drops
    flags: np.ndarray  # [K, U + 1] uint8: drops, plus a last slot that is never dropped
    starts: np.ndarray  # [U] unit starts as the style drops them (widened for remove)

    @functools.cached_property
    def owner(self) -> np.ndarray:
        """[N] the unit each character belongs to (U: none, never dropped)."""
        return _unit_of_char(self.packed.codes.size, self.starts, self.packed.ends)

    def units_at(self, positions: np.ndarray) -> np.ndarray:
        """The unit covering each of a few character positions (U: none); owner[positions] without owner."""
        starts, ends, count = self.starts, self.packed.ends, self.starts.size
        if not _in_order(starts, ends):
            return self.owner[positions]
        unit = np.searchsorted(starts, positions, side="right") - 1
        inside = (unit >= 0) & (positions < ends[np.maximum(unit, 0)])
        return np.where(inside, unit, count)


def _draw(texts: Sequence[RankedText], probabilities: Sequence[np.ndarray], copies: int, seed: int,
          style: str) -> _Draw:
    packed = _pack(texts)
    probability = np.concatenate([np.asarray(p, dtype=np.float64) for p in probabilities])
    rng = np.random.default_rng(seed)
    drops = rng.random((copies, probability.size), dtype=np.float32) < probability  # [K, U]
    starts = _with_space_before(packed) if style == "remove" else packed.starts
    # one byte per unit and copy, plus a last slot that is never dropped (characters outside units)
    flags = np.zeros((copies, probability.size + 1), dtype=np.uint8)
    flags[:, :-1] = drops
    return _Draw(packed, drops, flags, starts)


def augment_ranked(texts: Sequence[RankedText], probabilities: Sequence[np.ndarray], *, copies: int = 10,
                   seed: int = 0, style: str = "space", mask_text: str = "_", return_drops: bool = False):
    """For each text, [original, copy 1, …, copy K] with units dropped at the given probabilities.

    probabilities: one [U] array per text. Same seed and inputs → same output; the draw comes
    before the style, so the same seed drops the same units in every style.
    return_drops: also return which units each copy dropped, one [K, U] bool array per text:
    (versions, drops) instead of versions.
    """
    validate(0.0, 0.0, copies, style)
    if not texts:
        return ([], []) if return_drops else []
    draw = _draw(texts, probabilities, copies, seed, style)
    versions = _versions(texts, draw, style, mask_text)
    if not return_drops:
        return versions
    return versions, np.split(draw.drops, np.cumsum(draw.packed.units)[:-1], axis=1)


def _versions(texts: Sequence[RankedText], draw: _Draw, style: str, mask_text: str) -> list[list[str]]:
    packed, flags, owner, copies = draw.packed, draw.flags, draw.owner, draw.flags.shape[0]
    # One copy of the corpus at a time: its arrays stay in cache, and each is decoded in one go.
    if style == "space":
        # a dropped character c becomes c − (c − 32) = 32, in the codes' own wrapping arithmetic
        to_space = packed.codes - packed.codes.dtype.type(32)
        bounds = packed.bounds.tolist()
        rows = [_cut((packed.codes - flags[k].take(owner) * to_space).tobytes().decode(packed.encoding), bounds)
                for k in range(copies)]
    else:
        rows = [_render(packed, flags[k].take(owner).view(bool), draw.drops[k], style, mask_text)
                for k in range(copies)]
    return [[t.text, *row] for t, row in zip(texts, zip(*rows))] if copies else [[t.text] for t in texts]


def _render(packed: _Packed, dropped: np.ndarray, drops: np.ndarray, style: str, mask_text: str) -> list[str]:
    """One copy of the corpus in the remove or mask style. dropped: [N] per character; drops: [U] per unit."""
    keep = ~dropped
    codes = packed.codes
    if style == "mask":
        # the first character of each dropped unit stays, as a mark replaced by the placeholder
        codes = codes.astype(np.uint32)
        codes[packed.starts[drops]] = _MARK
        keep[packed.starts[drops]] = True
    kept_before = np.concatenate([[0], np.cumsum(keep)])
    pieces = _decode(codes[keep], kept_before[packed.bounds],
                     "utf-32-le" if codes.dtype == np.uint32 else packed.encoding)
    if style == "mask":
        mark = chr(_MARK)
        pieces = [p.replace(mark, mask_text) for p in pieces]
    return pieces


# ---- the augmented corpus as CSV ---------------------------------------------------------

CSV_COLUMNS = ("text", "source", "copy")


def augmented_csv(texts: Sequence[RankedText], probabilities: Sequence[np.ndarray], *, copies: int = 10,
                  seed: int = 0, style: str = "space", mask_text: str = "_") -> bytes:
    """The augmented corpus as CSV bytes: the file `augment_corpus(...).to_csv(path, index=False)`
    writes for the same inputs, byte for byte (UTF-8, columns text, source, copy; rows source-major:
    text 0's original, its copies 1…K, then text 1, …; the same draws as `augment_ranked`).

    Space style on a Latin-1 corpus (the common case) goes straight from the packed byte arrays to the
    file's bytes; other styles and texts go through the stdlib csv writer that pandas uses, with its
    settings (minimal quoting, `"` doubled, the platform's line ending).
    """
    validate(0.0, 0.0, copies, style)
    lineterminator = os.linesep  # pandas' default
    if not texts:
        return _csv_rows([], lineterminator)
    draw = _draw(texts, probabilities, copies, seed, style)
    if style == "space" and draw.packed.encoding == "latin-1":
        data = _space_csv(draw, lineterminator)
        if data is not None:
            return data
    return _csv_rows(_versions(texts, draw, style, mask_text), lineterminator)


def write_augmented_csv(path_or_buffer, texts: Sequence[RankedText], probabilities: Sequence[np.ndarray], *,
                        copies: int = 10, seed: int = 0, style: str = "space", mask_text: str = "_") -> int:
    """Write `augmented_csv(...)` to a path (folders made) or a file object (binary, or text); the number of rows."""
    data = augmented_csv(texts, probabilities, copies=copies, seed=seed, style=style, mask_text=mask_text)
    if hasattr(path_or_buffer, "write"):
        path_or_buffer.write(data.decode("utf-8") if isinstance(path_or_buffer, io.TextIOBase) else data)
    else:
        path = Path(path_or_buffer)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return augmented_rows(len(texts), copies)


def augmented_rows(texts: int, copies: int) -> int:
    """Rows of an augmented corpus: every text's original and its copies."""
    return texts * (copies + 1)


def _csv_rows(versions: Sequence[Sequence[str]], lineterminator: str) -> bytes:
    """The general path: pandas' own CSV writer (the stdlib's, QUOTE_MINIMAL) over one row per version."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=lineterminator)
    writer.writerow(CSV_COLUMNS)
    writer.writerows((text, source, copy) for source, texts in enumerate(versions) for copy, text in enumerate(texts))
    return buffer.getvalue().encode("utf-8")


@functools.lru_cache(maxsize=4)
def _quoting_bytes(lineterminator: str) -> np.ndarray:
    """[256] True for each Latin-1 character that makes the stdlib csv writer quote a field (asked of
    the writer itself, so it follows the running Python: the delimiter, `"` and line-ending characters)."""
    table = np.zeros(256, dtype=bool)
    for code in range(256):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator=lineterminator).writerow([f"a{chr(code)}b"])
        table[code] = buffer.getvalue().startswith('"')
    return table


def _space_csv(draw: _Draw, lineterminator: str) -> bytes | None:
    """CSV bytes of a space-style draw on a Latin-1 corpus, built from byte arrays; None when a copy drops
    a character that decides quoting (then the general path writes the file).

    Dropping in the space style keeps every text's length, and here nothing that decides quoting is
    dropped, so every copy's rows have one layout: a template of every text's row (its quotes, doubled
    `"`, source, and a slot for the copy number and line ending) is built once, and each copy is that
    template with dropped characters turned into spaces and its number written in the slot. The rows
    are then joined source-major, each cut where its copy number ends.
    """
    quoted = _quoted_texts(draw, lineterminator)
    if quoted is None:
        return None
    copies = draw.flags.shape[0]
    ending = lineterminator.encode("ascii")
    template = _RowTemplate.build(draw.packed, quoted, slot=len(str(copies)) + len(ending))
    out, row_ends = _stamp_copies(template, draw.flags, ending)
    # source-major: text 0's rows of copies 0…K, then text 1's, … — one slice of `out` a row
    width = template.row.size
    firsts = (np.arange(copies + 1)[None, :] * width + template.row_starts[:, None]).ravel().tolist()
    lasts = (np.arange(copies + 1)[None, :] * width + row_ends.T).ravel().tolist()
    header = (",".join(CSV_COLUMNS) + lineterminator).encode("ascii")
    data = b"".join([header, *map(memoryview(out.reshape(-1)).__getitem__, map(slice, firsts, lasts))])
    if (draw.packed.codes >= 128).any():  # Latin-1 bytes → UTF-8, as the file is written
        data = data.decode("latin-1").encode("utf-8")
    return data


def _quoted_texts(draw: _Draw, lineterminator: str) -> list[bool] | None:
    """[n] whether the csv writer quotes each text; None if any copy drops a character that decides it."""
    codes, bounds = draw.packed.codes, draw.packed.bounds
    quoting = np.zeros(codes.size, dtype=bool)
    for code in np.flatnonzero(_quoting_bytes(lineterminator)).tolist():
        quoting |= codes == code
    quoting = np.flatnonzero(quoting)
    if quoting.size and draw.flags[:, draw.units_at(quoting)].any():
        return None
    return (np.bincount(np.searchsorted(bounds, quoting, side="right") - 1, minlength=bounds.size - 1) > 0).tolist()


@dataclass
class _RowTemplate:
    """Every text's CSV row, one after another, with a blank slot for the copy number and line ending.

    row:        [R] uint8 the rows' bytes (texts with `"` doubled, quoted where the writer quotes)
    owner:      [R] the unit each byte belongs to (U: none, never dropped)
    row_starts: [n] where each text's row starts; slot_starts: [n] where its slot starts
    """

    row: np.ndarray
    owner: np.ndarray
    row_starts: np.ndarray
    slot_starts: np.ndarray

    @classmethod
    def build(cls, packed: _Packed, quoted: list[bool], slot: int) -> _RowTemplate:
        codes, bounds, starts, ends = packed.codes, packed.bounds, packed.starts, packed.ends
        n = bounds.size - 1
        quote_marks = codes == 34
        if quote_marks.any():  # a `"` is written twice; it is never dropped here (it decides quoting)
            before = np.concatenate([[0], np.cumsum(quote_marks)])  # `"` before each position
            codes = np.repeat(codes, quote_marks.astype(np.intp) + 1)
            bounds, starts, ends = bounds + before[bounds], starts + before[starts], ends + before[ends]
        view, blank = memoryview(codes), b" " * slot
        pieces = []
        for i, (q, a, b) in enumerate(zip(quoted, bounds[:-1].tolist(), bounds[1:].tolist())):
            pieces += (b'"', view[a:b], b'",%d,' % i, blank) if q else (view[a:b], b",%d," % i, blank)
        row = np.frombuffer(b"".join(pieces), dtype=np.uint8)
        opening = np.array(quoted, dtype=np.int64)
        source_widths = np.fromiter((len(b",%d," % i) for i in range(n)), np.int64, n)
        slot_ends = np.cumsum(np.diff(bounds) + source_widths + 2 * opening + slot)
        row_starts = np.concatenate([[0], slot_ends[:-1]])
        # each unit moves to its text's row, after the row's start and opening quote
        shift = np.repeat(row_starts + opening - bounds[:-1], packed.units)
        return cls(row, _unit_of_char(row.size, starts + shift, ends + shift), row_starts, slot_ends - slot)


def _stamp_copies(template: _RowTemplate, flags: np.ndarray, ending: bytes) -> tuple[np.ndarray, np.ndarray]:
    """[K + 1, R] the template once per copy (copy 0 the original), dropped bytes turned to spaces and
    each row's copy number and line ending written in its slot; and [K + 1, n] where each row ends."""
    row, copies = template.row, flags.shape[0]
    to_space = row - np.uint8(32)
    dropped = np.empty(row.size, dtype=np.uint8)
    out = np.empty((copies + 1, row.size), dtype=np.uint8)
    out[0] = row
    for copy in range(1, copies + 1):
        # a dropped character c becomes c − (c − 32) = 32, in wrapping uint8 arithmetic
        np.take(flags[copy - 1], template.owner, out=dropped, mode="clip")
        np.multiply(dropped, to_space, out=dropped)
        np.subtract(row, dropped, out=out[copy])
    row_ends = np.empty((copies + 1, template.slot_starts.size), dtype=np.int64)
    for width in range(1, len(str(copies)) + 1):  # copy numbers of each width, written all at once
        first, last = 10 ** (width - 1) if width > 1 else 0, min(10 ** width, copies + 1)
        numbers = np.array([list(f"{c}".encode() + ending) for c in range(first, last)], dtype=np.uint8)
        out[first:last, template.slot_starts[:, None] + np.arange(numbers.shape[1])] = numbers[:, None, :]
        row_ends[first:last] = template.slot_starts + numbers.shape[1]
    return out, row_ends


# ---- rankings from models ---------------------------------------------------------------

def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def ranked_from_clues(result, by: str = "contrast") -> RankedText:
    """Rank the units of a ContrastResult by contrast, by one model's importance ("large"/"small"),
    or by position ("position": earliest first).

    One rule for what is never dropped: whatever the ContrastResult left out of its ranking
    (special tokens, the attention sink at position 0, blanks) and punctuation.
    """
    if by not in ("contrast", "large", "small", "position"):
        raise InputError(f"Unknown ranking {by!r}; use contrast, large, small or position.")
    text = result.large_maps.text
    spans = [_strip_span(text, c.start, c.end) for c in result.clues]
    droppable = np.array([c.droppable and e > s for c, (s, e) in zip(result.clues, spans)], dtype=bool)
    if by == "position":
        scores = -np.arange(len(result.clues), dtype=np.float64)
    else:
        scores = np.array([getattr(c, by) for c in result.clues], dtype=np.float64)
    return _ranked(text, spans, droppable, scores, [c.field for c in result.clues])


def ranked_from_tokens(text: str, tokenizer=None, spans=()) -> RankedText:
    """Units without a model ranking (for the none/random modes): the tokenizer's tokens, else words."""
    if tokenizer is not None:
        encoded = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
        units = [tuple(o) for o in encoded["offset_mapping"]]
    else:
        units = word_units(text)
    stripped = [_strip_span(text, s, e) for s, e in units]
    droppable = np.array([e > s and not is_punctuation(text[s:e]) for s, e in stripped], dtype=bool)
    fields = None
    if spans:
        fields = token_fields(stripped, spans)
    return _ranked(text, stripped, droppable, np.zeros(len(stripped)), fields)


def _ranked(text, spans, droppable, scores, fields) -> RankedText:
    order = np.argsort(-np.where(droppable, scores, -np.inf), kind="stable")
    ranks = np.full(len(spans), -1, dtype=np.int64)
    n_droppable = int(droppable.sum())
    ranks[order[:n_droppable]] = np.arange(n_droppable)
    starts = np.array([s for s, _ in spans], dtype=np.int64)
    ends = np.array([e for _, e in spans], dtype=np.int64)
    return RankedText(text, starts, ends, ranks, fields)


def summary(ranked: Sequence[RankedText], probabilities: Sequence[np.ndarray]) -> dict:
    """Expected drop rate over droppable units, and each field's expected survival rate."""
    ranks = np.concatenate([r.ranks for r in ranked]) if ranked else np.zeros(0)
    probability = np.concatenate(list(probabilities)) if ranked else np.zeros(0)
    droppable = ranks >= 0
    result = {"expected_drop_rate": float(probability[droppable].mean()) if droppable.any() else 0.0,
              "field_survival": {}}
    fields = [f for r in ranked for f in (r.fields or [None] * len(r.ranks))]
    for name in sorted({f for f in fields if f}):
        chosen = np.array([f == name for f in fields]) & droppable
        result["field_survival"][name] = float(1.0 - probability[chosen].mean()) if chosen.any() else 1.0
    return result


# ---- whole corpora ----------------------------------------------------------------------

RANK_CHUNK = 256  # texts captured per model before they are contrasted: a big corpus never holds all maps


def clue_ranking(mode: str, attention_of: str = "small") -> str | None:
    """What ranks `mode`'s units: "contrast", "position", the model whose own attention ranks them
    ("small", or "large" when `attention_of` says so), or None when the mode ranks nothing (none, random:
    the tokenizer's tokens, `ranked_from_tokens`). The app and `rank_corpus` both go by it."""
    ranking = MODES[mode].ranking
    return "large" if ranking == "small" and attention_of == "large" else ranking


def rank_corpus(texts, mode: str, *, large=None, small=None, attention_of: str = "small",
                importance: str = DEFAULT_IMPORTANCE, distance: int = DEFAULT_DISTANCE,
                progress: bool = False, batch_size: int | None = None,
                memory_budget_bytes: float | None = None) -> list[RankedText]:
    """Rank every text's units as `mode` needs: by contrast (both models), by one model's own
    attention, by position (the small model's tokens, earliest first, with the same exclusions),
    or not at all (none/random: the small model's tokens, or words without a model).

    texts: TaggedText items (clean text + field spans).
    batch_size, memory_budget_bytes: how `capture_attention_batch` groups texts into forward
    passes (default: chosen from the device's memory). Texts are captured RANK_CHUNK at a time
    per model, then contrasted one by one; the ranks equal those of one text at a time.
    """
    return rank_corpus_conditions(texts, [(mode, importance)], large=large, small=small, attention_of=attention_of,
                                  distance=distance, progress=progress, batch_size=batch_size,
                                  memory_budget_bytes=memory_budget_bytes)[0]


def rank_corpus_conditions(texts, conditions: Sequence[tuple[str, str]], *, large=None, small=None,
                           attention_of: str = "small", distance: int = DEFAULT_DISTANCE, progress: bool = False,
                           batch_size: int | None = None,
                           memory_budget_bytes: float | None = None) -> list[list[RankedText]]:
    """`rank_corpus` for several (mode, importance) conditions at once: [condition][text].

    Each text is captured once per model whatever the number of conditions (an experiment's
    contrast, contrast under paper_mean, own attention and position all read the same maps).
    """
    for mode, importance in conditions:
        validate(0.0, 0.0, 0, "space", mode)
        check_importance(importance)
    check_batching(batch_size, memory_budget_bytes)
    rankings = [clue_ranking(mode, attention_of) for mode, _ in conditions]
    models = {"large": large, "small": small}
    position_of = "small" if small is not None else "large"  # position ranks the small model's tokens
    needed = [{"contrast": ("large", "small"), "position": (position_of,), None: ()}.get(r, (r,)) for r in rankings]
    for (mode, _), names in zip(conditions, needed):
        if any(models[name] is None for name in names):
            raise InputError(f"Mode {mode!r} needs the model pair (large and small) to rank the tokens.")
    texts = list(texts)
    tokenizer = (small or large).tokenizer if (small or large) else None
    label = f"ranking ({', '.join(mode for mode, _ in conditions)})"
    wanted = sorted(set().union(*needed))  # ["large", "small"], one of them, or none
    if not wanted:  # none/random only: the tokenizer's tokens
        ranked = [ranked_from_tokens(item.text, tokenizer, item.spans) for item in _progress(texts, progress, label)]
        return [ranked for _ in conditions]
    pairs = capture_pairs([item.text for item in texts], models[wanted[0]], models[wanted[-1]] if len(wanted) == 2
                          else None, chunk=RANK_CHUNK, batch_size=batch_size, memory_budget_bytes=memory_budget_bytes)
    results: list[list[RankedText]] = [[] for _ in conditions]
    for item, (first_maps, second_maps) in zip(_progress(texts, progress, label), pairs):
        maps = {wanted[0]: first_maps, wanted[-1]: second_maps}
        for out, (_, importance), ranking in zip(results, conditions, rankings):
            out.append(_rank_one(item, ranking, maps, position_of, importance, distance, tokenizer))
    return results


def _rank_one(item, ranking: str | None, maps: dict, position_of: str, importance: str, distance: int,
              tokenizer) -> RankedText:
    """One text's RankedText under one ranking, from the maps already captured."""
    if ranking is None:
        return ranked_from_tokens(item.text, tokenizer, item.spans)
    if ranking == "contrast":
        result = contrast_maps(maps["large"], maps["small"], spans=item.spans, importance=importance,
                               distance=distance)
        return ranked_from_clues(result, "contrast")
    # One model's own attention (or its tokens, for position): both slots hold its maps, and
    # its importance is the "large" one.
    own = maps[position_of if ranking == "position" else ranking]
    result = contrast_maps(own, own, spans=item.spans, importance=importance, distance=distance)
    return ranked_from_clues(result, "position" if ranking == "position" else "large")


def augment_corpus(texts, mode: str = "contrast", *, alpha: float = 0.7, beta: float = 0.05, copies: int = 10,
                   seed: int = 0, style: str = "space", mask_text: str = "_", large=None, small=None,
                   attention_of: str = "small", ranked: list[RankedText] | None = None, progress: bool = False,
                   importance: str = DEFAULT_IMPORTANCE, distance: int = DEFAULT_DISTANCE):
    """Augmented corpus as a DataFrame with columns text, source (row of the input), copy (0 = original).
    To write it to a file, `augment_corpus_csv` writes the same CSV without the frame."""
    ranked, probabilities = _ranked_probabilities(texts, mode, alpha, beta, copies, style, large, small,
                                                  attention_of, ranked, progress, importance, distance)
    # mode "none" still writes K (identical) copies, so every condition trains for the same steps.
    augmented = augment_ranked(ranked, probabilities, copies=copies, seed=seed, style=style, mask_text=mask_text)
    rows = [(text, source, copy) for source, versions in enumerate(augmented) for copy, text in enumerate(versions)]
    return pd.DataFrame(rows, columns=list(CSV_COLUMNS))


def augment_corpus_csv(path_or_buffer, texts, mode: str = "contrast", *, alpha: float = 0.7, beta: float = 0.05,
                       copies: int = 10, seed: int = 0, style: str = "space", mask_text: str = "_", large=None,
                       small=None, attention_of: str = "small", ranked: list[RankedText] | None = None,
                       progress: bool = False, importance: str = DEFAULT_IMPORTANCE,
                       distance: int = DEFAULT_DISTANCE) -> int:
    """Write the augmented corpus as CSV to a path or file object: the file
    `augment_corpus(...).to_csv(path_or_buffer, index=False)` writes, byte for byte, several times
    faster (see `write_augmented_csv`). Returns the number of rows."""
    ranked, probabilities = _ranked_probabilities(texts, mode, alpha, beta, copies, style, large, small,
                                                  attention_of, ranked, progress, importance, distance)
    return write_augmented_csv(path_or_buffer, ranked, probabilities, copies=copies, seed=seed, style=style,
                               mask_text=mask_text)


def _ranked_probabilities(texts, mode, alpha, beta, copies, style, large, small, attention_of, ranked, progress,
                          importance, distance):
    validate(alpha, beta, copies, style, mode)
    if ranked is None:
        ranked = rank_corpus(texts, mode, large=large, small=small, attention_of=attention_of,
                             importance=importance, distance=distance, progress=progress)
    return ranked, corpus_probabilities(ranked, mode, alpha, beta)


def _progress(items, enabled: bool, description: str):
    if not enabled:
        return items
    return tqdm(items, desc=description, unit="text")
