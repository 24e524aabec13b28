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
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from clues.augment import RANK_CHUNK
from clues.capture import capture_pairs, check_batching
from clues.contrast import ContrastResult, contrast_maps
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
class Ranking:
    """One ranking of a text's units: the droppable units, strongest first, and every unit's field."""

    order: list[int]  # unit indices, strongest first (droppable units only)
    fields: list[str | None]  # [U] the field of each unit, None outside fields


def row_sum_difference(result: ContrastResult) -> np.ndarray:
    """[T] the reference code's row-sum "importance" of the large model minus the small one's (a
    per-token quantity: only for a result compared per token)."""
    return (row_sum_mistake(result.large_matrix) - row_sum_mistake(result.small_matrix)).double().numpy()


def rankings_of(results: Mapping[str, ContrastResult]) -> dict[str, Ranking]:
    """Every ranking of one text's units: its contrast under each importance (`results`, all of the
    same text under the mean view), the position control and, per token, the row-sum mistake. All
    share the units and exclusions of `contrast_maps`; punctuation is ranked there but never
    dropped, so it is no candidate clue here."""
    out, result = {}, None
    for name, result in results.items():
        out[name] = Ranking([c.index for c in result.ranked() if c.droppable], [c.field for c in result.clues])
    fields = [c.field for c in result.clues]
    eligible = sorted(c.index for c in result.clues if c.droppable)
    out[POSITION] = Ranking(eligible, fields)
    if result.level == "token":  # (per token only when both models tokenize alike)
        difference = row_sum_difference(result)
        out[ROW_SUM] = Ranking(sorted(eligible, key=lambda i: -difference[i]), fields)
    return out


# many parameters: keyword-only options of the rankings measured and of the capture
def clue_rankings(large, small, items: Sequence[TaggedText], *, importances: Sequence[str] | None = None,
                  distance: int = DEFAULT_DISTANCE, prefix: str = NEUTRAL_PREFIX, batch_size: int | None = None,
                  memory_budget_bytes: float | None = None) -> dict[str, list[dict[str, Ranking]]]:
    """The model work of `clue_quality`: for the texts as given and moved, every text's rankings
    (`rankings_of`). Whatever field and k are measured afterwards, this is computed once.

    batch_size, memory_budget_bytes: how texts are grouped into forward passes (see
    `capture_attention_batch`); RANK_CHUNK texts are captured per model at a time (`capture_pairs`).
    """
    importances = list(importances or IMPORTANCE)
    check_batching(batch_size, memory_budget_bytes)
    for name in importances:
        check_importance(name)
    if not items:
        raise InputError("The corpus is empty: give some tagged texts.")
    out = {}
    for variant in VARIANTS:
        texts = items if variant == "as given" else [with_prefix(item, prefix) for item in items]
        pairs = capture_pairs([item.text for item in texts], large, small, chunk=RANK_CHUNK, batch_size=batch_size,
                              memory_budget_bytes=memory_budget_bytes)
        out[variant] = [rankings_of({name: contrast_maps(a, b, spans=item.spans, importance=name, distance=distance)
                                     for name in importances})
                        for item, (a, b) in zip(texts, pairs)]
    return out


def measure_clue_quality(rankings: Mapping[str, list[dict[str, Ranking]]], *, field: str = "name",
                         k: int = 5) -> pd.DataFrame:
    """One row per (ranking, texts as given / moved) of `clue_rankings`: see the module docstring."""
    _check_measure(field, k, any(field in ranking.fields for text in rankings["as given"] for ranking in text.values()))
    rows = []
    for variant, per_text in rankings.items():
        names = list(dict.fromkeys(name for text in per_text for name in text))
        for name in names:
            found = [text[name] for text in per_text if name in text]
            rows.append({"ranking": name, "texts": variant, **_measure(found, field, k)})
    return pd.DataFrame(rows, columns=COLUMNS)


# many parameters: clue_rankings' options plus the field and k measured, by keyword
def clue_quality(large, small, items: Sequence[TaggedText], *, field: str = "name", k: int = 5,
                 importances: Sequence[str] | None = None, distance: int = DEFAULT_DISTANCE,
                 prefix: str = NEUTRAL_PREFIX, batch_size: int | None = None,
                 memory_budget_bytes: float | None = None) -> pd.DataFrame:
    """One row per (ranking, texts as given / moved): see the module docstring for the columns."""
    _check_measure(field, k, any(item.span(field) for item in items))  # before any model runs
    rankings = clue_rankings(large, small, items, importances=importances, distance=distance, prefix=prefix,
                             batch_size=batch_size, memory_budget_bytes=memory_budget_bytes)
    return measure_clue_quality(rankings, field=field, k=k)


def _check_measure(field: str, k: int, field_present: bool) -> None:
    if k < 1:
        raise InputError(f"k = {k}: look at the top 1 or more clues.")
    if not field_present:
        raise InputError(f"No text has a <{field}> field: tag it, or choose another field.")


