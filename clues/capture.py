"""Capture attention during one forward pass without keeping the L×H×T×T tensor.

`output_attentions=True` keeps every layer's weights alive until the forward pass returns
(L·H·T² floats: 600 MB for GPT-2 small at T=1024). Here a registered attention function
("clues_capture") computes each layer's attention a block of query rows at a time, folds the
block into the few [T, T] maps the views need (head mean, head max, optional per-layer and
per-head maps) and lets it go, so not even one layer's [H, T, T] weights exist at once. Its mask
function is registered too (transformers' eager additive mask): without one the attention
would silently become non-causal.

Models whose attention does not go through transformers' attention interface fall back to the
eager implementation with forward hooks that reduce each layer's returned weights (one layer's
[H, T, T] at a time). Either way the implementation is switched for this pass only and then
restored, so training keeps the fast one.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from clues.errors import InputError


@dataclass
class AttentionMaps:
    """What one analysis pass keeps. All maps float32 on the CPU; T = number of tokens.

    mean:       [T, T]  attention averaged over all layers and heads (row q attends to column k)
    max_heads:  [T, T]  per layer the max over heads, averaged over layers
    rollout:    [T, T] | None  attention rollout (residual-mixed product over layers), if asked
    per_layer:  [L, T, T] | None  per-layer head-mean maps, if asked
    heads:      [H, T, T] | None  every head of layer `head_layer`, if asked
    """

    tokens: list[str]
    offsets: list[tuple[int, int]]
    input_ids: torch.Tensor  # [T]
    special: torch.Tensor  # [T] bool: special tokens (BOS, EOS, pad) are never clues
    mean: torch.Tensor
    max_heads: torch.Tensor
    n_layers: int
    n_heads: int
    text: str = ""
    rollout: torch.Tensor | None = None
    per_layer: torch.Tensor | None = None
    heads: torch.Tensor | None = None
    head_layer: int | None = None
    truncated_tokens: int = 0  # tokens cut off because the text was longer than max_tokens
    notes: list[str] = field(default_factory=list)

    @property
    def n_tokens(self) -> int:
        return int(self.mean.shape[0])


class _Reducer:
    """Accumulates per-layer reductions, in layer order, a block of query rows at a time."""

    def __init__(self, per_layer: bool, heads_of_layer: int | None, rollout: bool):
        self.keep_per_layer = per_layer
        self.heads_of_layer = heads_of_layer
        self.keep_rollout = rollout
        self.mean_sum = None  # [T, T]
        self.max_sum = None  # [T, T]
        self.rollout = None  # [T, T]
        self.layers: list[torch.Tensor] = []
        self.heads = None  # [H, T, T] of the chosen layer
        self.layer_mean = None  # [T, T] of the layer in progress, when rollout/per-layer need it
        self.n_layers = 0
        self.n_heads = 0

    def start_layer(self, size: int, heads: int, device) -> None:
        if self.mean_sum is None:
            self.mean_sum = torch.zeros(size, size, device=device)
            self.max_sum = torch.zeros(size, size, device=device)
        if self.keep_rollout or self.keep_per_layer:
            self.layer_mean = torch.zeros(size, size, device=device)
        if self.heads_of_layer == self.n_layers:
            self.heads = torch.zeros(heads, size, size)
        self.n_heads = heads

    def add_rows(self, first: int, weights: torch.Tensor) -> None:
        """weights: [1, H, R, T] float32, the softmax rows first … first+R−1 of every head."""
        rows = slice(first, first + weights.shape[2])
        head_mean = weights[0].mean(dim=0)  # [R, T]
        self.mean_sum[rows] += head_mean
        self.max_sum[rows] += weights[0].amax(dim=0)
        if self.layer_mean is not None:
            self.layer_mean[rows] = head_mean
        if self.heads is not None and self.heads_of_layer == self.n_layers:
            self.heads[:, rows] = weights[0].cpu()

    def end_layer(self) -> None:
        if self.keep_rollout:
            self._roll(self.layer_mean)
        if self.keep_per_layer:
            self.layers.append(self.layer_mean.cpu())
        self.layer_mean = None
        self.n_layers += 1

    def add(self, weights: torch.Tensor) -> None:
        """A whole layer at once: weights [1, H, T, T] (the forward-hook fallback)."""
        weights = weights.float()
        self.start_layer(weights.shape[-1], weights.shape[1], weights.device)
        self.add_rows(0, weights)
        self.end_layer()

    def _roll(self, layer_mean: torch.Tensor) -> None:
        # Abnar & Zuidema (2020): mix in the residual stream, renormalise rows, chain the layers.
        size = layer_mean.shape[0]
        mixed = 0.5 * layer_mean + 0.5 * torch.eye(size, device=layer_mean.device)
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        self.rollout = mixed if self.rollout is None else mixed @ self.rollout


# ---- the registered attention function ----------------------------------------------------

CAPTURE_IMPLEMENTATION = "clues_capture"
BLOCK_ELEMENTS = 1 << 20  # scores per block of query rows: 4 MB in float32, whatever T and H
_ACTIVE = threading.local()  # the reducer of the capture running in this thread
_CAPTURE_LOCK = threading.Lock()  # one capture at a time: it switches a shared model's implementation


def rows_per_block(heads: int, keys: int) -> int:
    return max(1, BLOCK_ELEMENTS // max(1, heads * keys))


def capture_attention_function(module, query, key, value, attention_mask, scaling=None, dropout=0.0,
                               softcap=None, **kwargs):
    """Eager attention computed a block of query rows at a time, reduced as it goes.

    query: [B, H, Tq, D]; key, value: [B, Hkv, Tk, D] (grouped-query heads repeated here);
    attention_mask: additive [B, 1, Tq, Tk] (causal, sliding window, padding). Returns the
    output [B, Tq, H, D] and no weights.
    """
    heads, keys = query.shape[1], key.shape[2]
    if key.shape[1] != heads:
        key = key.repeat_interleave(heads // key.shape[1], dim=1)
        value = value.repeat_interleave(heads // value.shape[1], dim=1)
    scaling = scaling if scaling is not None else query.shape[-1] ** -0.5
    reducer = getattr(_ACTIVE, "reducer", None)
    if reducer is not None:
        reducer.start_layer(keys, heads, query.device)
    step = rows_per_block(heads, keys)
    outputs = []
    for first in range(0, query.shape[2], step):
        scores = torch.matmul(query[:, :, first:first + step], key.transpose(2, 3)) * scaling
        if softcap is not None:
            scores = torch.tanh(scores / softcap) * softcap
        if attention_mask is not None:
            scores = scores + _additive(attention_mask[:, :, first:first + step, :keys], scores.dtype)
        weights = torch.softmax(scores, dim=-1, dtype=torch.float32)  # [B, H, R, Tk]
        if reducer is not None:
            reducer.add_rows(first, weights)
        outputs.append(torch.matmul(weights.to(value.dtype), value))
    if reducer is not None:
        reducer.end_layer()
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous(), None


def _additive(mask: torch.Tensor, dtype) -> torch.Tensor:
    if mask.dtype == torch.bool:  # True = may attend
        return torch.where(mask, 0.0, torch.finfo(dtype).min).to(dtype)
    return mask.to(dtype)


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(CAPTURE_IMPLEMENTATION, capture_attention_function)
    AttentionMaskInterface.register(CAPTURE_IMPLEMENTATION, eager_mask)


_register()


def attention_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The self-attention module of every decoder layer, in layer order."""
    found = []
    for name, module in model.named_modules():
        cls = type(module).__name__
        if cls.endswith("Attention") and not any(name.startswith(p + ".") for p, _ in found):
            found.append((name, module))
    return [module for _, module in found]


