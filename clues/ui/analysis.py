"""Pure helpers between the core and the pages: views of the captured maps, per-word maps,
the corpus field-rank count, drop masks, memory guesses and run progress.

No streamlit here (the cached wrappers live in `clues.ui.cache`), so all of it is testable
on its own.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch

from clues.aggregate import aggregate, layer_map
from clues.capture import AttentionMaps
from clues.contrast import ContrastResult, contrast_maps, query_rows, token_to_unit, unit_before
from clues.errors import InputError

VIEWS = {
    "mean": "mean of all layers and heads",
    "max": "strongest head of each layer, averaged over layers",
    "rollout": "attention rollout through the layers",
    "layer": "one layer (mean of its heads)",
    "head": "one head of one layer",
}
OTHER = "other"


def map_layer(layer: int, n_from: int, n_to: int) -> int:
    """The layer of a model with `n_to` layers at the same relative depth as `layer` of `n_from`."""
    if n_from <= 1 or n_to <= 1:
        return 0
    return int(round(layer * (n_to - 1) / (n_from - 1)))


@dataclass(frozen=True)
class ViewSpec:
    """Which [T, T] map of each model a view shows (layer and head given per model)."""

    view: str = "mean"
    large_layer: int | None = None
    small_layer: int | None = None
    large_head: int | None = None
    small_head: int | None = None

    def heads_of_layer(self, which: str) -> int | None:
        """The layer whose heads must be captured for this view, or None."""
        return (self.large_layer if which == "large" else self.small_layer) if self.view == "head" else None

    def describe(self) -> str:
        if self.view == "layer":
            return f"layer {self.large_layer} of the large model, layer {self.small_layer} of the small one"
        if self.view == "head":
            return (f"head {self.large_head} of layer {self.large_layer} (large), "
                    f"head {self.small_head} of layer {self.small_layer} (small)")
        return VIEWS.get(self.view, self.view)


def view_spec(view: str, layer: int, head: int, large_shape: tuple[int, int],
              small_shape: tuple[int, int]) -> ViewSpec:
    """A ViewSpec from one layer/head choice on the large model, mapped onto the small model by
    relative depth (layers) and clamped (heads). Shapes are (n_layers, n_heads)."""
    if view not in VIEWS:
        raise InputError(f"Unknown view {view!r}; choose one of {', '.join(VIEWS)}.")
    if view not in ("layer", "head"):
        return ViewSpec(view)
    layer = min(max(int(layer), 0), large_shape[0] - 1)
    small_layer = map_layer(layer, large_shape[0], small_shape[0])
    if view == "layer":
        return ViewSpec(view, layer, small_layer)
    head = max(int(head), 0)
    return ViewSpec(view, layer, small_layer, min(head, large_shape[1] - 1), min(head, small_shape[1] - 1))


def view_matrix(maps: AttentionMaps, spec: ViewSpec, which: str) -> torch.Tensor:
    """The [T, T] map `spec` shows for model `which` ("large" or "small")."""
    if spec.view in ("layer", "head"):
        layer = spec.large_layer if which == "large" else spec.small_layer
        head = (spec.large_head if which == "large" else spec.small_head) if spec.view == "head" else None
        return layer_map(maps, layer, head)
    return aggregate(maps, spec.view)


def with_matrix(maps: AttentionMaps, matrix: torch.Tensor) -> AttentionMaps:
    """A copy of `maps` whose layer-and-head mean is `matrix`, so the core's contrast, ranking and
    query rows (which read the "mean" aggregation) work on any view."""
    return replace(maps, mean=matrix)


def unit_matrix(result: ContrastResult, maps: AttentionMaps, matrix: torch.Tensor) -> np.ndarray:
    """[U, U] map over the result's units. Per token it is `matrix`; per word a word's row is
    the row of its last token (the one that has read the whole word), summed into words."""
    dense = matrix.double().numpy()
    if result.level == "token":
        return dense
    units = [(c.start, c.end) for c in result.clues]
    owner = token_to_unit(maps.offsets, units, maps.text)
    n = len(units)
    assign = np.zeros((len(owner), n))
    keep = owner >= 0
    assign[np.nonzero(keep)[0], owner[keep]] = 1.0
    last = np.full(n, -1)
    for token, unit in enumerate(owner):
        if unit >= 0:
            last[unit] = token
    out = np.zeros((n, n))
    has = last >= 0
    out[has] = dense[last[has]] @ assign
    return out


@dataclass
class View:
    """Everything the explorer shows for one pair, text and view."""

    spec: ViewSpec
    result: ContrastResult  # ranking under this view (clues, level, both maps with the view as "mean")
    large: np.ndarray  # [U, U] the large model's map over the result's units
    small: np.ndarray  # [U, U]
    tokens: list[str]  # the units' texts

    @property
    def difference(self) -> np.ndarray:
        return self.large - self.small


def build_view(large_maps: AttentionMaps, small_maps: AttentionMaps, spec: ViewSpec, spans=()) -> View:
    large_matrix = view_matrix(large_maps, spec, "large")
    small_matrix = view_matrix(small_maps, spec, "small")
    large_view, small_view = with_matrix(large_maps, large_matrix), with_matrix(small_maps, small_matrix)
    result = contrast_maps(large_view, small_view, aggregation="mean", spans=spans)
    return View(spec, result, unit_matrix(result, large_view, large_matrix),
                unit_matrix(result, small_view, small_matrix), [c.text for c in result.clues])


def ranked_table(result: ContrastResult, limit: int | None = None):
    """The ranked units as a DataFrame: rank (1 = strongest clue), token, field, large, small, contrast."""
    import pandas as pd

    rows = [{"rank": c.rank + 1, "token": c.text, "field": c.field or "", "large": c.large, "small": c.small,
             "contrast": c.contrast, "position": c.index} for c in result.ranked()[:limit]]
    return pd.DataFrame(rows, columns=["rank", "token", "field", "large", "small", "contrast", "position"])


def received(result: ContrastResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    large = np.array([c.large for c in result.clues])
    small = np.array([c.small for c in result.clues])
    return large, small, large - small


def default_query(result: ContrastResult, item, field: str) -> int | None:
    """The unit right before `field`'s value (where the model must recall it), or None."""
    span = item.span(field) if item is not None else None
    if span is None:
        return None
    return unit_before(result, span.start)


