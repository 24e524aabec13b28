"""Batched capture: several right-padded texts per forward pass give, text by text, the maps of
the one-at-a-time path (≤ 1e-5 in float32), on every tiny architecture and every capture path."""

import pytest
import torch
from transformers import AttentionInterface

import clues.capture as capture
from clues.capture import capture_attention, capture_attention_batch, estimate_text_bytes, plan_batches
from clues.errors import InputError
from clues.models import load_model

from tiny import ARCHITECTURES, SENTENCES, tiny_model_dir

TEXT = ("Liam Thompson was born on January 5, 1990. He spent his early years in Melbourne, Australia. "
        "He had a professional role at the British Museum.")
LONG = " ".join(SENTENCES * 8)  # well over 200 tokens: cut to 200 by max_tokens
# very different lengths, not in order: 3 words, one sentence, ~40 tokens, 200 tokens, ~25 tokens
TEXTS = ["Liam Thompson was", SENTENCES[1], TEXT, LONG, SENTENCES[2] + " " + SENTENCES[3]]
MAX_TOKENS = 200


@pytest.fixture(scope="module", params=ARCHITECTURES)
def loaded(request, tmp_path_factory):
    folder = tiny_model_dir(tmp_path_factory.mktemp(request.param), request.param, layers=3)
    return load_model(folder)


@pytest.fixture(params=["one block", "many blocks", "hook fallback"])
def path(request, monkeypatch):
    """Block-wise in one block per layer, in blocks of one query row, or eager with forward hooks.
    Returns the path's name and a list that grows by one per call of the block-wise function."""
    if request.param == "many blocks":
        monkeypatch.setattr(capture, "BLOCK_ELEMENTS", 1)
    if request.param == "hook fallback":
        monkeypatch.setattr(capture, "_run_blockwise", lambda model, inputs, reducer: False)
    calls = []
    original = capture.capture_attention_function

    def counting(module, query, *args, **kwargs):
        calls.append(query.shape[0])  # the batch size of this layer's call
        return original(module, query, *args, **kwargs)

    monkeypatch.setitem(AttentionInterface._global_mapping, capture.CAPTURE_IMPLEMENTATION, counting)
    return request.param, calls


def assert_same_maps(batched, single):
    assert batched.tokens == single.tokens
    assert batched.offsets == single.offsets
    assert batched.text == single.text
    assert torch.equal(batched.input_ids, single.input_ids)
    assert torch.equal(batched.special, single.special)
    assert (batched.n_layers, batched.n_heads, batched.head_layer) == (single.n_layers, single.n_heads,
                                                                      single.head_layer)
    assert batched.truncated_tokens == single.truncated_tokens and batched.notes == single.notes
    for name in ("mean", "max_heads", "rollout", "per_layer", "heads"):
        mine, theirs = getattr(batched, name), getattr(single, name)
        if theirs is None:
            assert mine is None, name
            continue
        assert mine.shape == theirs.shape, name
        assert mine.dtype == torch.float32 and mine.device.type == "cpu"
        assert (mine - theirs).abs().max().item() <= 1e-5, name


def test_batch_matches_one_at_a_time(loaded, path):
    options = dict(per_layer=True, heads_of_layer=1, rollout=True, max_tokens=MAX_TOKENS)
    batched = capture_attention_batch(loaded, TEXTS, **options)
    name, calls = path
    if name == "hook fallback":
        assert calls == []
    else:
        assert calls == [len(TEXTS)] * 3  # all five texts in one forward pass, three layers
    singles = [capture_attention(loaded, text, **options) for text in TEXTS]
    lengths = [m.n_tokens for m in singles]
    assert max(lengths) == MAX_TOKENS and min(lengths) <= 12  # very different lengths in one batch
    assert len(batched) == len(TEXTS)
    for mine, theirs in zip(batched, singles):
        assert_same_maps(mine, theirs)


def spread_device_map(model, offload_embeddings: bool) -> dict:
    """accelerate's {module: device} map of `model` with its second decoder layer (and, if asked, the
    input embeddings) offloaded to disk: what device_map="auto" builds when the devices are full, so
    the model runs through dispatch hooks."""
    layers = next(name for name, module in model.named_modules() if isinstance(module, torch.nn.ModuleList))
    placed = {f"{layers}.{i}": "disk" if i == 1 else "cpu" for i in range(len(model.get_submodule(layers)))}
    for name, _ in [*model.named_parameters(remove_duplicate=False), *model.named_buffers()]:
        if not name.startswith(layers + "."):
            placed[name.rsplit(".", 1)[0]] = "cpu"
    if offload_embeddings:
        embeddings = next(n for n, m in model.named_modules() if m is model.get_input_embeddings())
        tied = [n.rsplit(".", 1)[0] for n, p in model.named_parameters(remove_duplicate=False)
                if p is model.get_input_embeddings().weight]  # a tied output layer goes with them
        placed.update({name: "disk" for name in [embeddings, *tied]})
    return placed


@pytest.mark.parametrize("offload_embeddings", [False, True], ids=["a layer offloaded", "embeddings too"])
def test_a_model_spread_by_a_device_map_gives_the_same_maps(loaded, tmp_path, offload_embeddings):
    spread = load_model(loaded.ref, dtype="float32", device_map=spread_device_map(loaded.model, offload_embeddings),
                        offload_folder=str(tmp_path / "offload"))
    assert "disk" in spread.model.hf_device_map.values() and spread.device.type == "cpu"
    options = dict(per_layer=True, heads_of_layer=1, rollout=True, max_tokens=MAX_TOKENS)
    for mine, theirs in zip(capture_attention_batch(spread, TEXTS, **options),
                            capture_attention_batch(loaded, TEXTS, **options)):
        assert_same_maps(mine, theirs)


