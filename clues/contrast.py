"""Importance, contrast and ranking: which tokens the large model attends to more than the small.

importance(token k) = attention k RECEIVES from the later tokens under a view of the captured maps
(`clues.views`: the mean over layers and heads by default), summarised by a named definition
(`clues.importance`: the total received by default; the paper's mean one argument away).
contrast = importance(large) − importance(small), on
the same text. When the two tokenizers agree the comparison is token by token; otherwise both
are summed per word (aligned by character offsets), so any two causal LMs can be contrasted.

The result keeps the two [T, T] maps it ranked, so attention from one query (`query_rows`) and
the maps over the result's units (`unit_matrix`, `contrast_view`) read the same view.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from clues.capture import AttentionMaps, capture_attention
from clues.errors import InputError
from clues.importance import DEFAULT_DISTANCE, DEFAULT_IMPORTANCE, check_importance, received_attention
from clues.text import TaggedText, token_fields
from clues.views import ViewSpec, as_spec, view_matrix

PUNCTUATION = set(string.punctuation) | {"“", "”", "‘", "’", "–", "—", "…"}
_WORD = re.compile(r"\w+|[^\w\s]")


@dataclass
class Clue:
    """One unit of the comparison (a token, or a word when tokenizers differ)."""

    index: int
    text: str
    start: int  # character offsets in the clean text, end exclusive
    end: int
    large: float
    small: float
    contrast: float
    field: str | None = None
    rank: int | None = None  # 0 = strongest clue; None when left out of the ranking
    special: bool = False
    punctuation: bool = False

    @property
    def droppable(self) -> bool:
        """What augmentation may drop: exactly the units the ranking kept (`_rank`: not a special token,
        the attention sink, a blank or punctuation)."""
        return self.rank is not None


@dataclass
class ContrastResult:
    """A ranking of a text's units, and the two maps it was computed from.

    large_matrix, small_matrix: each model's [T, T] map under `view` (T = that model's tokens).
    """

    clues: list[Clue]
    level: str  # "token" or "word"
    view: ViewSpec
    large_maps: AttentionMaps
    small_maps: AttentionMaps
    large_matrix: torch.Tensor
    small_matrix: torch.Tensor
    importance: str = DEFAULT_IMPORTANCE  # which definition of received attention ranked it
    distance: int = DEFAULT_DISTANCE  # far_mean's distance

    def ranked(self) -> list[Clue]:
        return sorted((c for c in self.clues if c.rank is not None), key=lambda c: c.rank)

    def top(self, k: int) -> list[Clue]:
        return self.ranked()[:k]

    def maps_of(self, which: str) -> tuple[AttentionMaps, torch.Tensor]:
        """(captured maps, ranked [T, T] map) of model `which` ("large" or "small")."""
        return (self.large_maps, self.large_matrix) if which == "large" else (self.small_maps, self.small_matrix)


def is_punctuation(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and all(ch in PUNCTUATION for ch in stripped)


def word_units(text: str) -> list[tuple[int, int]]:
    """Character spans of words and punctuation marks."""
    return [m.span() for m in _WORD.finditer(text)]


def token_to_unit(offsets: list[tuple[int, int]], units: list[tuple[int, int]], text: str) -> np.ndarray:
    """[T] index of the unit each token belongs to, −1 if none (special tokens, trailing space).

    A token belongs to the unit of its first character; whitespace belongs to the unit after it,
    as BPE tokenizers glue a leading space to the next word ("Ġword").
    """
    owner = np.full(len(text) + 1, -1, dtype=np.int64)
    for index, (start, end) in enumerate(reversed(units)):
        owner[start:end] = len(units) - 1 - index
    # whitespace takes the owner of the next character: fill the gaps backwards
    filled = owner.copy()
    for position in range(len(text) - 1, -1, -1):
        if filled[position] < 0:
            filled[position] = filled[position + 1]
    return np.array([filled[start] if end > start else -1 for start, end in offsets], dtype=np.int64)


def sum_into_units(values: torch.Tensor, owner: np.ndarray, n_units: int) -> np.ndarray:
    """[U] per-unit sums of a per-token vector [T] (tokens with owner −1 are left out)."""
    totals = np.zeros(n_units, dtype=np.float64)
    keep = owner >= 0
    np.add.at(totals, owner[keep], values.double().numpy()[keep])
    return totals


def same_tokens(a: AttentionMaps, b: AttentionMaps) -> bool:
    return a.input_ids.shape == b.input_ids.shape and bool(torch.equal(a.input_ids, b.input_ids)) \
        and a.offsets == b.offsets


# many parameters: keyword-only options of one ranking (view, exclusions, fields, importance)
def contrast_maps(large: AttentionMaps, small: AttentionMaps, *, view: str | ViewSpec = "mean",
                  skip_first: bool = True, skip_special: bool = True, spans=(), level: str = "auto",
                  importance: str = DEFAULT_IMPORTANCE, distance: int = DEFAULT_DISTANCE) -> ContrastResult:
    """Rank the units of a text by importance(large) − importance(small) under one view.

    view: a name of `clues.views.VIEWS` that needs no layer ("mean", "max", "rollout"), or a
    ViewSpec (one layer or one head, chosen per model).
    importance: a name of `clues.importance.IMPORTANCE` (how received attention is summarised).
    """
    check_importance(importance)
    spec = as_spec(view)
    # the one place where the contrast turns a map into importance: the attention each token receives
    large_matrix, small_matrix = view_matrix(large, spec, "large"), view_matrix(small, spec, "small")
    large_importance = received_attention(large_matrix, importance, distance)
    small_importance = received_attention(small_matrix, importance, distance)
    use_tokens = level == "token" or (level == "auto" and same_tokens(large, small))
    if level == "token" and not same_tokens(large, small):
        raise InputError("The two models tokenize this text differently; compare per word instead.")
    if use_tokens:
        clues = _token_clues(large, large_importance.double().numpy(), small_importance.double().numpy())
    else:
        clues = _word_clues(large, small, large_importance, small_importance)
    _mark_fields(clues, spans)
    sinks = _sink_units(large, small, use_tokens) if skip_first else set()
    _rank(clues, sinks=sinks, skip_special=skip_special)
    return ContrastResult(clues, "token" if use_tokens else "word", spec, large, small, large_matrix, small_matrix,
                          importance, distance)


def own_attention(maps: AttentionMaps, **options) -> ContrastResult:
    """One model's own ranking: its maps against themselves (contrast 0; `large` and `small` of every
    clue both hold its importance), ranked units as `contrast_maps` makes them (same exclusions)."""
    return contrast_maps(maps, maps, **options)


def _token_clues(maps: AttentionMaps, large: np.ndarray, small: np.ndarray) -> list[Clue]:
    special = maps.special.numpy()
    return [Clue(index=i, text=maps.tokens[i], start=s, end=e, large=float(large[i]), small=float(small[i]),
                 contrast=float(large[i] - small[i]), special=bool(special[i]),
                 punctuation=is_punctuation(maps.tokens[i]))
            for i, (s, e) in enumerate(maps.offsets)]


def _word_clues(large: AttentionMaps, small: AttentionMaps, large_importance, small_importance) -> list[Clue]:
    text = large.text
    units = word_units(text)
    large_words = sum_into_units(large_importance, token_to_unit(large.offsets, units, text), len(units))
    small_words = sum_into_units(small_importance, token_to_unit(small.offsets, units, text), len(units))
    return [Clue(index=i, text=text[s:e], start=s, end=e, large=float(large_words[i]), small=float(small_words[i]),
                 contrast=float(large_words[i] - small_words[i]), punctuation=is_punctuation(text[s:e]))
            for i, (s, e) in enumerate(units)]


def _mark_fields(clues: list[Clue], spans) -> None:
    if not spans:
        return
    fields = token_fields([(c.start, c.end) for c in clues], spans)
    for clue, name in zip(clues, fields):
        clue.field = name


def _rank(clues: list[Clue], *, sinks: set[int], skip_special: bool) -> None:
    """Give eligible units ranks 0, 1, … by descending contrast. The one rule of what can be a clue, for
    every page and command: not a blank, punctuation, a special token or the attention sink."""
    eligible = [c for c in clues if c.text.strip() and not c.punctuation
                and not (skip_special and c.special) and c.index not in sinks]
    for rank, clue in enumerate(sorted(eligible, key=lambda c: -c.contrast)):
        clue.rank = rank


def _sink_units(large: AttentionMaps, small: AttentionMaps, use_tokens: bool) -> set[int]:
    """Units holding position 0, where models park spare attention (the attention sink)."""
    if use_tokens:
        return {0}
    units = word_units(large.text)
    owners = {int(token_to_unit(m.offsets[:1], units, m.text)[0]) for m in (large, small)}
    return owners - {-1}


def query_rows(result: ContrastResult, query: int) -> dict[str, np.ndarray]:
    """Attention FROM unit `query` to every unit under the result's view, for both models and
    their difference.

    Returns {"large": [U], "small": [U], "difference": [U]} over the result's units; entries
    after the query are 0 (causal).
    """
    if not 0 <= query < len(result.clues):
        raise InputError(f"Query position {query} is outside the text (0–{len(result.clues) - 1}).")
    large = _query_row(result, "large", query)
    small = _query_row(result, "small", query)
    return {"large": large, "small": small, "difference": large - small}


def _query_row(result: ContrastResult, which: str, query: int) -> np.ndarray:
    matrix = result.maps_of(which)[1]
    if result.level == "token":
        return matrix[query].double().numpy()
    owner, last = _word_tokens(result, which)
    if last[query] < 0:
        return np.zeros(len(result.clues))
    return sum_into_units(matrix[int(last[query])], owner, len(result.clues))


def unit_matrix(result: ContrastResult, which: str) -> np.ndarray:
    """[U, U] model `which`'s map (under the result's view) over the result's units. Per token it
    is the map itself; per word a word's row is the row of its last token (the one that has read
    the whole word), summed into words."""
    dense = result.maps_of(which)[1].double().numpy()
    if result.level == "token":
        return dense
    owner, last = _word_tokens(result, which)
    n = len(result.clues)
    assign = np.zeros((len(owner), n))
    keep = owner >= 0
    assign[np.nonzero(keep)[0], owner[keep]] = 1.0
    out = np.zeros((n, n))
    has = last >= 0
    out[has] = dense[last[has]] @ assign
    return out


def _word_tokens(result: ContrastResult, which: str) -> tuple[np.ndarray, np.ndarray]:
    """Model `which`'s tokens over a per-word result's units: (owner [T], the unit of each token or −1;
    last [U], each word's last token, the one that has read the whole word, or −1)."""
    maps = result.maps_of(which)[0]
    owner = token_to_unit(maps.offsets, [(c.start, c.end) for c in result.clues], maps.text)
    last = np.full(len(result.clues), -1)
    for token, unit in enumerate(owner):
        if unit >= 0:
            last[unit] = token
    return owner, last


@dataclass
class ContrastView:
    """A contrast under one view with both models' [U, U] maps over its units (what the
    explorer draws)."""

    result: ContrastResult
    large: np.ndarray  # [U, U]
    small: np.ndarray  # [U, U]

    @property
    def spec(self) -> ViewSpec:
        return self.result.view

    @property
    def tokens(self) -> list[str]:
        """The units' texts."""
        return [c.text for c in self.result.clues]

    @property
    def difference(self) -> np.ndarray:
        return self.large - self.small


def contrast_view(large: AttentionMaps, small: AttentionMaps, view: str | ViewSpec = "mean",
                  spans=(), *, importance: str = DEFAULT_IMPORTANCE,
                  distance: int = DEFAULT_DISTANCE) -> ContrastView:
    """Contrast two captures under `view` (ranked by the `importance` definition) and lay both
    maps over the ranked units."""
    result = contrast_maps(large, small, view=view, spans=spans, importance=importance, distance=distance)
    return ContrastView(result, unit_matrix(result, "large"), unit_matrix(result, "small"))


def ranked_table(result: ContrastResult, limit: int | None = None) -> pd.DataFrame:
    """The ranked units: rank (0 = strongest clue, the r of p(r)), token, field, large, small, contrast,
    position."""
    rows = [{"rank": c.rank, "token": c.text, "field": c.field or "", "large": c.large, "small": c.small,
             "contrast": c.contrast, "position": c.index} for c in result.ranked()[:limit]]
    return pd.DataFrame(rows, columns=["rank", "token", "field", "large", "small", "contrast", "position"])


def received(result: ContrastResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """([U] importance in the large model, [U] in the small one, [U] their contrast)."""
    large = np.array([c.large for c in result.clues])
    small = np.array([c.small for c in result.clues])
    return large, small, large - small


def unit_before(result: ContrastResult, char_position: int) -> int | None:
    """Index of the last non-special, non-punctuation unit that ends at or before a position
    (the word right before a fact, where the model must recall it)."""
    candidates = [c.index for c in result.clues
                  if c.end <= char_position and not c.special and c.text.strip() and not c.punctuation]
    return candidates[-1] if candidates else None


def unit_before_field(result: ContrastResult, item: TaggedText | None, field: str) -> int | None:
    """The unit right before `field`'s value in `item` (where the model must recall it), or None."""
    span = item.span(field) if item is not None else None
    if span is None:
        return None
    return unit_before(result, span.start)


# many parameters: contrast_maps' options plus capture's, passed through by keyword
def contrast_text(large, small, text: str, *, view: str | ViewSpec = "mean", skip_first: bool = True,
                  skip_special: bool = True, per_layer: bool = False, heads_of_layer: int | None = None,
                  rollout: bool = False, spans=(), importance: str = DEFAULT_IMPORTANCE,
                  distance: int = DEFAULT_DISTANCE) -> ContrastResult:
    """Capture both models on `text` (clean text; pass tagged fields as `spans`) and contrast.

    The captures hold what `view` needs (rollout, per-layer maps, one layer's heads) besides
    what is asked for.
    """
    spec = as_spec(view)
    asked = dict(per_layer=per_layer, heads_of_layer=heads_of_layer, rollout=rollout)
    large_maps = capture_attention(large, text, **{**asked, **spec.capture_options("large")})
    small_maps = capture_attention(small, text, **{**asked, **spec.capture_options("small")})
    return contrast_maps(large_maps, small_maps, view=spec, skip_first=skip_first, skip_special=skip_special,
                         spans=spans, importance=importance, distance=distance)