def _measure(rankings: list[Ranking], field: str, k: int) -> dict:
    """The columns of one row over `rankings` (one per text):
    - share_in_top_k: over the texts with a `field` unit, the share with one among the first k of the order;
    - first_rank_mean / _median: the 1-based rank of the first `field` unit in the order, over the texts
      where one is ranked at all (a text whose field units are all left out of the order counts as a
      miss in the share and has no first rank);
    - top_k_relative_position: over every top-k unit of every text, its index / (units − 1);
    - n_texts, n_with_field. A mean over nothing is NaN."""
    hits, first_ranks, positions, with_field = [], [], [], 0
    for ranking in rankings:
        top = ranking.order[:k]
        positions.extend(i / max(len(ranking.fields) - 1, 1) for i in top)
        field_units = {i for i, name in enumerate(ranking.fields) if name == field}
        if not field_units:
            continue
        with_field += 1
        hits.append(any(i in field_units for i in top))
        first = next((rank for rank, i in enumerate(ranking.order) if i in field_units), None)
        if first is not None:
            first_ranks.append(first + 1)
    return {"share_in_top_k": float(np.mean(hits)) if hits else float("nan"),
            "first_rank_mean": float(np.mean(first_ranks)) if first_ranks else float("nan"),
            "first_rank_median": float(np.median(first_ranks)) if first_ranks else float("nan"),
            "top_k_relative_position": float(np.mean(positions)) if positions else float("nan"),
            "n_texts": len(rankings), "n_with_field": with_field}


@dataclass
class DefinitionComparison:
    """One text ranked under every importance definition and the two controls (How it works, step 4).

    table: ranking, what it is, its top-k units, how many are name tokens (None without a tagged name),
    their mean relative position (0 = start, 1 = end); row_sum_max / total_max: the largest
    |large − small| over the ranked units of the reference code's row sum (None when the pair is
    compared per word) and of `total`."""

    table: pd.DataFrame
    row_sum_max: float | None
    total_max: float


def compare_definitions(results: Mapping[str, ContrastResult], *, has_name: bool, k: int = 5) -> DefinitionComparison:
    """`DefinitionComparison` of one text's contrast under each definition (`results`: name → result)."""
    rankings = rankings_of(results)
    result = results.get("total") or next(iter(results.values()))  # every definition ranks the same units
    last = max(len(result.clues) - 1, 1)
    rows = []
    for name, ranking in rankings.items():
        top = ranking.order[:k]
        rows.append({"ranking": name, "what it is": ranking_label(name),
                     f"top-{k}": " · ".join(result.clues[i].text.strip() or "␣" for i in top),
                     "name tokens": sum(result.clues[i].field == "name" for i in top) if has_name else None,
                     "mean position": float(np.mean([i / last for i in top])) if top else float("nan")})
    total = results.get("total")
    total_max = max((abs(total.clues[i].contrast) for i in rankings["total"].order), default=0.0) if total else 0.0
    row_sum_max = None
    if ROW_SUM in rankings:
        eligible = rankings[POSITION].order
        row_sum_max = float(np.max(np.abs(row_sum_difference(result)[eligible]))) if eligible else 0.0
    return DefinitionComparison(pd.DataFrame(rows), row_sum_max, float(total_max))


def ranking_label(name: str) -> str:
    if name in IMPORTANCE:
        return f"contrast · {IMPORTANCE[name].label}"
    return RANKING_LABELS.get(name, name)


# ---------------------------------------------------------------- the measured summary, as a table

SUMMARY_ORDER = (*IMPORTANCE, POSITION, ROW_SUM)


def summary_of(frames: Mapping[str, pd.DataFrame], labels: Mapping[str, str], *, field: str = "name",
               k: int = 5) -> dict:
    """A JSON-ready record of `clue_quality` tables, one per corpus: what the demo pair's build writes
    (build.json) and what the README and How it works show through `summary_markdown`."""
    return {"field": field, "k": k,
            "corpora": {name: {"label": labels[name], "rows": json_rows(frame)} for name, frame in frames.items()}}


def json_rows(frame: pd.DataFrame) -> list[dict]:
    """A clue-quality table's rows with NaN as None (JSON has no NaN)."""
    return [{key: (None if isinstance(value, float) and np.isnan(value) else value) for key, value in row.items()}
            for row in frame.to_dict("records")]


def summary_markdown(summary: dict) -> str:
    """The clue-quality summary as a markdown table: per ranking and corpus, the share of texts with a
    `field` token in the top-k as given (and with the text moved), and the top-k's mean relative position."""
    corpora = summary["corpora"]
    head = "| ranking | " + " | ".join(c["label"] for c in corpora.values()) + " |\n"
    head += "|---" * (len(corpora) + 1) + "|\n"
    lines = []
    for name in SUMMARY_ORDER:
        cells = [_summary_cell(corpus["rows"], name) for corpus in corpora.values()]
        if any(cells):
            label = f"contrast, `{name}`" if name in IMPORTANCE else ranking_label(name)
            lines.append(f"| {label} | " + " | ".join(c or "—" for c in cells) + " |")
    return head + "\n".join(lines) + "\n"


def _summary_cell(rows: list[dict], name: str) -> str | None:
    by_variant = {row["texts"]: row for row in rows if row["ranking"] == name}
    given, moved = by_variant.get("as given"), by_variant.get("moved")
    if given is None:
        return None
    cell = _percent(given["share_in_top_k"])
    if moved is not None:
        cell += f" (moved {_percent(moved['share_in_top_k'])})"
    if given.get("top_k_relative_position") is not None:
        cell += f", position {given['top_k_relative_position']:.2f}"
    return cell


def _percent(value) -> str:
    return "—" if value is None else f"{value:.0%}"
