"""Which fields the most-attended tokens belong to, rank by rank, over a corpus (the paper's
figures 2 and 3): at the word right before a fact, where the model must recall it, take the
top-k units attended FROM there — in the large model, the small one and their difference — and
count the field of each, per rank.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from clues import FIELDS
from clues.capture import AttentionMaps, capture_pairs
from clues.contrast import ContrastResult, contrast_maps, query_rows, unit_before_field
from clues.text import TaggedText

OTHER = "other"  # the field of a unit outside every tagged field
RANKED_VIEWS = ("large", "small", "difference")


def field_ranks(result: ContrastResult, query: int, k: int) -> dict[str, list[str]]:
    """For the views large, small and difference: the fields of the top-k units attended FROM
    `query`, strongest first ("other" outside every field).

    The query itself, special tokens and the attention sink (units the ranking leaves out) are
    not counted; fewer than k units before the query give a shorter list.
    """
    rows = query_rows(result, query)
    eligible = np.array([c.index for c in result.clues if c.rank is not None and c.index < query], dtype=np.int64)
    out = {}
    for view in RANKED_VIEWS:
        if eligible.size == 0:
            out[view] = []
            continue
        values = rows[view][eligible]
        order = eligible[np.argsort(-values, kind="stable")][:k]
        out[view] = [result.clues[i].field or OTHER for i in order]
    return out


def text_field_ranks(large_maps: AttentionMaps, small_maps: AttentionMaps, item: TaggedText, field: str,
                     k: int) -> dict[str, list[str]] | None:
    """field_ranks at the unit before `field` in one tagged text; None when the text lacks it."""
    result = contrast_maps(large_maps, small_maps, view="mean", spans=item.spans)
    query = unit_before_field(result, item, field)
    if query is None:
        return None
    return field_ranks(result, query, k)


def count_field_ranks(per_text: Sequence[dict | None], k: int, fields: Sequence[str]) -> dict[str, np.ndarray]:
    """[k, len(fields)] counts per view: how many texts have a token of each field at each rank."""
    index = {f: i for i, f in enumerate(fields)}
    counts = {view: np.zeros((k, len(fields)), dtype=np.int64) for view in RANKED_VIEWS}
    for ranks in per_text:
        if not ranks:
            continue
        for view, names in ranks.items():
            for rank, name in enumerate(names[:k]):
                counts[view][rank, index.get(name, index.get(OTHER, 0))] += 1
    return counts


@dataclass
class FieldRankCounts:
    """The fields of the top-k units attended from the word before `field`, counted over a corpus.

    counts: view (RANKED_VIEWS) → [k, len(fields)] texts with a unit of each field at each rank
    """

    field: str
    k: int
    fields: list[str]
    counts: dict[str, np.ndarray]
    texts: int  # texts that state the field and were counted

    def share(self, view: str, field: str = "name") -> float:
        """Share of all top-k slots of `view` that hold a unit of `field`."""
        table = self.counts[view]
        return float(table[:, self.fields.index(field)].sum() / max(1, table.sum()))

    def first_share(self, view: str, field: str = "name") -> float:
        """Share of the texts whose rank-0 unit (the most attended) in `view` belongs to `field`."""
        first = self.counts[view][0]
        return float(first[self.fields.index(field)] / max(1, first.sum()))

    def frame(self) -> pd.DataFrame:
        """One row per view and rank (0 = the most attended, as every rank in the app): the count of each field."""
        return pd.DataFrame([{"view": view, "rank": rank,
                              **{f: int(table[rank, i]) for i, f in enumerate(self.fields)}}
                             for view, table in self.counts.items() for rank in range(self.k)])


def corpus_field_ranks(large, small, items: Sequence[TaggedText], field: str, k: int, *,
                       batching: dict | None = None) -> FieldRankCounts:
    """`count_field_ranks` over the texts of `items` that state `field`, captured in batches
    (`capture_pairs`; batching: its batch_size / memory_budget_bytes)."""
    stating = [item for item in items if item.span(field) is not None]
    pairs = capture_pairs([item.text for item in stating], large, small, **(batching or {}))
    per_text = [text_field_ranks(a, b, item, field, k) for item, (a, b) in zip(stating, pairs)]
    fields = [*FIELDS, OTHER]
    return FieldRankCounts(field, k, fields, count_field_ranks(per_text, k, fields), sum(1 for r in per_text if r))
