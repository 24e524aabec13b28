"""Capture attention during one forward pass without keeping the L×H×T×T tensor.

`output_attentions=True` keeps every layer's weights alive until the forward pass returns
(L·H·T² floats: 600 MB for GPT-2 small at T=1024). Here a registered attention function
("clues_capture") computes each layer's attention a block of query rows at a time, folds the
block into the few [T, T] maps the views need (head mean, head max, optional per-layer and
per-head maps) and lets it go, so not even one layer's [H, T, T] weights exist at once. Its mask
function is registered too (transformers' eager additive mask): without one the attention
would silently become non-causal. transformers calls that function with one layer's tensors and
nothing of ours, so a capture names the `_Reducer` it feeds for the length of its forward pass
with `with active_reducer(reducer):`.

The module reads in the order a capture runs: a text is encoded (`EncodedText`), a `_Reducer`
folds each layer's weights into the kept maps, the registered attention function feeds it; then
the public captures, the batch planning, and at the end `_capture_padded`, one forward pass over a
padded batch, and `_finish`, which slices each text's maps out of the batch's.

Models whose attention does not go through transformers' attention interface fall back to the
eager implementation with forward hooks that reduce each layer's returned weights (one layer's
[H, T, T] at a time). Either way the implementation is switched for this pass only and then
restored, so training keeps the fast one.

Many texts at once (`capture_attention_batch`): texts are sorted by length, cut into batches that
fit a memory budget, RIGHT-padded and run through one forward pass per batch with a padding
mask. Right padding because the models are causal: a real token at position q only ever
attends to keys 0…q, all of them real, and its position ids are 0…q exactly as when the text
runs alone, so its rows are the single-text rows (up to float rounding of the batched matmuls);
the padded keys are masked anyway and the padded query rows are dropped when each text's maps
are sliced to its own length. (Left padding would need shifted position ids and masked leading
keys on every row.) The accumulators are per text, [B, T, T] for a batch padded to T tokens.
"""

from __future__ import annotations

import math
import threading
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import torch
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface, eager_mask

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


# ---- text to tokens ---------------------------------------------------------------------------

def tokenize(tokenizer, text: str, max_tokens: int | None):
    """input_ids [T], offsets, special mask [T], tokens, number of tokens cut off."""
    encoded = tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
    ids = list(encoded["input_ids"])
    offsets = [tuple(map(int, o)) for o in encoded["offset_mapping"]]
    cut = 0
    if max_tokens is not None and len(ids) > max_tokens:
        cut = len(ids) - max_tokens
        ids, offsets = ids[:max_tokens], offsets[:max_tokens]
    special_ids = set(tokenizer.all_special_ids)
    special = torch.tensor([i in special_ids for i in ids], dtype=torch.bool)  # [T]
    # a token without characters (BOS, EOS) shows as its vocabulary entry
    tokens = [text[s:e] if e > s else tokenizer.convert_ids_to_tokens(i) for i, (s, e) in zip(ids, offsets)]
    return torch.tensor(ids), offsets, special, tokens, cut


@dataclass
class EncodedText:
    """One text tokenized for a capture and cut to its token limit; T = number of tokens kept."""

    text: str
    input_ids: torch.Tensor  # [T]
    offsets: list[tuple[int, int]]  # [T] character span of each token in `text`
    special: torch.Tensor  # [T] bool
    tokens: list[str]  # [T]
    truncated_tokens: int  # tokens cut off the end (0: the whole text fits)
    token_limit: int | None  # the limit it was cut to (None: no limit)

    @property
    def n_tokens(self) -> int:
        return len(self.input_ids)


def _encode(loaded, text: str, max_tokens: int | None) -> EncodedText:
    """tokenize() under the limit: never more than the model has positions for (the position
    embeddings would run out), whatever `max_tokens` the caller asks for."""
    limits = [n for n in (max_tokens, loaded.context_length) if n]
    limit = min(limits) if limits else None
    input_ids, offsets, special, tokens, cut = tokenize(loaded.tokenizer, text, limit)
    return EncodedText(text=text, input_ids=input_ids, offsets=offsets, special=special, tokens=tokens,
                       truncated_tokens=cut, token_limit=limit)