def test_lean_batch_keeps_only_the_two_maps(loaded):
    batched = capture_attention_batch(loaded, TEXTS, max_tokens=MAX_TOKENS)
    for mine, text in zip(batched, TEXTS):
        assert mine.per_layer is None and mine.heads is None and mine.rollout is None
        assert_same_maps(mine, capture_attention(loaded, text, max_tokens=MAX_TOKENS))
        # causal, rows are distributions: no weight leaked to or from padding
        assert torch.triu(mine.mean, diagonal=1).abs().max() < 1e-7
        torch.testing.assert_close(mine.mean.sum(-1), torch.ones(mine.n_tokens), atol=1e-5, rtol=0)


def test_small_batches_come_back_in_input_order(tmp_path, path):
    loaded = load_model(tiny_model_dir(tmp_path, "llama", layers=2))
    texts = TEXTS * 2
    batched = capture_attention_batch(loaded, texts, batch_size=3, max_tokens=MAX_TOKENS)
    name, calls = path
    if name != "hook fallback":
        assert calls == [3, 3] * 3 + [1, 1]  # ten texts: batches of 3, 3, 3 and 1, two layers each
    assert [m.text for m in batched] == texts
    for mine, text in zip(batched, texts):
        assert_same_maps(mine, capture_attention(loaded, text, max_tokens=MAX_TOKENS))


def test_batches_group_similar_lengths_longest_first(tmp_path):
    loaded = load_model(tiny_model_dir(tmp_path, "gpt2"))
    assert plan_batches([5, 200, 6, 190, 7], loaded, batch_size=2) == [[1, 3], [4, 2], [0]]


def test_the_budget_sets_the_batch_size(tmp_path):
    loaded = load_model(tiny_model_dir(tmp_path, "llama"))
    lengths = [40] * 7
    one = estimate_text_bytes(loaded, 40)
    fixed = capture.BLOCK_ELEMENTS * 4 * 6
    plan = plan_batches(lengths, loaded, memory_budget_bytes=fixed + 3 * one)
    assert [len(b) for b in plan] == [3, 3, 1]
    # both given: the smaller wins
    plan = plan_batches(lengths, loaded, batch_size=2, memory_budget_bytes=fixed + 3 * one)
    assert [len(b) for b in plan] == [2, 2, 2, 1]
    # more maps kept per text: fewer texts fit the same budget
    assert estimate_text_bytes(loaded, 40, per_layer=True, heads=True, rollout=True) > one
    # the default budget (no batch size, no budget) puts these small texts in one batch
    assert plan_batches(lengths, loaded) == [list(range(7))]


def test_cpu_batches_stay_near_the_cache(tmp_path, monkeypatch):
    loaded = load_model(tiny_model_dir(tmp_path, "llama"))  # MLP 64 wide, float32: 256 bytes a token
    monkeypatch.setattr(capture, "CPU_BATCH_ACTIVATION_BYTES", 256 * 40 * 3)  # three texts of 40 tokens
    assert [len(b) for b in plan_batches([40] * 7, loaded)] == [3, 3, 1]
    assert [len(b) for b in plan_batches([40] * 7, loaded, batch_size=5)] == [5, 2]  # the user's size wins
    assert [len(b) for b in plan_batches([10] * 20, loaded)] == [12, 8]  # shorter texts: more per batch


def test_bad_batch_size_and_budget_are_one_clear_line(tmp_path):
    loaded = load_model(tiny_model_dir(tmp_path, "llama"))
    for bad in (0, -2, 1.5, True, "8"):
        with pytest.raises(InputError, match="batch size must be a whole number") as error:
            capture_attention_batch(loaded, TEXTS, batch_size=bad)
        assert "\n" not in str(error.value)
    with pytest.raises(InputError, match=r"too small for one text: the longest \(\d+ tokens\)") as error:
        capture_attention_batch(loaded, TEXTS, memory_budget_bytes=10_000)
    assert "\n" not in str(error.value)
    for bad in (0, -1, "lots", float("inf"), float("nan")):
        with pytest.raises(InputError, match="memory budget must be a positive number"):
            capture_attention_batch(loaded, TEXTS, memory_budget_bytes=bad)
    with pytest.raises(InputError, match="Text 2 of 3 is empty"):
        capture_attention_batch(loaded, ["a text", "  ", "another"])
    with pytest.raises(InputError, match="Layer 9 does not exist"):
        capture_attention_batch(loaded, TEXTS, heads_of_layer=9)
    assert capture_attention_batch(loaded, []) == []


def test_batch_keeps_the_fast_attention_for_training(tmp_path):
    loaded = load_model(tiny_model_dir(tmp_path, "qwen2"))
    before = loaded.model.config._attn_implementation
    capture_attention_batch(loaded, TEXTS, batch_size=2)
    assert loaded.model.config._attn_implementation == before


def test_each_text_is_truncated_on_its_own(tmp_path):
    loaded = load_model(tiny_model_dir(tmp_path, "gpt2"))  # 256 positions
    batched = capture_attention_batch(loaded, ["Liam Thompson was", LONG * 2], max_tokens=10_000)
    assert batched[0].truncated_tokens == 0 and not batched[0].notes
    assert batched[1].n_tokens == 256 and batched[1].truncated_tokens > 0
    assert "left out" in batched[1].notes[0]
