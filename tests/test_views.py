"""The one registry of views of the captured maps, and per-model layer/head choices."""

import pytest
import torch

from clues.capture import capture_attention
from clues.errors import InputError
from clues.models import load_model
from clues.views import VIEWS, ViewSpec, as_spec, map_layer, view_matrix, view_spec

from tiny import tiny_model_dir

TEXT = "Liam Thompson was born on January 5, 1990 in Melbourne."


def test_view_spec_maps_layers_and_heads_onto_the_small_model():
    assert [map_layer(layer, 6, 2) for layer in range(6)] == [0, 0, 0, 1, 1, 1]
    spec = view_spec("head", 5, 7, (6, 8), (2, 4))
    assert (spec.large_layer, spec.small_layer, spec.large_head, spec.small_head) == (5, 1, 7, 3)
    assert spec.heads_of_layer("small") == 1
    assert view_spec("max", 5, 7, (6, 8), (2, 4)).heads_of_layer("large") is None


def test_the_registry_lists_every_view_once():
    assert list(VIEWS) == ["mean", "max", "rollout", "layer", "head"]
    assert all(view.description for view in VIEWS.values())
    assert [name for name, view in VIEWS.items() if view.needs_layer] == ["layer", "head"]
    with pytest.raises(InputError, match="Unknown view 'nonsense'"):
        view_spec("nonsense", 0, 0, (2, 2), (2, 2))
    with pytest.raises(InputError, match="needs a layer"):
        view_matrix(None, "layer")


def test_each_view_reads_its_map(tmp_path):
    loaded = load_model(tiny_model_dir(tmp_path, "llama", layers=3, seed=1))
    maps = capture_attention(loaded, TEXT, per_layer=True, heads_of_layer=2, rollout=True)
    assert view_matrix(maps, "mean") is maps.mean
    assert view_matrix(maps, "max") is maps.max_heads
    assert view_matrix(maps, "rollout") is maps.rollout
    spec = ViewSpec("layer", large_layer=2, small_layer=1)
    torch.testing.assert_close(view_matrix(maps, spec, "large"), maps.per_layer[2])
    torch.testing.assert_close(view_matrix(maps, spec, "small"), maps.per_layer[1])
    head = ViewSpec("head", large_layer=2, small_layer=0, large_head=1, small_head=0)
    torch.testing.assert_close(view_matrix(maps, head, "large"), maps.heads[1])
    assert head.capture_options("small") == {"heads_of_layer": 0}
    with pytest.raises(InputError, match="Heads of layer 0 were not captured"):
        view_matrix(maps, head, "small")
    lean = capture_attention(loaded, TEXT)
    with pytest.raises(InputError, match="Rollout was not captured"):
        view_matrix(lean, as_spec("rollout"))