# ---- layer by layer reduction -----------------------------------------------------------------

class _Reducer:
    """Folds each layer's attention weights into the kept maps, a block of query rows at a time.

    Layers arrive in order, each as start_layer, add_rows for every block of query rows, end_layer.
    Every accumulator has a leading batch dimension: [B, T, T] for B texts padded to T tokens.
    """

    def __init__(self, per_layer: bool, heads_of_layer: int | None, rollout: bool, last_layer: int | None = None):
        self.keep_per_layer = per_layer
        self.heads_of_layer = heads_of_layer
        self.keep_rollout = rollout
        self.last_layer = last_layer  # set: the forward pass stops once that layer is reduced
        self.mean_sum = None  # [B, T, T] sum over layers of the head mean
        self.max_sum = None  # [B, T, T] sum over layers of the head max
        self.rollout = None  # [B, T, T] the rollout of the layers done
        self.layers: list[torch.Tensor] = []  # layers_done × [B, T, T] head means, on the CPU
        self.heads = None  # [B, H, T, T] every head of layer heads_of_layer, on the CPU
        self.layer_mean = None  # [B, T, T] head mean of the layer in progress, when rollout/per-layer need it
        self.layers_done = 0  # layers whose every row has been added (end_layer ran)
        self.current_layer: int | None = None  # index of the layer between start_layer and end_layer
        self.n_heads = 0

    @property
    def in_last_layer(self) -> bool:
        """The layer in progress is the last one: the forward pass can stop after it."""
        return self.current_layer is not None and self.current_layer == self.last_layer

    def start_layer(self, batch: int, size: int, heads: int, device) -> None:
        self.current_layer = self.layers_done
        # A model spread over several devices (device_map) computes each layer where it lives; every
        # accumulator stays on the first layer's device and later layers' rows move there (add_rows).
        if self.mean_sum is None:
            self.mean_sum = torch.zeros(batch, size, size, device=device)  # [B, T, T]
            self.max_sum = torch.zeros(batch, size, size, device=device)  # [B, T, T]
        device = self.mean_sum.device
        if self.keep_rollout or self.keep_per_layer:
            self.layer_mean = torch.zeros(batch, size, size, device=device)  # [B, T, T]
        if self.current_layer == self.heads_of_layer:
            self.heads = torch.zeros(batch, heads, size, size)  # [B, H, T, T]
        self.n_heads = heads

    def add_rows(self, first: int, weights: torch.Tensor) -> None:
        """weights: [B, H, R, T] float32, the softmax rows first … first+R−1 of every head."""
        rows = slice(first, first + weights.shape[2])
        weights = weights.to(self.mean_sum.device)  # no copy on a model that lives on one device
        head_mean = weights.mean(dim=1)  # [B, R, T]
        self.mean_sum[:, rows] += head_mean
        self.max_sum[:, rows] += weights.amax(dim=1)  # [B, R, T]
        if self.layer_mean is not None:
            self.layer_mean[:, rows] = head_mean
        if self.current_layer == self.heads_of_layer:
            self.heads[:, :, rows] = weights.cpu()

    def end_layer(self) -> None:
        if self.keep_rollout:
            self._roll(self.layer_mean)
        if self.keep_per_layer:
            self.layers.append(self.layer_mean.cpu())
        self.layer_mean = None
        self.layers_done += 1
        self.current_layer = None

    def add(self, weights: torch.Tensor) -> None:
        """A whole layer at once: weights [B, H, T, T] (the forward-hook fallback)."""
        weights = weights.float()
        self.start_layer(weights.shape[0], weights.shape[-1], weights.shape[1], weights.device)
        self.add_rows(0, weights)
        self.end_layer()

    def _roll(self, layer_mean: torch.Tensor) -> None:
        # Abnar & Zuidema (2020): mix in the residual stream, renormalise rows, chain the layers.
        # Causal rows make this exact per text under right padding: row q < n only reaches
        # columns ≤ q, so the top-left n×n block is the rollout of the text alone.
        size = layer_mean.shape[-1]
        mixed = 0.5 * layer_mean + 0.5 * torch.eye(size, device=layer_mean.device)  # [B, T, T]
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        self.rollout = mixed if self.rollout is None else mixed @ self.rollout


