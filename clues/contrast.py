"""Importance, contrast and ranking: which tokens the large model attends to more than the small.

importance(token k) = attention k RECEIVES from the later tokens, averaged over layers and heads
and summarised by a named definition (`clues.importance`: total by default, the paper's mean one
flag away). contrast = importance(large) − importance(small), on
the same text. When the two tokenizers agree the comparison is token by token; otherwise both
are summed per word (aligned by character offsets), so any two causal LMs can be contrasted.
"""

from __future__ import annotations

import re
import string
from dataclasses import asdict, dataclass

import numpy as np
import torch

from clues.aggregate import aggregate, layer_map
from clues.capture import AttentionMaps, capture_attention
from clues.errors import InputError
from clues.importance import DEFAULT_DISTANCE, DEFAULT_IMPORTANCE, check_importance, received_attention

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


@dataclass
class ContrastResult:
    clues: list[Clue]
    level: str  # "token" or "word"
    aggregation: str
    large_maps: AttentionMaps
    small_maps: AttentionMaps
    importance: str = DEFAULT_IMPORTANCE  # which definition of received attention ranked it
    distance: int = DEFAULT_DISTANCE

    def ranked(self) -> list[Clue]:
        return sorted((c for c in self.clues if c.rank is not None), key=lambda c: c.rank)

    def top(self, k: int) -> list[Clue]:
        return self.ranked()[:k]

    def records(self) -> list[dict]:
        return [asdict(c) for c in self.clues]

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.records())

    def contrast_vector(self) -> np.ndarray:
        return np.array([c.contrast for c in self.clues], dtype=np.float64)


def is_punctuation(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and all(ch in PUNCTUATION for ch in stripped)


def token_importance(maps: AttentionMaps, aggregation: str = "mean", layer: int | None = None,
               head: int | None = None, *, definition: str = DEFAULT_IMPORTANCE,
               distance: int = DEFAULT_DISTANCE) -> torch.Tensor:
    """[T] received attention of each token under the chosen view and importance definition."""
    matrix = layer_map(maps, layer, head) if layer is not None else aggregate(maps, aggregation)
    return received_attention(matrix, definition, distance)


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


def contrast_maps(large: AttentionMaps, small: AttentionMaps, *, aggregation: str = "mean",
                  layer: int | None = None, skip_first: bool = True, skip_special: bool = True,
                  spans=(), level: str = "auto", importance: str = DEFAULT_IMPORTANCE,
                  distance: int = DEFAULT_DISTANCE) -> ContrastResult:
    """Rank the units of a text by importance(large) − importance(small)."""
    check_importance(importance)
    large_importance = token_importance(large, aggregation, layer, definition=importance, distance=distance)
    small_importance = token_importance(small, aggregation, layer, definition=importance, distance=distance)
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
    return ContrastResult(clues, "token" if use_tokens else "word", aggregation, large, small,
                          importance, distance)


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
    from clues.text import token_fields

    fields = token_fields([(c.start, c.end) for c in clues], spans)
    for clue, name in zip(clues, fields):
        clue.field = name


def _rank(clues: list[Clue], *, sinks: set[int], skip_special: bool) -> None:
    """Give eligible units ranks 0, 1, … by descending contrast."""
    eligible = [c for c in clues
                if c.text.strip() and not (skip_special and c.special) and c.index not in sinks]
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
    """Attention FROM unit `query` to every unit, for both models and their difference.

    Returns {"large": [U], "small": [U], "difference": [U]} over the result's units; entries
    after the query are 0 (causal).
    """
    if not 0 <= query < len(result.clues):
        raise InputError(f"Query position {query} is outside the text (0–{len(result.clues) - 1}).")
    large = _query_row(result, result.large_maps, query)
    small = _query_row(result, result.small_maps, query)
    return {"large": large, "small": small, "difference": large - small}


def _query_row(result: ContrastResult, maps: AttentionMaps, query: int) -> np.ndarray:
    matrix = aggregate(maps, result.aggregation)
    if result.level == "token":
        return matrix[query].double().numpy()
    units = [(c.start, c.end) for c in result.clues]
    owner = token_to_unit(maps.offsets, units, maps.text)
    rows = np.nonzero(owner == query)[0]
    if rows.size == 0:
        return np.zeros(len(units))
    # The word's last token is the one that has read the whole word.
    return sum_into_units(matrix[int(rows[-1])], owner, len(units))


def unit_before(result: ContrastResult, char_position: int) -> int | None:
    """Index of the last non-special, non-punctuation unit that ends at or before a position
    (the word right before a fact, where the model must recall it)."""
    candidates = [c.index for c in result.clues
                  if c.end <= char_position and not c.special and c.text.strip() and not c.punctuation]
    return candidates[-1] if candidates else None


def contrast_text(large, small, text: str, *, aggregation: str = "mean", skip_first: bool = True,
                  skip_special: bool = True, per_layer: bool = False, heads_of_layer: int | None = None,
                  rollout: bool = False, spans=(), importance: str = DEFAULT_IMPORTANCE,
                  distance: int = DEFAULT_DISTANCE) -> ContrastResult:
    """Capture both models on `text` (clean text; pass tagged fields as `spans`) and contrast."""
    options = dict(per_layer=per_layer, heads_of_layer=heads_of_layer, rollout=rollout or aggregation == "rollout")
    large_maps = capture_attention(large, text, **options)
    small_maps = capture_attention(small, text, **options)
    return contrast_maps(large_maps, small_maps, aggregation=aggregation, skip_first=skip_first,
                         skip_special=skip_special, spans=spans, importance=importance,
                         distance=distance)
