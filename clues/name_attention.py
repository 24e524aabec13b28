"""Attention to the name: how much each model looks back at a person's name before a fact.

The paper's figure 3 in numbers: at the word right before a fact (where the model must recall
it), the attention the large and the small model give to the name tokens (sum over the name's
units of the layer-and-head mean row, `clues.contrast.query_rows`), and how often a name token
is among the contrast top-k clues of the whole text. Used by the experiment (every fact field)
and by the demo-pair builder (the company only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from clues.capture import capture_pairs
from clues.contrast import contrast_maps, query_rows, unit_before_field
from clues.corpus import FACT_FIELDS
from clues.text import TaggedText

MODELS = ("large", "small")


@dataclass
class NameAttention:
    """Per fact field and model: the attention to the name of each text that states the field
    (lists of one field are aligned: entry i of "large" and of "small" is the same text)."""

    to_name: dict[str, dict[str, list[float]]]  # field → model → [texts stating the field]
    name_in_top_k: list[bool]  # per text
    top_k: int

    @property
    def texts(self) -> int:
        return len(self.name_in_top_k)

    def mean(self, field: str, model: str) -> float:
        values = self.to_name[field][model]
        return float(np.mean(values)) if values else float("nan")

    def large_more_share(self, field: str) -> float:
        """Share of the texts where the large model gives the name more attention than the small one."""
        pairs = list(zip(self.to_name[field]["large"], self.to_name[field]["small"]))
        return sum(a > b for a, b in pairs) / len(pairs) if pairs else float("nan")

    def top_k_share(self) -> float:
        return float(np.mean(self.name_in_top_k)) if self.name_in_top_k else float("nan")


def measure_name_attention(large, small, people: Sequence[TaggedText], *,
                           fields: Sequence[str] = FACT_FIELDS, top_k: int = 5) -> NameAttention:
    """Contrast each person's biography with the loaded pair (captured in batches) and measure, at the word before each
    of `fields`, the attention both models give the name tokens."""
    to_name = {f: {m: [] for m in MODELS} for f in fields}
    top_hits = []
    people = list(people)
    for person, (large_maps, small_maps) in zip(people, capture_pairs([p.text for p in people], large, small)):
        result = contrast_maps(large_maps, small_maps, spans=person.spans)
        names = np.array([c.field == "name" for c in result.clues])
        top_hits.append(any(c.field == "name" for c in result.top(top_k)))
        for field_name in fields:
            query = unit_before_field(result, person, field_name)
            if query is None:
                continue
            rows = query_rows(result, query)
            for model in MODELS:
                to_name[field_name][model].append(float(rows[model][names].sum()))
    return NameAttention(to_name, top_hits, top_k)
