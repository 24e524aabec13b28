"""Clue quality: does a ranking find clues, or positions?

For each importance definition (and, as controls, the position ranking and the reference code's
row-sum mistake) this reports on a tagged corpus:
- the share of texts with a token of a chosen field (default: the name) among the top-k,
- the rank of the first such token (1 = the strongest clue),
- the mean relative position of the top-k units (0 = start of the text, 1 = its end),
on the texts as given AND with a neutral sentence placed before each text, so that the field is
no longer at the start. A ranking that finds the name only because it sits first falls apart on
the moved texts; the position ranking shows what position alone achieves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from clues.augment import RANK_CHUNK
from clues.capture import capture_pairs, check_batching
from clues.contrast import contrast_maps
from clues.errors import InputError
from clues.importance import DEFAULT_DISTANCE, IMPORTANCE, check_importance, row_sum_mistake
from clues.text import FieldSpan, TaggedText

NEUTRAL_PREFIX = "This short biography was written for a public records project in the spring. "
POSITION = "position"
ROW_SUM = "row_sum_mistake"
RANKING_LABELS = {POSITION: "position only (earliest first)", ROW_SUM: "reference code's row sum (its bug)"}
VARIANTS = ("as given", "moved")
COLUMNS = ["ranking", "texts", "share_in_top_k", "first_rank_mean", "first_rank_median",
           "top_k_relative_position", "n_texts", "n_with_field"]


def with_prefix(item: TaggedText, prefix: str = NEUTRAL_PREFIX) -> TaggedText:
    """The same text with `prefix` before it; every field span moves with it."""
    shift = len(prefix)
    return TaggedText(prefix + item.text, tuple(FieldSpan(s.field, s.start + shift, s.end + shift)
                                                 for s in item.spans))


@dataclass
class _Ranking:
    order: list[int]  # unit indices, strongest first
    n_units: int
    field_units: set[int]


def _rankings(large_maps, small_maps, item: TaggedText, field: str, importances: Sequence[str],
              distance: int) -> dict[str, _Ranking]:
    """Every ranking of one text's units; all share the units and exclusions of `contrast_maps`."""
    out = {}
    result = None
    for name in importances:
        result = contrast_maps(large_maps, small_maps, spans=item.spans, importance=name, distance=distance)
        out[name] = _ranking_of(result, [c.index for c in result.ranked() if c.droppable], field)
    # punctuation is ranked by contrast_maps but never dropped: it is not a candidate clue here
    eligible = sorted(c.index for c in result.clues if c.droppable)
    out[POSITION] = _ranking_of(result, eligible, field)
    if result.level == "token":  # (per token only when both models tokenize alike)
        difference = (row_sum_mistake(large_maps.mean) - row_sum_mistake(small_maps.mean)).double().numpy()
        out[ROW_SUM] = _ranking_of(result, sorted(eligible, key=lambda i: -difference[i]), field)
    return out


def _ranking_of(result, order: list[int], field: str) -> _Ranking:
    return _Ranking(order, len(result.clues), {c.index for c in result.clues if c.field == field})


def clue_quality(large, small, items: Sequence[TaggedText], *, field: str = "name", k: int = 5,
                 importances: Sequence[str] | None = None, distance: int = DEFAULT_DISTANCE,
                 prefix: str = NEUTRAL_PREFIX, batch_size: int | None = None,
                 memory_budget_bytes: float | None = None) -> pd.DataFrame:
    """One row per (ranking, texts as given / moved): see the module docstring for the columns.

    batch_size, memory_budget_bytes: how texts are grouped into forward passes (see
    `capture_attention_batch`); RANK_CHUNK texts are captured per model at a time (`capture_pairs`).
    """
    importances = list(importances or IMPORTANCE)
    check_batching(batch_size, memory_budget_bytes)
    for name in importances:
        check_importance(name)
    if k < 1:
        raise InputError(f"k = {k}: look at the top 1 or more clues.")
    if not items:
        raise InputError("The corpus is empty: give some tagged texts.")
    if not any(item.span(field) for item in items):
        raise InputError(f"No text has a <{field}> field: tag it, or choose another field.")
    rows = []
    for variant in VARIANTS:
        texts = items if variant == "as given" else [with_prefix(item, prefix) for item in items]
        pairs = capture_pairs([item.text for item in texts], large, small, chunk=RANK_CHUNK, batch_size=batch_size,
                              memory_budget_bytes=memory_budget_bytes)
        per_text = [_rankings(a, b, item, field, importances, distance) for item, (a, b) in zip(texts, pairs)]
        for ranking in [*importances, POSITION, ROW_SUM]:
            found = [text[ranking] for text in per_text if ranking in text]
            if found:
                rows.append({"ranking": ranking, "texts": variant, **_measure(found, k)})
    return pd.DataFrame(rows, columns=COLUMNS)


def _measure(rankings: list[_Ranking], k: int) -> dict:
    hits, first_ranks, positions, with_field = [], [], [], 0
    for ranking in rankings:
        top = ranking.order[:k]
        positions.extend(i / max(ranking.n_units - 1, 1) for i in top)
        if not ranking.field_units:
            continue
        with_field += 1
        hits.append(any(i in ranking.field_units for i in top))
        first = next((rank for rank, i in enumerate(ranking.order) if i in ranking.field_units), None)
        if first is not None:
            first_ranks.append(first + 1)
    return {"share_in_top_k": float(np.mean(hits)) if hits else float("nan"),
            "first_rank_mean": float(np.mean(first_ranks)) if first_ranks else float("nan"),
            "first_rank_median": float(np.median(first_ranks)) if first_ranks else float("nan"),
            "top_k_relative_position": float(np.mean(positions)) if positions else float("nan"),
            "n_texts": len(rankings), "n_with_field": with_field}


def ranking_label(name: str) -> str:
    if name in IMPORTANCE:
        return f"contrast · {IMPORTANCE[name].label}"
    return RANKING_LABELS.get(name, name)
