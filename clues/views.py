"""Views of the captured attention: the one registry of ways to read a [T, T] map out of an
`AttentionMaps` — the mean of all layers and heads, the strongest head per layer, attention
rollout, one layer, one head.

A view is a name → (description, function of (maps, layer, head) → [T, T]); a new one is one
function plus its decorator, and the UI and the CLI list `VIEWS`. The contrast ranks a view's
maps directly (`clues.contrast.contrast_maps(..., view=...)`).

Two models of one family may differ in depth and width, so a choice of layer and head on the
large model is carried over to the small one by relative depth (layers) and clamped (heads):
`view_spec` builds that pair of choices, a `ViewSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from clues.capture import AttentionMaps
from clues.errors import InputError

MapFunction = Callable[[AttentionMaps, int | None, int | None], torch.Tensor]


@dataclass(frozen=True)
class View:
    """One entry of the registry: how to read a [T, T] map out of the captured maps."""

    name: str
    description: str
    matrix: MapFunction  # (maps, layer, head) → [T, T]
    needs_layer: bool = False
    needs_head: bool = False
    captures: str | None = None  # what capture_attention must keep: "rollout", "per_layer" or "heads"


VIEWS: dict[str, View] = {}


def register_view(name: str, description: str, *, needs_layer: bool = False, needs_head: bool = False,
                  captures: str | None = None):
    def decorate(function: MapFunction) -> MapFunction:
        VIEWS[name] = View(name, description, function, needs_layer, needs_head, captures)
        return function
    return decorate


@register_view("mean", "mean of all layers and heads")
def mean_map(maps: AttentionMaps, layer: int | None = None, head: int | None = None) -> torch.Tensor:
    """[T, T] attention averaged over every layer and head."""
    return maps.mean


@register_view("max", "strongest head of each layer, averaged over layers")
def max_map(maps: AttentionMaps, layer: int | None = None, head: int | None = None) -> torch.Tensor:
    """[T, T] the strongest head of each layer, averaged over layers."""
    return maps.max_heads


@register_view("rollout", "attention rollout through the layers", captures="rollout")
def rollout_map(maps: AttentionMaps, layer: int | None = None, head: int | None = None) -> torch.Tensor:
    """[T, T] attention rollout: how much each token flows into each later one through layers."""
    if maps.rollout is None:
        raise InputError("Rollout was not captured: capture with rollout=True to use it.")
    return maps.rollout


@register_view("layer", "one layer (mean of its heads)", needs_layer=True, captures="per_layer")
def layer_map(maps: AttentionMaps, layer: int | None, head: int | None = None) -> torch.Tensor:
    """[T, T] one layer's head-mean map."""
    if layer is None:
        raise InputError("The layer view needs a layer number.")
    if maps.per_layer is None:
        raise InputError("Per-layer maps were not captured: capture with per_layer=True.")
    if not 0 <= layer < maps.per_layer.shape[0]:
        raise InputError(f"Layer {layer} is outside the model (layers 0–{maps.per_layer.shape[0] - 1}).")
    return maps.per_layer[layer]


@register_view("head", "one head of one layer", needs_layer=True, needs_head=True, captures="heads")
def head_map(maps: AttentionMaps, layer: int | None, head: int | None) -> torch.Tensor:
    """[T, T] one head of the layer whose heads were captured."""
    if layer is None or head is None:
        raise InputError("The head view needs a layer and a head number.")
    if maps.heads is None or maps.head_layer != layer:
        raise InputError(f"Heads of layer {layer} were not captured: capture with heads_of_layer={layer}.")
    if not 0 <= head < maps.heads.shape[0]:
        raise InputError(f"Head {head} is outside layer {layer} (heads 0–{maps.heads.shape[0] - 1}).")
    return maps.heads[head]


def check_view(name: str) -> View:
    """The registry entry of `name`, or an InputError listing the views."""
    if name not in VIEWS:
        raise InputError(f"Unknown view {name!r}; choose one of {', '.join(VIEWS)}.")
    return VIEWS[name]


def map_layer(layer: int, n_from: int, n_to: int) -> int:
    """The layer of a model with `n_to` layers at the same relative depth as `layer` of `n_from`."""
    if n_from <= 1 or n_to <= 1:
        return 0
    return int(round(layer * (n_to - 1) / (n_from - 1)))


@dataclass(frozen=True)
class ViewSpec:
    """Which [T, T] map of each model of a pair a view shows (layer and head given per model)."""

    name: str = "mean"
    large_layer: int | None = None
    small_layer: int | None = None
    large_head: int | None = None
    small_head: int | None = None

    def layer_of(self, which: str) -> int | None:
        return self.large_layer if which == "large" else self.small_layer

    def head_of(self, which: str) -> int | None:
        return self.large_head if which == "large" else self.small_head

    def heads_of_layer(self, which: str) -> int | None:
        """The layer whose heads must be captured for this view, or None."""
        return self.layer_of(which) if check_view(self.name).captures == "heads" else None

    def capture_options(self, which: str) -> dict:
        """The `capture_attention` options model `which` needs for this view (empty: the default
        capture is enough)."""
        captures = check_view(self.name).captures
        if captures == "heads":
            return {"heads_of_layer": self.layer_of(which)}
        return {captures: True} if captures else {}

    def describe(self, which: str | None = None) -> str:
        """What the view shows; with `which` ("large" or "small"), for that model alone (a figure's title)."""
        if which is not None and self.name == "layer":
            return f"layer {self.layer_of(which)}"
        if which is not None and self.name == "head":
            return f"head {self.head_of(which)} of layer {self.layer_of(which)}"
        if which is not None and self.name in VIEWS:
            return self.name
        if self.name == "layer":
            return f"layer {self.large_layer} of the large model, layer {self.small_layer} of the small one"
        if self.name == "head":
            return (f"head {self.large_head} of layer {self.large_layer} (large), "
                    f"head {self.small_head} of layer {self.small_layer} (small)")
        return VIEWS[self.name].description if self.name in VIEWS else self.name


def as_spec(view: str | ViewSpec) -> ViewSpec:
    """A ViewSpec from a view name (views that need no layer or head) or a ViewSpec, checked."""
    spec = view if isinstance(view, ViewSpec) else ViewSpec(view)
    check_view(spec.name)
    return spec


def view_spec(view: str, layer: int, head: int, large_shape: tuple[int, int],
              small_shape: tuple[int, int]) -> ViewSpec:
    """A ViewSpec from one layer/head choice on the large model, mapped onto the small model by
    relative depth (layers) and clamped (heads). Shapes are (n_layers, n_heads)."""
    entry = check_view(view)
    if not entry.needs_layer:
        return ViewSpec(view)
    layer = min(max(int(layer), 0), large_shape[0] - 1)
    small_layer = map_layer(layer, large_shape[0], small_shape[0])
    if not entry.needs_head:
        return ViewSpec(view, layer, small_layer)
    head = max(int(head), 0)
    return ViewSpec(view, layer, small_layer, min(head, large_shape[1] - 1), min(head, small_shape[1] - 1))


def view_matrix(maps: AttentionMaps, view: str | ViewSpec, which: str = "large") -> torch.Tensor:
    """The [T, T] map `view` shows for model `which` ("large" or "small") of the pair."""
    spec = as_spec(view)
    return VIEWS[spec.name].matrix(maps, spec.layer_of(which), spec.head_of(which))
