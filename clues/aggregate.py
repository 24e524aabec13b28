"""A small registry of ways to turn captured attention into one [T, T] map, and of turning a
map into a per-token importance.

A new aggregation is one function plus its decorator; the UI lists `MAP_AGGREGATIONS`.
"""

from __future__ import annotations

from typing import Callable

import torch

from clues.capture import AttentionMaps
from clues.errors import InputError

MAP_AGGREGATIONS: dict[str, Callable[[AttentionMaps], torch.Tensor]] = {}


def register_map(name: str):
    def decorate(function):
        MAP_AGGREGATIONS[name] = function
        return function
    return decorate


@register_map("mean")
def mean_map(maps: AttentionMaps) -> torch.Tensor:
    """[T, T] attention averaged over every layer and head."""
    return maps.mean


@register_map("max")
def max_map(maps: AttentionMaps) -> torch.Tensor:
    """[T, T] the strongest head of each layer, averaged over layers."""
    return maps.max_heads


@register_map("rollout")
def rollout_map(maps: AttentionMaps) -> torch.Tensor:
    """[T, T] attention rollout: how much each token flows into each later one through layers."""
    if maps.rollout is None:
        raise InputError("Rollout was not captured: capture with rollout=True to use it.")
    return maps.rollout


def aggregate(maps: AttentionMaps, name: str = "mean") -> torch.Tensor:
    if name not in MAP_AGGREGATIONS:
        raise InputError(f"Unknown aggregation {name!r}; choose one of {', '.join(MAP_AGGREGATIONS)}.")
    return MAP_AGGREGATIONS[name](maps)


def layer_map(maps: AttentionMaps, layer: int, head: int | None = None) -> torch.Tensor:
    """[T, T] one layer's head-mean map, or one head of the layer whose heads were captured."""
    if head is not None:
        if maps.heads is None or maps.head_layer != layer:
            raise InputError(f"Heads of layer {layer} were not captured: capture with heads_of_layer={layer}.")
        return maps.heads[head]
    if maps.per_layer is None:
        raise InputError("Per-layer maps were not captured: capture with per_layer=True.")
    return maps.per_layer[layer]