# ---- the registered attention function --------------------------------------------------------

CAPTURE_IMPLEMENTATION = "clues_capture"
BLOCK_ELEMENTS = 1 << 20  # scores per block of query rows: 4 MB in float32, whatever T and H
_CAPTURE_LOCK = threading.Lock()  # one capture at a time: it switches a shared model's implementation
_active = threading.local()  # .reducer: set and cleared only by active_reducer


@contextmanager
def active_reducer(reducer: _Reducer) -> Iterator[_Reducer]:
    """Inside the block, `capture_attention_function` feeds `reducer` (see `current_reducer`);
    after it, also when the forward pass raised, the previous one (none outside a capture).

    transformers calls the attention function with one layer's tensors and nothing of ours, so the
    reducer cannot be an argument. Per thread: another thread running a model switched to this
    implementation meanwhile computes plain attention and feeds nothing.
    """
    previous = current_reducer()
    _active.reducer = reducer
    try:
        yield reducer
    finally:
        _active.reducer = previous


def current_reducer() -> _Reducer | None:
    """The reducer of the `active_reducer` block running in this thread, if any."""
    return getattr(_active, "reducer", None)


class _AllLayersReduced(Exception):
    """Raised by the last layer's attention to end a capture's forward pass early."""


def rows_per_block(heads: int, keys: int, batch: int = 1) -> int:
    """Query rows per block so that one block holds about BLOCK_ELEMENTS scores for the whole batch."""
    return max(1, BLOCK_ELEMENTS // max(1, batch * heads * keys))


# many parameters: the attention-function signature transformers calls
def capture_attention_function(module, query, key, value, attention_mask, scaling=None, dropout=0.0,
                               softcap=None, **kwargs):
    """Eager attention computed a block of query rows at a time, reduced as it goes.

    query: [B, H, Tq, D]; key, value: [B, Hkv, Tk, D] (grouped-query heads repeated here);
    attention_mask: additive [B, 1, Tq, Tk] (causal, sliding window, padding). Returns the
    output [B, Tq, H, D] and no weights.
    """
    batch, heads, queries = query.shape[:3]
    keys = key.shape[2]
    if key.shape[1] != heads:  # grouped-query attention: each key/value head serves several query heads
        key = key.repeat_interleave(heads // key.shape[1], dim=1)  # [B, H, Tk, D]
        value = value.repeat_interleave(heads // value.shape[1], dim=1)  # [B, H, Tk, D]
    scaling = scaling if scaling is not None else query.shape[-1] ** -0.5
    reducer = current_reducer()  # None: this implementation is on but no capture runs here
    if reducer is not None:
        reducer.start_layer(batch, keys, heads, query.device)
    step = rows_per_block(heads, keys, batch)
    # the last layer's output feeds only the MLP and the head, which no map needs: skip them
    last = reducer is not None and reducer.in_last_layer
    outputs = []  # [B, H, R, D] per block of R query rows
    for first in range(0, queries, step):
        scores = torch.matmul(query[:, :, first:first + step], key.transpose(2, 3)) * scaling  # [B, H, R, Tk]
        if softcap is not None:
            scores = torch.tanh(scores / softcap) * softcap
        if attention_mask is not None:
            scores = scores + _additive(attention_mask[:, :, first:first + step, :keys], scores.dtype)
        weights = torch.softmax(scores, dim=-1, dtype=torch.float32)  # [B, H, R, Tk]
        if reducer is not None:
            reducer.add_rows(first, weights)
        if not last:
            outputs.append(torch.matmul(weights.to(value.dtype), value))
    if reducer is not None:
        reducer.end_layer()
    if last:
        raise _AllLayersReduced
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous(), None  # [B, Tq, H, D]


def _additive(mask: torch.Tensor, dtype) -> torch.Tensor:
    if mask.dtype == torch.bool:  # True = may attend
        return torch.where(mask, 0.0, torch.finfo(dtype).min).to(dtype)
    return mask.to(dtype)


def _register() -> None:
    AttentionInterface.register(CAPTURE_IMPLEMENTATION, capture_attention_function)
    AttentionMaskInterface.register(CAPTURE_IMPLEMENTATION, eager_mask)


_register()


# ---- switching a model's attention ------------------------------------------------------------

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


# ---- the captures -----------------------------------------------------------------------------

def capture_attention(loaded, text: str, *, per_layer: bool = False, heads_of_layer: int | None = None,
                      rollout: bool = False, max_tokens: int | None = None) -> AttentionMaps:
    """One forward pass of `loaded.model` over `text`, reducing attention layer by layer."""
    if not text or not text.strip():
        raise InputError("The text is empty. Paste or choose a text to analyse.")
    _check_layer(loaded, heads_of_layer)
    encoded = _encode(loaded, text, max_tokens)
    return _capture_padded(loaded, [encoded], per_layer, heads_of_layer, rollout)[0]


# many parameters: keyword-only capture options, as capture_attention's
def capture_attention_batch(loaded, texts, *, batch_size: int | None = None,
                            memory_budget_bytes: int | None = None, max_tokens: int | None = None,
                            per_layer: bool = False, heads_of_layer: int | None = None,
                            rollout: bool = False) -> list[AttentionMaps]:
    """`capture_attention` for many texts, several per forward pass; maps in the order of `texts`.

    Texts are sorted by length and grouped into right-padded batches (see the module docstring);
    each text's maps are sliced to its own length and equal `capture_attention(loaded, text)`
    up to float rounding (≤ 1e-5 in float32). A batch holds at most `batch_size` texts and,
    when `memory_budget_bytes` is given, no more than the budget allows
    (`estimate_text_bytes` per text, at the batch's longest length, plus one block of scores).
    With no batch size, the budget is `default_memory_budget(device)` unless given, batches hold
    at most `MAX_AUTO_BATCH` texts and, on a CPU, no more than keeps the MLP activations of the
    batch near the cache (`CPU_BATCH_ACTIVATION_BYTES`): bigger CPU batches are slower.
    """
    texts = list(texts)
    check_batching(batch_size, memory_budget_bytes)
    for number, text in enumerate(texts, start=1):
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"Text {number} of {len(texts)} is empty. Remove it or give it some text.")
    _check_layer(loaded, heads_of_layer)
    if not texts:
        return []
    encoded = [_encode(loaded, text, max_tokens) for text in texts]
    batches = plan_batches([e.n_tokens for e in encoded], loaded, batch_size=batch_size,
                           memory_budget_bytes=memory_budget_bytes, per_layer=per_layer,
                           heads=heads_of_layer is not None, rollout=rollout)
    results: list[AttentionMaps | None] = [None] * len(texts)
    for batch in batches:
        for index, maps in zip(batch, _capture_padded(loaded, [encoded[i] for i in batch], per_layer,
                                                      heads_of_layer, rollout)):
            results[index] = maps
    return results


def capture_pairs(texts: Sequence[str], first, second=None, *, chunk: int = 256, batch_size: int | None = None,
                  memory_budget_bytes: float | None = None) -> Iterator[tuple[AttentionMaps, AttentionMaps]]:
    """(maps of `first`, maps of `second`) for each text, in order, captured `chunk` texts at a time per
    model so that a big corpus never holds all its maps; `second` None: both are `first`'s maps."""
    for start in range(0, len(texts), chunk):
        plain = list(texts[start:start + chunk])
        firsts = capture_attention_batch(first, plain, batch_size=batch_size, memory_budget_bytes=memory_budget_bytes)
        seconds = firsts if second is None else capture_attention_batch(
            second, plain, batch_size=batch_size, memory_budget_bytes=memory_budget_bytes)
        yield from zip(firsts, seconds, strict=True)


# ---- batch sizes from a memory budget ---------------------------------------------------------

def check_batching(batch_size: int | None = None, memory_budget_bytes: float | None = None) -> None:
    """One clear line for a batch size or memory budget that cannot work (before any model runs)."""
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise InputError(f"The batch size must be a whole number of texts, 1 or more; got {batch_size!r}.")
    if memory_budget_bytes is not None and (isinstance(memory_budget_bytes, bool)
                                            or not isinstance(memory_budget_bytes, (int, float))
                                            or not 0 < memory_budget_bytes < math.inf):
        raise InputError(f"The memory budget must be a positive number of bytes; got {memory_budget_bytes!r}.")


MAX_AUTO_BATCH = 256  # texts per batch when the user gives no batch size
# On a CPU big batches are slower, not faster: once a batch's MLP activations leave the cache
# the pass is bound by memory traffic (measured with one thread: the demo pair is fastest at ~16
# texts of 53 tokens, 2.6 MB of MLP activations; a GPT-2-small-size model at 2–4 texts of 130
# tokens, 3–6 MB, and 1.6× slower at 32). So with no batch size given, a CPU batch holds texts
# until its widest activation (tokens × MLP width) reaches this many bytes.
CPU_BATCH_ACTIVATION_BYTES = 4 << 20
DEFAULT_CPU_BUDGET_BYTES = 1 << 30


def default_memory_budget(device) -> int:
    """Bytes a capture may use when the user names no budget: half the free memory of a GPU;
    on a CPU 1 GiB or a quarter of the available memory, whichever is smaller."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info(device)
        return int(free // 2)
    available = _available_ram()
    return DEFAULT_CPU_BUDGET_BYTES if available is None else min(DEFAULT_CPU_BUDGET_BYTES, available // 4)


def _available_ram() -> int | None:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def kept_maps(n_layers: int, n_heads: int, *, per_layer: bool, heads: bool, rollout: bool) -> int:
    """How many [T, T] float32 maps one text holds during a capture."""
    count = 2  # mean and max-over-heads sums
    if per_layer or rollout:
        count += 1  # the layer in progress
    if rollout:
        count += 3  # the rollout so far, the mixed layer, their product
    if per_layer:
        count += n_layers
    if heads:
        count += n_heads
    return count


def _widths(loaded) -> tuple[int, int, int]:
    """Hidden size, MLP inner size and bytes per activation element of `loaded`."""
    config = loaded.model.config.get_text_config()
    hidden = int(getattr(config, "hidden_size", 0) or getattr(config, "n_embd", 0) or 0)
    inner = int(getattr(config, "intermediate_size", 0) or getattr(config, "n_inner", 0) or 4 * hidden)
    element = torch.finfo(loaded.dtype).bits // 8 if loaded.dtype.is_floating_point else 4
    return hidden, inner, element


def estimate_text_bytes(loaded, tokens: int, *, per_layer: bool = False, heads: bool = False,
                        rollout: bool = False) -> int:
    """Bytes one text of `tokens` tokens needs in a batch: its accumulators (T² × 4 bytes × kept
    maps) plus the activations of one decoder layer's forward pass (hidden states, queries, keys
    and values repeated to every head, the MLP's inner states, and the allocator's slack)."""
    hidden, inner, element = _widths(loaded)
    maps = kept_maps(loaded.n_layers, loaded.n_heads, per_layer=per_layer, heads=heads, rollout=rollout)
    return tokens * tokens * 4 * maps + tokens * element * (12 * hidden + 4 * inner)


def _auto_batch_cap(loaded, longest: int) -> int:
    """Texts per batch with no batch size given, for a batch padded to `longest` tokens."""
    if torch.device(loaded.device).type != "cpu":
        return MAX_AUTO_BATCH
    hidden, inner, element = _widths(loaded)
    return max(1, min(MAX_AUTO_BATCH, CPU_BATCH_ACTIVATION_BYTES // (longest * max(hidden, inner) * element)))


def plan_batches(lengths: list[int], loaded, *, batch_size: int | None = None,
                 memory_budget_bytes: int | None = None, per_layer: bool = False, heads: bool = False,
                 rollout: bool = False) -> list[list[int]]:
    """Indices of the texts grouped into batches, longest texts first, each batch of similar
    lengths so that little is padded. A user's budget too small for one text is an InputError."""
    budget = memory_budget_bytes
    if budget is None and batch_size is None:
        budget = default_memory_budget(loaded.device)
    fixed = BLOCK_ELEMENTS * 4 * 6  # one block of scores and its temporaries, shared by the batch
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    position = 0
    while position < len(order):
        longest = lengths[order[position]]
        per_text = estimate_text_bytes(loaded, longest, per_layer=per_layer, heads=heads, rollout=rollout)
        fits = len(order) if budget is None else int((budget - fixed) // per_text)
        if fits < 1:
            if memory_budget_bytes is not None:
                raise InputError(
                    f"A memory budget of {_mebibytes(memory_budget_bytes)} is too small for one text: the longest "
                    f"({longest} tokens) needs about {_mebibytes(per_text + fixed)}. Raise the budget or "
                    "shorten the texts (max tokens).")
            fits = 1  # the default budget never refuses a text the one-at-a-time path would run
        cap = batch_size if batch_size is not None else _auto_batch_cap(loaded, longest)
        size = min(fits, cap, len(order) - position)
        batches.append(order[position:position + size])
        position += size
    return batches


def _mebibytes(count: float) -> str:
    """In MiB, the unit of --memory-budget, so the number said can be given back."""
    return f"{count / (1 << 20):.1f} MiB" if count >= 1 << 17 else f"{count / (1 << 20):.3f} MiB"


# ---- one padded forward pass ------------------------------------------------------------------

def _check_layer(loaded, heads_of_layer: int | None) -> None:
    if heads_of_layer is not None and not 0 <= heads_of_layer < loaded.n_layers:
        raise InputError(f"Layer {heads_of_layer} does not exist: the model has layers 0–{loaded.n_layers - 1}.")


def _pad_id(tokenizer) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0  # any id will do: padded keys are masked and padded rows dropped


def _capture_padded(loaded, batch: list[EncodedText], per_layer: bool, heads_of_layer: int | None,
                    rollout: bool) -> list[AttentionMaps]:
    """One forward pass over `batch`, right-padded to its longest text; maps per text."""
    model = loaded.model
    lengths = [encoded.n_tokens for encoded in batch]
    longest = max(lengths)
    ids = torch.full((len(batch), longest), _pad_id(loaded.tokenizer), dtype=torch.long)  # [B, T]
    attention_mask = torch.zeros((len(batch), longest), dtype=torch.long)  # [B, T] 1: a real token
    for row, encoded in enumerate(batch):
        ids[row, :encoded.n_tokens] = encoded.input_ids
        attention_mask[row, :encoded.n_tokens] = 1
    # loaded.device, not model.device: a model spread by device_map with its first weights offloaded
    # reports "meta"; load_model chose a real device for its inputs (its dispatch hooks move them on).
    inputs = {"input_ids": ids.to(loaded.device)}
    if len(batch) > 1 and min(lengths) < longest:
        inputs["attention_mask"] = attention_mask.to(loaded.device)
    reducer = _Reducer(per_layer, heads_of_layer, rollout, last_layer=loaded.n_layers - 1)
    with _CAPTURE_LOCK, torch.no_grad():
        if not _run_blockwise(model, inputs, reducer):
            reducer = _Reducer(per_layer, heads_of_layer, rollout)  # the hooks reduce every layer
            _run_with_hooks(model, inputs, reducer)
    if reducer.layers_done == 0:
        raise InputError(
            f"{loaded.ref}: its attention modules returned no weights, so attention cannot be read. "
            "Models whose attention implementation cannot return weights (fused or linear attention) "
            "are not supported; choose a standard transformer.")
    # sums over layers → means over layers, the maps AttentionMaps keeps
    reducer.mean_sum /= reducer.layers_done
    reducer.max_sum /= reducer.layers_done
    return [_finish(reducer, row, encoded) for row, encoded in enumerate(batch)]


def _decoder(model: torch.nn.Module) -> torch.nn.Module:
    """The model without its language-model head: the capture needs no logits ([B, T, vocab])."""
    body = getattr(model, "base_model", None)
    return body if isinstance(body, torch.nn.Module) else model


def _run_blockwise(model, inputs, reducer: _Reducer) -> bool:
    """Forward pass through the registered block-wise function; False if the model bypassed it.
    inputs: input_ids [B, T] and, for a padded batch, attention_mask [B, T]."""
    with ExitStack() as restore:
        # only the switch itself is guarded: an error of the forward pass is the caller's to see
        try:
            restore.enter_context(attention_implementation(model, CAPTURE_IMPLEMENTATION))
        except (ValueError, NotImplementedError, AttributeError):
            return False  # this architecture does not accept custom attention functions
        with active_reducer(reducer):
            try:
                _decoder(model)(**inputs, use_cache=False)
            except _AllLayersReduced:
                pass  # every layer's attention is in: the rest of the pass would only feed the head
    return reducer.layers_done > 0


def _run_with_hooks(model, inputs, reducer: _Reducer) -> None:
    """Fallback: eager attention, each layer's returned weights reduced by a forward hook."""
    hooks = [m.register_forward_hook(_hook(reducer)) for m in attention_modules(model)]
    try:
        with attention_implementation(model, "eager"):
            _decoder(model)(**inputs, use_cache=False)
    finally:
        for hook in hooks:
            hook.remove()


def _hook(reducer: _Reducer):
    def hook(module, args, output):
        weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
        if isinstance(weights, torch.Tensor) and weights.dim() == 4:
            reducer.add(weights)
    return hook


def _finish(reducer: _Reducer, row: int, encoded: EncodedText) -> AttentionMaps:
    """Text `row` of the batch, its maps sliced to its own n tokens (padded rows and keys dropped)."""
    n = encoded.n_tokens

    def own(batched: torch.Tensor) -> torch.Tensor:  # [B, …, T, T] → [… , n, n] on the CPU
        if batched.shape[0] == 1 and batched.shape[-1] == n:
            return batched[0].cpu()
        return batched[row, ..., :n, :n].cpu().clone()  # a copy: the batch's tensor can go

    maps = AttentionMaps(
        tokens=encoded.tokens, offsets=encoded.offsets, input_ids=encoded.input_ids, special=encoded.special,
        text=encoded.text,
        mean=own(reducer.mean_sum),  # already divided by the number of layers
        max_heads=own(reducer.max_sum),
        rollout=own(reducer.rollout) if reducer.rollout is not None else None,
        per_layer=torch.stack([own(layer) for layer in reducer.layers]) if reducer.layers else None,
        heads=own(reducer.heads) if reducer.heads is not None else None,
        head_layer=reducer.heads_of_layer if reducer.heads is not None else None,
        n_layers=reducer.layers_done, n_heads=reducer.n_heads,
    )
    if encoded.truncated_tokens:
        maps.truncated_tokens = encoded.truncated_tokens
        maps.notes.append(f"The text is longer than {encoded.token_limit} tokens: "
                          f"the last {encoded.truncated_tokens} tokens were left out.")
    return maps
