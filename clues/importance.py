"""Importance definitions: how a causal attention map [T, T] (rows = queries, columns = keys)
becomes one number per token — the attention the token RECEIVES from the tokens after it.

How "received" is summarised decides what a ranking finds, so each definition states its bias
against position (check any of them with `clues.clue_quality` against the position ranking):

- `total` (default): the column sum over the later queries q > k. Every later token has one unit
  of attention to give, so early tokens can receive more in total — a mild lean towards the
  start, which the contrast (large − small, same text, same positions) largely cancels.
- `paper_mean`: the paper's wording, the column mean over the queries q ≥ k (self included).
  It divides by T − k, so the last tokens average one or two queries: whatever they do to
  themselves and their neighbours dominates, and its top ranks sit at the END of the text.
- `far_mean`: the mean over the queries at least `distance` tokens later (q ≥ k + d). Neighbours
  are left out, so a token must be looked back at from afar; the last d tokens get no queries and
  importance 0 (their contrast is 0: they are never ranked by what they received).

Two things every definition meets, handled the same way for all of them:
- Self-attention (the diagonal) says nothing about whether LATER tokens need a token; `total`
  and `far_mean` leave it out, `paper_mean` keeps it because the paper's wording does.
- The attention sink: models park spare attention on the first position (a BOS token, or the
  first word when there is none). It receives most of every row, so it is not a clue; the ranking
  leaves it out (`clues.contrast` marks it unranked, and augmentation never drops an unranked
  unit). The definitions themselves do not renormalise rows around it.

(The authors' released code sums the map over the key axis — a ROW sum. Softmax rows sum to 1,
so that "importance" is ≈ 1/(i+1) for every model and the contrast is rounding noise; it is kept
here only as `row_sum_mistake`, outside the registry, for the test that must catch it.)

A new definition is one function plus its decorator; the CLI and the pages list `IMPORTANCE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from clues.errors import InputError

if TYPE_CHECKING:  # tensor methods only at run time: the CLI lists this registry before torch loads
    import torch

DEFAULT_IMPORTANCE = "total"
DEFAULT_DISTANCE = 8  # far_mean: queries at least this many tokens later


@dataclass(frozen=True)
class Importance:
    name: str
    function: Callable[..., torch.Tensor]  # ([..., T, T] map, distance) -> [..., T]
    label: str  # one line for menus
    bias: str  # where it leans, in one sentence


IMPORTANCE: dict[str, Importance] = {}


def register_importance(name: str, label: str, bias: str):
    def decorate(function):
        IMPORTANCE[name] = Importance(name, function, label, bias)
        return function
    return decorate


def _later_counts(size: int, offset: int, like: torch.Tensor) -> torch.Tensor:
    """[T] how many queries q ≥ k + offset each key k has (0 for the last `offset` keys)."""
    return (like.new_ones(size).cumsum(0).flip(0) - offset).clamp(min=0)


def _below_diagonal(matrix: torch.Tensor, offset: int) -> torch.Tensor:
    """The map with every entry of q < k + offset zeroed (offset 0 keeps the diagonal)."""
    size = matrix.shape[-1]
    keep = matrix.new_ones(size, size).tril(diagonal=-offset)
    return matrix * keep


@register_importance("total", "total received from later tokens (column sum, q > k)",
                     "leans mildly to the start (early tokens have more later tokens to receive from)")
def total_received(matrix: torch.Tensor, distance: int = DEFAULT_DISTANCE) -> torch.Tensor:
    """[T] Σ_{q > k} A[q, k]: all the attention token k receives from the tokens after it."""
    return _below_diagonal(matrix, 1).sum(dim=-2)


@register_importance("paper_mean", "the paper's mean over later tokens (column mean, q ≥ k)",
                     "leans hard to the END: the last tokens average one or two queries")
def paper_mean_received(matrix: torch.Tensor, distance: int = DEFAULT_DISTANCE) -> torch.Tensor:
    """[T] mean over q ≥ k of A[q, k] (the paper's wording; self-attention included)."""
    return _mean_received(matrix, 0)


@register_importance("far_mean", "mean over tokens at least d later (q ≥ k + d)",
                     "ignores neighbours; the last d tokens receive nothing")
def far_mean_received(matrix: torch.Tensor, distance: int = DEFAULT_DISTANCE) -> torch.Tensor:
    """[T] mean over q ≥ k + d of A[q, k]; 0 where no query is that far."""
    check_distance(distance)
    return _mean_received(matrix, distance)


def _mean_received(matrix: torch.Tensor, offset: int) -> torch.Tensor:
    """[T] mean over q ≥ k + offset of A[q, k]; 0 where no query is that far."""
    counts = _later_counts(matrix.shape[-1], offset, matrix)
    sums = _below_diagonal(matrix, offset).sum(dim=-2)
    return (sums / counts.clamp(min=1)).where(counts > 0, sums.new_zeros(()))


def check_distance(distance: int) -> None:
    if not isinstance(distance, int) or distance < 1:
        raise InputError(f"distance = {distance}: far_mean needs queries at least 1 token later; give 1 or more.")


def check_importance(name: str) -> None:
    if name not in IMPORTANCE:
        raise InputError(f"Unknown importance {name!r}; choose one of {', '.join(IMPORTANCE)}.")


def received_attention(matrix: torch.Tensor, importance: str = DEFAULT_IMPORTANCE,
                       distance: int = DEFAULT_DISTANCE) -> torch.Tensor:
    """[T] (or [..., T]) importance of each key token under a named definition."""
    check_importance(importance)
    return IMPORTANCE[importance].function(matrix, distance)


def row_sum_mistake(matrix: torch.Tensor) -> torch.Tensor:
    """[T] the released code's quantity: the averaged map summed over the KEY axis, divided by
    the number of keys a row sees. Softmax rows sum to 1, so this is ≈ 1/(i+1) for any model."""
    size = matrix.shape[-1]
    return matrix.sum(dim=-1) / matrix.new_ones(size).cumsum(0)
