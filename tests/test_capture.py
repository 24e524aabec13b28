"""Lean capture matches a brute-force computation from output_attentions, on every architecture."""

import pytest
import torch
from transformers import AttentionInterface

import clues.capture as capture
from clues.capture import capture_attention
from clues.errors import InputError
from clues.importance import received_attention
from clues.models import load_model

from tiny import ARCHITECTURES, tiny_model_dir

TEXT = ("Liam Thompson was born on January 5, 1990. He spent his early years in Melbourne, Australia. "
        "He had a professional role at the British Museum.")


@pytest.fixture(scope="module", params=ARCHITECTURES)
def loaded(request, tmp_path_factory):
    folder = tiny_model_dir(tmp_path_factory.mktemp(request.param), request.param, layers=3)
    return load_model(folder)


def brute_force(loaded, input_ids):
    """[L, H, T, T] every weight at once, the way other tools do it."""
    model = loaded.model
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    with torch.no_grad():
        out = model(input_ids=input_ids[None], output_attentions=True, use_cache=False)
    model.set_attn_implementation(previous)
    return torch.stack([a[0] for a in out.attentions]).float()


def brute_rollout(per_layer):
    result = None
    for layer in per_layer:
        mixed = 0.5 * layer + 0.5 * torch.eye(layer.shape[0])
        mixed = mixed / mixed.sum(-1, keepdim=True)
        result = mixed if result is None else mixed @ result
    return result


@pytest.fixture(params=["one block", "many blocks", "hook fallback"])
def path(request, monkeypatch):
    """The three ways a capture can run: block-wise in one block or in blocks of 3 query rows,
    or (for models that bypass the attention interface) eager with forward hooks."""
    if request.param == "many blocks":
        monkeypatch.setattr(capture, "BLOCK_ELEMENTS", 1)  # one query row per block
    if request.param == "hook fallback":
        monkeypatch.setattr(capture, "_run_blockwise", lambda model, ids, reducer: False)
    calls = []
    original = capture.capture_attention_function

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setitem(AttentionInterface._global_mapping, capture.CAPTURE_IMPLEMENTATION, counting)
    return request.param, calls


def test_capture_matches_output_attentions(loaded, path):
    maps = capture_attention(loaded, TEXT, per_layer=True, heads_of_layer=1, rollout=True)
    name, calls = path
    assert len(calls) == (0 if name == "hook fallback" else 3)  # the block-wise function ran per layer
    weights = brute_force(loaded, maps.input_ids)
    assert maps.n_layers == weights.shape[0] == 3
    assert maps.n_heads == weights.shape[1]
    torch.testing.assert_close(maps.mean, weights.mean(dim=(0, 1)), atol=1e-5, rtol=0)
    torch.testing.assert_close(maps.max_heads, weights.amax(dim=1).mean(dim=0), atol=1e-5, rtol=0)
    torch.testing.assert_close(maps.per_layer, weights.mean(dim=1), atol=1e-5, rtol=0)
    torch.testing.assert_close(maps.heads, weights[1], atol=1e-5, rtol=0)
    torch.testing.assert_close(maps.rollout, brute_rollout(weights.mean(dim=1)), atol=1e-5, rtol=0)
    # causal: nothing above the diagonal, rows are distributions
    assert torch.triu(maps.mean, diagonal=1).abs().max() < 1e-7
    torch.testing.assert_close(maps.mean.sum(-1), torch.ones(maps.n_tokens), atol=1e-5, rtol=0)


def test_capture_keeps_the_fast_attention_for_training(loaded):
    before = loaded.model.config._attn_implementation
    capture_attention(loaded, TEXT)
    assert loaded.model.config._attn_implementation == before


def test_lean_capture_keeps_only_what_was_asked(loaded):
    maps = capture_attention(loaded, TEXT)
    assert maps.per_layer is None and maps.heads is None and maps.rollout is None
    assert maps.mean.dtype == torch.float32 and maps.mean.device.type == "cpu"
    assert len(maps.tokens) == len(maps.offsets) == maps.n_tokens