@contextmanager
def attention_implementation(model: torch.nn.Module, name: str):
    """Use attention implementation `name` inside the block, then restore the previous one."""
    previous = getattr(model.config, "_attn_implementation", None)
    changed = previous != name
    if changed:
        model.set_attn_implementation(name)
    try:
        yield
    finally:
        if changed and previous is not None:
            model.set_attn_implementation(previous)


def tokenize(tokenizer, text: str, max_tokens: int | None):
    """input_ids [T], offsets, special mask, tokens, number of tokens cut off."""
    encoded = tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
    ids = list(encoded["input_ids"])
    offsets = [tuple(map(int, o)) for o in encoded["offset_mapping"]]
    cut = 0
    if max_tokens is not None and len(ids) > max_tokens:
        cut = len(ids) - max_tokens
        ids, offsets = ids[:max_tokens], offsets[:max_tokens]
    special_ids = set(tokenizer.all_special_ids)
    special = torch.tensor([i in special_ids for i in ids], dtype=torch.bool)
    tokens = [text[s:e] if e > s else tokenizer.convert_ids_to_tokens(i) for i, (s, e) in zip(ids, offsets)]
    return torch.tensor(ids), offsets, special, tokens, cut


def capture_attention(loaded, text: str, *, per_layer: bool = False, heads_of_layer: int | None = None,
                      rollout: bool = False, max_tokens: int | None = None) -> AttentionMaps:
    """One forward pass of `loaded.model` over `text`, reducing attention layer by layer."""
    if not text or not text.strip():
        raise InputError("The text is empty. Paste or choose a text to analyse.")
    model, tokenizer = loaded.model, loaded.tokenizer
    # never more than the model has positions for (the position embeddings would run out)
    limits = [n for n in (max_tokens, loaded.context_length) if n]
    limit = min(limits) if limits else None
    input_ids, offsets, special, tokens, cut = tokenize(tokenizer, text, limit)
    if heads_of_layer is not None and not 0 <= heads_of_layer < loaded.n_layers:
        raise InputError(f"Layer {heads_of_layer} does not exist: the model has layers 0–{loaded.n_layers - 1}.")
    reducer = _Reducer(per_layer, heads_of_layer, rollout)
    ids = input_ids[None].to(model.device)
    with _CAPTURE_LOCK, torch.no_grad():
        if not _run_blockwise(model, ids, reducer):
            reducer = _Reducer(per_layer, heads_of_layer, rollout)
            _run_with_hooks(model, ids, reducer)
    if reducer.n_layers == 0:
        raise InputError(
            f"{loaded.ref}: its attention modules returned no weights, so attention cannot be read. "
            "Models whose attention implementation cannot return weights (fused or linear attention) "
            "are not supported; choose a standard transformer.")
    maps = _finish(reducer, tokens, offsets, input_ids, special, text)
    if cut:
        maps.truncated_tokens = cut
        maps.notes.append(f"The text is longer than {limit} tokens: the last {cut} tokens were left out.")
    return maps