# -- corpus: which fields the top-k attended tokens belong to ------------------------------

def field_ranks(result: ContrastResult, query: int, k: int) -> dict[str, list[str]]:
    """For the views large, small and difference: the fields of the top-k units attended FROM
    `query`, strongest first ("other" outside every field).

    The query itself, special tokens and the attention sink (units the ranking leaves out) are
    not counted; fewer than k units before the query give a shorter list.
    """
    rows = query_rows(result, query)
    eligible = np.array([c.index for c in result.clues if c.rank is not None and c.index < query], dtype=np.int64)
    out = {}
    for view in ("large", "small", "difference"):
        if eligible.size == 0:
            out[view] = []
            continue
        values = rows[view][eligible]
        order = eligible[np.argsort(-values, kind="stable")][:k]
        out[view] = [result.clues[i].field or OTHER for i in order]
    return out


def text_field_ranks(large_maps: AttentionMaps, small_maps: AttentionMaps, item, field: str, k: int):
    """field_ranks at the unit before `field` in one tagged text; None when the text lacks it."""
    result = contrast_maps(large_maps, small_maps, aggregation="mean", spans=item.spans)
    query = default_query(result, item, field)
    if query is None:
        return None
    return field_ranks(result, query, k)


def count_field_ranks(per_text: Sequence[dict | None], k: int, fields: Sequence[str]) -> dict[str, np.ndarray]:
    """[k, len(fields)] counts per view: how many texts have a token of each field at each rank."""
    index = {f: i for i, f in enumerate(fields)}
    counts = {view: np.zeros((k, len(fields)), dtype=np.int64) for view in ("large", "small", "difference")}
    for ranks in per_text:
        if not ranks:
            continue
        for view, names in ranks.items():
            for rank, name in enumerate(names[:k]):
                counts[view][rank, index.get(name, index.get(OTHER, 0))] += 1
    return counts


# -- augmentation ------------------------------------------------------------------------

def drop_masks(ranked, probabilities: np.ndarray, copies: int, seed: int) -> np.ndarray:
    """[K, U] which units each copy drops, exactly as `augment_ranked` drops them with this seed.

    Read back from the "space" style (a dropped unit's characters become spaces, everything keeps
    its place), so it follows the core's random draw whatever that is; the draw comes before the
    style, so the same seed drops the same units in every style.
    """
    from clues.augment import augment_ranked

    versions = augment_ranked([ranked], [probabilities], copies=copies, seed=seed, style="space")[0][1:]
    masks = np.zeros((copies, len(ranked.starts)), dtype=bool)
    for k, version in enumerate(versions):
        for u, (start, end) in enumerate(zip(ranked.starts.tolist(), ranked.ends.tolist())):
            masks[k, u] = end > start and not version[start:end].strip()
    return masks


# -- memory -------------------------------------------------------------------------------

_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*([bBmM])(?![a-zA-Z])")
_BYTES = {"float32": 4, "fp32": 4, "bfloat16": 2, "bf16": 2, "float16": 2, "fp16": 2}
KNOWN_SIZES = {"gpt2": 124e6, "gpt2-medium": 355e6, "gpt2-large": 774e6, "gpt2-xl": 1.56e9}


def guess_parameters(ref: str) -> float | None:
    """Parameters guessed from a hub id such as "Qwen2.5-7B" or "pythia-160m"; None if unknown."""
    name = ref.rstrip("/").split("/")[-1].lower()
    if name in KNOWN_SIZES:
        return KNOWN_SIZES[name]
    match = None
    for match in _SIZE.finditer(name.replace("_", "-")):
        pass  # the last size-looking token wins ("llama-3-8b")
    if match is None:
        return None
    value, unit = float(match.group(1)), match.group(2).lower()
    return value * (1e9 if unit == "b" else 1e6)


def memory_estimate(ref: str, dtype: str, measured: int | None) -> tuple[float | None, str]:
    """(bytes the weights need, how it was found): measured from the files, or guessed from the
    name at the chosen dtype (auto counts as float32 on a CPU)."""
    if measured:
        return float(measured), "from the weight files"
    params = guess_parameters(ref)
    if params is None:
        return None, "unknown"
    return params * _BYTES.get(dtype, 4), "guessed from the name"


def human_count(value: float) -> str:
    """37 k, 3.4 M, 1.2 B."""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.1f} {unit}" if value < 10 * size else f"{value / size:.0f} {unit}"
    return f"{value:.0f}"


def human_bytes(value: float | None) -> str:
    if value is None:
        return "unknown"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


# -- training progress ----------------------------------------------------------------------

def total_steps(n_rows: int, batch_size: int, epochs: int) -> int:
    return max(1, math.ceil(n_rows / max(1, batch_size))) * max(1, epochs)


def progress(step: int | None, total: int, elapsed_s: float | None) -> tuple[float, float | None]:
    """(fraction done, seconds left or None), from the last logged step and the time it took."""
    done = min(1.0, max(0.0, (step or 0) / total)) if total else 0.0
    if not step or elapsed_s is None or elapsed_s <= 0 or done <= 0:
        return done, None
    return done, elapsed_s * (1 - done) / done


def human_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
