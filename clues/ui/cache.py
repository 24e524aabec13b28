"""Cached wrappers around the core for the pages.

Models are kept with st.cache_resource (one copy per process); attention captures and views
with st.cache_resource as well (tensors, no pickling), keyed on the model spec and the text,
so moving a slider that only changes probabilities never runs a model again. Small, picklable
results (corpus counts, parsed uploads) use st.cache_data.
"""

from __future__ import annotations

import gc
import io
from dataclasses import dataclass

import streamlit as st

from clues import fields_by_rank
from clues.augment import models_needed, rank_text
from clues.capture import capture_attention
from clues.clue_quality import clue_rankings
from clues.contrast import contrast_view
from clues.corpus import generate_biographies, read_tagged_csv
from clues.importance import DEFAULT_DISTANCE, DEFAULT_IMPORTANCE
from clues.memory import local_memory_estimate
from clues.models import load_model
from clues.views import ViewSpec

# The libraries imported by now (torch, transformers, plotly, streamlit: ~430,000 objects) live as long
# as the server. Frozen, Python's full collections, which run on their own every so many allocations,
# no longer visit them: 0.17 CPU-s each, a spike on one slider move in ~20 otherwise (bench_class.py).
gc.freeze()


@dataclass(frozen=True)
class ModelSpec:
    ref: str
    device: str = "auto"
    dtype: str = "auto"
    trust_remote_code: bool = False

    @property
    def key(self) -> tuple:
        return (self.ref, self.device, self.dtype, self.trust_remote_code)


@dataclass(frozen=True)
class PairSpec:
    large: ModelSpec
    small: ModelSpec
    label: str = ""

    @property
    def key(self) -> tuple:
        return (self.large.key, self.small.key)


@st.cache_resource(show_spinner=False, max_entries=6)
def load(ref: str, device: str, dtype: str, trust_remote_code: bool):
    return load_model(ref, device=None if device == "auto" else device, dtype=dtype,
                      trust_remote_code=trust_remote_code)


def load_spec(spec: ModelSpec):
    return load(spec.ref, spec.device, spec.dtype, spec.trust_remote_code)


@st.cache_resource(show_spinner=False, max_entries=48)
def capture(model_key: tuple, text: str, heads_of_layer: int | None, max_tokens: int | None, _loaded):
    """Every map the views need from one forward pass (per layer and rollout always)."""
    return capture_attention(_loaded, text, per_layer=True, rollout=True, heads_of_layer=heads_of_layer,
                             max_tokens=max_tokens)


@st.cache_resource(show_spinner=False, max_entries=48)
def view(pair_key: tuple, tagged: str, spec: ViewSpec, max_tokens: int | None, _large, _small, _item,
         importance: str = DEFAULT_IMPORTANCE, distance: int = DEFAULT_DISTANCE):
    """The explorer's ContrastView (contrast ranking under the view and the importance
    definition, both maps over its units) for one pair and text."""
    large_maps = capture(pair_key[0], _item.text, spec.heads_of_layer("large"), max_tokens, _large)
    small_maps = capture(pair_key[1], _item.text, spec.heads_of_layer("small"), max_tokens, _small)
    return contrast_view(large_maps, small_maps, spec, _item.spans, importance=importance, distance=distance)


@st.cache_resource(show_spinner=False, max_entries=48)
def ranked(pair_key: tuple, tagged: str, ranking: str | None, own: str, max_tokens: int | None, _large, _small,
           _item, importance: str = DEFAULT_IMPORTANCE, distance: int = DEFAULT_DISTANCE):
    """`clues.augment.rank_text` of one text — the ranking `clues augment` gives it — on the captures
    the explorer caches. own: the model trained ("small" or "large": its attention, its tokens)."""
    loaded = {"large": _large, "small": _small}
    maps = {name: capture(pair_key[0 if name == "large" else 1], _item.text, None, max_tokens, loaded[name])
            for name in models_needed(ranking, own)}
    return rank_text(_item, ranking, maps, own=own, tokenizer=loaded[own].tokenizer, importance=importance,
                     distance=distance)


@st.cache_resource(show_spinner=False, max_entries=8)
def quality_rankings(pair_key: tuple, tagged: tuple[str, ...], distance: int, _large, _small, _items):
    """`clues.clue_quality.clue_rankings` of a corpus (every importance definition, position and the
    row-sum mistake; texts as given and moved), cached per pair, corpus (its tagged texts) and
    far_mean's distance: choosing another field or k only measures again (read-only)."""
    return clue_rankings(_large, _small, list(_items), distance=distance)


@st.cache_resource(show_spinner=False, max_entries=16)
def corpus_field_ranks(pair_key: tuple, tagged: tuple[str, ...], field: str, k: int, _large, _small, _items):
    """`clues.fields_by_rank.corpus_field_ranks` of a corpus (batched capture), cached per pair, corpus
    (its tagged texts), fact and k (read-only)."""
    return fields_by_rank.corpus_field_ranks(_large, _small, list(_items), field, k)


@st.cache_data(show_spinner=False, max_entries=16)
def read_upload(data: bytes, name: str) -> list:
    """The biographies of an uploaded tagged CSV (raises InputError with the file's problem)."""
    handle = io.BytesIO(data)
    handle.name = name
    return list(read_tagged_csv(handle))


@st.cache_data(show_spinner=False, max_entries=32)
def generated(n: int, seed: int, varied: bool = True) -> list:
    return generate_biographies(n, seed=seed, varied=varied)


@st.cache_data(show_spinner=False, max_entries=16)
def memory_estimate(ref: str, dtype: str, modified: float | None) -> tuple[float | None, str]:
    """`clues.memory.local_memory_estimate`, cached per model, precision and version of its files
    (`modified`: their folder's or file's modification time, None when not local)."""
    return local_memory_estimate(ref, dtype)