def _run_blockwise(model, ids, reducer: _Reducer) -> bool:
    """Forward pass through the registered block-wise function; False if the model bypassed it."""
    try:
        switch = attention_implementation(model, CAPTURE_IMPLEMENTATION)
        switch.__enter__()
    except (ValueError, NotImplementedError, AttributeError):
        return False  # this architecture does not accept custom attention functions
    _ACTIVE.reducer = reducer
    try:
        model(input_ids=ids, use_cache=False)
    finally:
        _ACTIVE.reducer = None
        switch.__exit__(None, None, None)
    return reducer.n_layers > 0


def _run_with_hooks(model, ids, reducer: _Reducer) -> None:
    """Fallback: eager attention, each layer's returned weights reduced by a forward hook."""
    hooks = [m.register_forward_hook(_hook(reducer)) for m in attention_modules(model)]
    try:
        with attention_implementation(model, "eager"):
            model(input_ids=ids, use_cache=False)
    finally:
        for hook in hooks:
            hook.remove()


def _hook(reducer: _Reducer):
    def hook(module, args, output):
        weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
        if isinstance(weights, torch.Tensor) and weights.dim() == 4:
            reducer.add(weights)
    return hook


def _finish(reducer: _Reducer, tokens, offsets, input_ids, special, text) -> AttentionMaps:
    layers = reducer.n_layers
    return AttentionMaps(
        tokens=tokens, offsets=offsets, input_ids=input_ids, special=special, text=text,
        mean=(reducer.mean_sum / layers).cpu(),
        max_heads=(reducer.max_sum / layers).cpu(),
        rollout=reducer.rollout.cpu() if reducer.rollout is not None else None,
        per_layer=torch.stack(reducer.layers) if reducer.layers else None,
        heads=reducer.heads, head_layer=reducer.heads_of_layer if reducer.heads is not None else None,
        n_layers=layers, n_heads=reducer.n_heads,
    )
