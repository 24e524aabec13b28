"""Importance definitions on hand-built [T, T] maps (no model): tests that catch a position artefact."""

import numpy as np
import pytest
import torch

from clues.augment import AugmentSettings, augment_ranked, dropout_probability, ranked_from_clues
from clues.capture import AttentionMaps
from clues.contrast import contrast_maps, own_attention
from clues.errors import InputError
from clues.importance import DEFAULT_IMPORTANCE, IMPORTANCE, received_attention, row_sum_mistake

T = 30
WORDS = [f"w{i}" for i in range(T)]
TEXT = " ".join(WORDS)


def hand_maps(matrix: torch.Tensor) -> AttentionMaps:
    """AttentionMaps over the words w0 … w29 (one token each, no BOS) with `matrix` as every view."""
    offsets, cursor = [], 0
    for word in WORDS:
        offsets.append((cursor, cursor + len(word)))
        cursor += len(word) + 1
    return AttentionMaps(tokens=WORDS, offsets=offsets, input_ids=torch.arange(T), special=torch.zeros(T, dtype=bool),
                         mean=matrix, max_heads=matrix, n_layers=1, n_heads=1, text=TEXT)


def local_map(size: int = T) -> torch.Tensor:
    """A causal map like a small model's: a sink on position 0, the rest on the last two tokens."""
    matrix = torch.zeros(size, size)
    for q in range(size):
        matrix[q, 0] += 0.4
        for k in (q, q - 1):
            if k >= 0:
                matrix[q, k] += 0.3
    return matrix / matrix.sum(-1, keepdim=True)


def with_extra(matrix: torch.Tensor, key: int, rows, amount: float) -> torch.Tensor:
    """Move `amount` of each row's attention onto `key`, taken evenly from the row's other keys."""
    out = matrix.clone()
    for q in rows:
        out[q] *= 1 - amount
        out[q, key] += amount
    return out


def ranked_words(large: torch.Tensor, small: torch.Tensor, importance: str = DEFAULT_IMPORTANCE):
    result = contrast_maps(hand_maps(large), hand_maps(small), importance=importance)
    return [c.index for c in result.ranked()]


def test_default_is_total_and_registry_lists_the_paper():
    assert DEFAULT_IMPORTANCE == "total"
    assert {"total", "paper_mean", "far_mean"} <= set(IMPORTANCE)
    assert "paper" in IMPORTANCE["paper_mean"].label
    for definition in IMPORTANCE.values():
        assert definition.function.__doc__ and definition.bias


def test_a_middle_token_read_from_afar_ranks_first():
    small = local_map()
    large = with_extra(small, key=10, rows=range(20, T), amount=0.2)  # the "name", read from far away
    assert ranked_words(large, small)[0] == 10
    assert ranked_words(large, small, "far_mean")[0] == 10


def test_a_difference_in_the_last_rows_does_not_put_the_last_tokens_first():
    small = local_map()
    large = small.clone()
    for q in (T - 2, T - 1):  # the last two queries look at themselves a bit more
        large[q] = small[q] * 0.9
        large[q, q] += 0.1
    large = with_extra(large, key=10, rows=range(12, T), amount=0.05)  # and a real clue in the middle
    default = ranked_words(large, small)
    assert default[0] == 10
    assert not {T - 1, T - 2} & set(default[:3])
    # the paper's mean divides the last token's single query by 1: it ranks that token first
    assert ranked_words(large, small, "paper_mean")[0] in (T - 1, T - 2)


def test_total_leaves_out_self_attention_and_far_mean_leaves_out_neighbours():
    matrix = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0], [0.2, 0.2, 0.6, 0.0],
                           [0.1, 0.4, 0.1, 0.4]])
    torch.testing.assert_close(received_attention(matrix, "total"), torch.tensor([0.8, 0.6, 0.1, 0.0]))
    torch.testing.assert_close(received_attention(matrix, "far_mean", 2), torch.tensor([0.15, 0.4, 0.0, 0.0]))
    torch.testing.assert_close(received_attention(matrix, "paper_mean"),
                               torch.tensor([1.8 / 4, 1.1 / 3, 0.7 / 2, 0.4]))


def test_unknown_importance_and_bad_distance_are_one_clear_line():
    with pytest.raises(InputError, match="Unknown importance 'sum'; choose one of total"):
        received_attention(torch.eye(3), "sum")
    with pytest.raises(InputError, match="distance = 0"):
        received_attention(torch.eye(3), "far_mean", 0)


def test_row_sum_mistake_is_the_same_for_any_two_maps():
    small = local_map()
    large = with_extra(small, key=10, rows=range(20, T), amount=0.2)
    assert torch.allclose(row_sum_mistake(large), row_sum_mistake(small), atol=1e-6)
    torch.testing.assert_close(row_sum_mistake(small), 1.0 / torch.arange(1, T + 1, dtype=torch.float32))
    assert (received_attention(large) - received_attention(small)).abs().max() > 0.1


def test_position_mode_keeps_the_earliest_tokens():
    result = contrast_maps(hand_maps(local_map()), hand_maps(local_map()))
    ranked = ranked_from_clues(result, "position")
    assert ranked.ranks[0] == -1  # the sink is never dropped
    assert list(ranked.ranks[1:]) == list(range(T - 1))  # then earliest first
    probability = dropout_probability(ranked.ranks, 0.9, 0.3)
    assert probability[1] == 0 and np.all(np.diff(probability[1:]) >= 0)
    copies = augment_ranked([ranked], [probability], AugmentSettings(copies=200, seed=0, style="space"))[0][1:]
    kept = [np.mean([copy[s:e] == TEXT[s:e] for copy in copies]) for s, e in zip(ranked.starts, ranked.ends)]
    assert kept[0] == kept[1] == 1.0 and kept[2] > kept[-1]


def test_what_the_ranking_leaves_out_is_never_dropped():
    small = local_map()  # the sink on position 0 gives it a huge negative contrast when the large differs
    large = with_extra(small, key=5, rows=range(10, T), amount=0.3)
    result = contrast_maps(hand_maps(large), hand_maps(small))
    assert result.clues[0].rank is None and result.clues[0].contrast < 0
    for ranked in (ranked_from_clues(result, "contrast"), ranked_from_clues(result, "position"),
                   ranked_from_clues(own_attention(hand_maps(large)), "own"),
                   ranked_from_clues(own_attention(hand_maps(small)), "own")):
        assert ranked.ranks[0] == -1
        assert dropout_probability(ranked.ranks, 1.0, 1.0)[0] == 0


def test_own_attention_ranks_one_model_by_its_importance_and_refuses_a_pair():
    """"own": one model's maps against themselves, ranked by its received attention; a pair's result
    (two models) is refused rather than read from one of its sides."""
    large = with_extra(local_map(), key=5, rows=range(10, T), amount=0.3)
    maps = hand_maps(large)
    ranked = ranked_from_clues(own_attention(maps), "own")
    importance = received_attention(large).numpy()
    best = int(np.flatnonzero(ranked.ranks == 0)[0])
    assert best == int(np.argmax(importance[1:])) + 1 == 5  # the extra key, the sink left out
    with pytest.raises(InputError, match="own-attention ranking needs one model"):
        ranked_from_clues(contrast_maps(maps, hand_maps(local_map())), "own")
    with pytest.raises(InputError, match="Unknown ranking 'large'"):
        ranked_from_clues(own_attention(maps), "large")
