"""Which fields the most-attended tokens belong to, rank by rank, over a corpus (the paper's
figures 2 and 3): at the word right before a fact, where the model must recall it, take the
top-k units attended FROM there — in the large model, the small one and their difference — and
count the field of each, per rank.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from clues.capture import AttentionMaps
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
