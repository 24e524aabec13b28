"""Importance: how a [T, T] attention map becomes one number per token.

`received_attention` is the one function the contrast uses for it (`clues.contrast`), so a
different definition of importance changes here and nowhere else.
"""

from __future__ import annotations

import torch


def received_attention(matrix: torch.Tensor) -> torch.Tensor:
    """[T] importance of each key token k: the mean over queries q ≥ k of matrix[q, k].

    This is a COLUMN mean of the causal map: the attention a token receives from itself and
    every later token. (Summing a row instead gives 1 for every token, since softmax rows sum
    to 1; averaging it gives ≈ 1/(i+1) for any model — the mistake to avoid.)
    """
    size = matrix.shape[-1]
    attending = torch.arange(size, 0, -1, dtype=matrix.dtype, device=matrix.device)  # T-k queries see k
    return matrix.sum(dim=-2) / attending