def test_received_attention_is_a_column_mean(loaded):
    maps = capture_attention(loaded, TEXT)
    size = maps.n_tokens
    expected = torch.tensor([maps.mean[k:, k].mean().item() for k in range(size)])
    torch.testing.assert_close(received_attention(maps.mean, "paper_mean"), expected, atol=1e-6, rtol=0)


def test_offsets_point_into_the_text(loaded):
    maps = capture_attention(loaded, TEXT)
    for token, (start, end), special in zip(maps.tokens, maps.offsets, maps.special):
        if not special and end > start:
            assert TEXT[start:end] == token


def test_gemma2_sliding_window_is_causal_and_local(tmp_path):
    loaded = load_model(tiny_model_dir(tmp_path, "gemma2", layers=2))
    maps = capture_attention(loaded, TEXT, per_layer=True)
    window = loaded.model.config.sliding_window
    sliding_layers = [i for i, kind in enumerate(loaded.model.config.layer_types) if kind == "sliding_attention"]
    assert sliding_layers
    layer = maps.per_layer[sliding_layers[0]]
    far = torch.tril(torch.ones_like(layer), diagonal=-window)
    assert (layer * far).abs().max() < 1e-7  # nothing beyond the window


def test_empty_text_and_bad_layer_are_clear_errors(tmp_path):
    loaded = load_model(tiny_model_dir(tmp_path, "llama"))
    with pytest.raises(InputError, match="empty"):
        capture_attention(loaded, "   ")
    with pytest.raises(InputError, match="Layer 7 does not exist"):
        capture_attention(loaded, TEXT, heads_of_layer=7)


def test_long_text_is_truncated_with_a_notice(tmp_path):
    loaded = load_model(tiny_model_dir(tmp_path, "llama"))
    maps = capture_attention(loaded, TEXT * 3, max_tokens=40)
    assert maps.n_tokens == 40 and maps.truncated_tokens > 0
    assert "left out" in maps.notes[0]


def test_max_tokens_never_exceeds_the_context(tmp_path):
    loaded = load_model(tiny_model_dir(tmp_path, "gpt2"))  # learned positions: 256 of them
    maps = capture_attention(loaded, TEXT * 6, max_tokens=10_000)
    assert maps.n_tokens == loaded.context_length == 256 and maps.truncated_tokens > 0
    # no max_tokens (the app's default): still cut to the positions the model has
    assert capture_attention(loaded, TEXT * 6).n_tokens == 256


def test_a_failed_forward_pass_leaves_no_active_reducer(tmp_path):
    """The reducer is active only inside `active_reducer`: an error in the middle of the forward
    pass clears it, restores the model's attention and releases the capture for the next text."""
    loaded = load_model(tiny_model_dir(tmp_path, "llama", layers=3))
    before = loaded.model.config._attn_implementation
    expected = capture_attention(loaded, TEXT, per_layer=True)

    def fail(module, args, kwargs):
        raise RuntimeError("layer 1 failed")

    hook = capture.attention_modules(loaded.model)[1].register_forward_pre_hook(fail, with_kwargs=True)
    try:
        with pytest.raises(RuntimeError, match="layer 1 failed"):
            capture_attention(loaded, TEXT, per_layer=True)
    finally:
        hook.remove()
    assert capture.current_reducer() is None
    assert loaded.model.config._attn_implementation == before
    again = capture_attention(loaded, TEXT, per_layer=True)  # the lock was released
    torch.testing.assert_close(again.per_layer, expected.per_layer, atol=0, rtol=0)
    assert again.n_layers == 3


def test_active_reducer_restores_the_one_before():
    outer, inner = capture._Reducer(False, None, False), capture._Reducer(False, None, False)
    assert capture.current_reducer() is None
    with capture.active_reducer(outer):
        with pytest.raises(ValueError), capture.active_reducer(inner):
            assert capture.current_reducer() is inner
            raise ValueError
        assert capture.current_reducer() is outer
    assert capture.current_reducer() is None
