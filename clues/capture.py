"""Capture attention during one forward pass without keeping the L×H×T×T tensor.

`output_attentions=True` keeps every layer's weights alive until the forward pass returns
(L·H·T² floats: 1.2 GB for GPT-2 small at T=1024). Here a forward hook on each attention
module reduces that layer's weights [B, H, T, T] as soon as they exist and lets them go, so
the extra memory is one layer's weights plus the few [T, T] maps the views need.

The model runs with the eager attention implementation for this pass only (the fused kernels
never materialise the weights); the previous implementation is restored afterwards, so training
keeps the fast one.
"""

from __future__ import annotations

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
    """Accumulates per-layer reductions from the attention hooks, in layer order."""

    def __init__(self, per_layer: bool, heads_of_layer: int | None, rollout: bool):
        self.keep_per_layer = per_layer
        self.heads_of_layer = heads_of_layer
        self.keep_rollout = rollout
        self.mean_sum = None  # [T, T]
        self.max_sum = None  # [T, T]
        self.rollout = None  # [T, T]
        self.layers: list[torch.Tensor] = []
        self.heads = None
        self.n_layers = 0
        self.n_heads = 0

    def add(self, weights: torch.Tensor) -> None:
        # weights: [1, H, T, T] in the model's dtype and device; reduce in float32 there.
        weights = weights[0].float()
        layer_mean = weights.mean(dim=0)  # [T, T]
        layer_max = weights.amax(dim=0)  # [T, T]
        if self.mean_sum is None:
            self.mean_sum, self.max_sum = layer_mean.clone(), layer_max.clone()
        else:
            self.mean_sum += layer_mean
            self.max_sum += layer_max
        if self.keep_rollout:
            self._roll(layer_mean)
        if self.keep_per_layer:
            self.layers.append(layer_mean.cpu())
        if self.heads_of_layer == self.n_layers:
            self.heads = weights.cpu()
        self.n_heads = int(weights.shape[0])
        self.n_layers += 1

    def _roll(self, layer_mean: torch.Tensor) -> None:
        # Abnar & Zuidema (2020): mix in the residual stream, renormalise rows, chain the layers.
        size = layer_mean.shape[0]
        mixed = 0.5 * layer_mean + 0.5 * torch.eye(size, device=layer_mean.device)
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        self.rollout = mixed if self.rollout is None else mixed @ self.rollout


def attention_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The self-attention module of every decoder layer, in layer order."""
    found = []
    for name, module in model.named_modules():
        cls = type(module).__name__
        if cls.endswith("Attention") and not any(name.startswith(p + ".") for p, _ in found):
            found.append((name, module))
    return [module for _, module in found]


@contextmanager
def eager_attention(model: torch.nn.Module):
    """Switch to the eager implementation (which returns weights) for the analysis pass."""
    previous = getattr(model.config, "_attn_implementation", None)
    changed = previous != "eager"
    if changed:
        model.set_attn_implementation("eager")
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
    limit = max_tokens or loaded.context_length
    input_ids, offsets, special, tokens, cut = tokenize(tokenizer, text, limit)
    if heads_of_layer is not None and not 0 <= heads_of_layer < loaded.n_layers:
        raise InputError(f"Layer {heads_of_layer} does not exist: the model has layers 0–{loaded.n_layers - 1}.")
    reducer = _Reducer(per_layer, heads_of_layer, rollout)
    hooks = [m.register_forward_hook(_hook(reducer)) for m in attention_modules(model)]
    try:
        with eager_attention(model), torch.no_grad():
            model(input_ids=input_ids[None].to(model.device), use_cache=False)
    finally:
        for hook in hooks:
            hook.remove()
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
