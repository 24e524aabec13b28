"""Importance, contrast, ranking, word alignment across tokenizers, query rows."""

import numpy as np
import pytest
import torch

from clues.capture import capture_attention
from clues.contrast import contrast_maps, contrast_text, contrast_view, query_rows, unit_before, word_units
from clues.importance import received_attention
from clues.models import load_model
from clues.text import parse_tagged
from clues.views import ViewSpec, view_spec

from tiny import build_tokenizer, tiny_model_dir

TAGGED = ("<name>Liam Thompson</name> was born on <date>January 5, 1990</date>. He spent his early years in "
          "<city>Melbourne, Australia</city>. He had a professional role at <company>the British Museum</company>.")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    large = load_model(tiny_model_dir(tmp_path_factory.mktemp("large"), "llama", layers=4, hidden=64, seed=1,
                                       initializer_range=0.3))
    small = load_model(tiny_model_dir(tmp_path_factory.mktemp("small"), "llama", layers=2, hidden=32, seed=2,
                                       initializer_range=0.3))
    return large, small


def test_received_attention_by_hand():
    # rows are queries; column k receives A[k:, k]
    matrix = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.2, 0.6]])
    torch.testing.assert_close(received_attention(matrix, "paper_mean"), torch.tensor([1.7 / 3, 0.7 / 2, 0.6]))
    torch.testing.assert_close(received_attention(matrix, "total"), torch.tensor([0.7, 0.2, 0.0]))
    torch.testing.assert_close(received_attention(matrix, "far_mean", 2), torch.tensor([0.2, 0.0, 0.0]))


def test_contrast_is_not_the_row_sum_mistake(pair):
    """Summing over the key axis gives ≈1/(i+1) for any model: that contrast would be noise."""
    item = parse_tagged(TAGGED)
    result = contrast_text(*pair, item.text, spans=item.spans, importance="paper_mean")
    large_map, small_map = result.large_maps.mean, result.small_maps.mean
    positions = torch.arange(1, large_map.shape[0] + 1, dtype=torch.float32)
    row_sum_large = large_map.sum(-1) / positions  # the authors' public code
    row_sum_small = small_map.sum(-1) / positions
    assert (row_sum_large - row_sum_small).abs().max() < 1e-5  # the mistake: no signal at all
    contrast = torch.tensor([c.contrast for c in result.clues])
    assert contrast.abs().max() > 1e-3  # the column mean tells the two models apart
    column_mean = torch.tensor([large_map[k:, k].mean() - small_map[k:, k].mean() for k in range(len(contrast))])
    torch.testing.assert_close(contrast, column_mean.to(contrast.dtype), atol=1e-6, rtol=0)
    assert not torch.allclose(torch.tensor([c.large for c in result.clues], dtype=torch.float32),
                              1.0 / positions, atol=1e-3)


def test_ranking_leaves_out_specials_and_sink(pair):
    item = parse_tagged(TAGGED)
    result = contrast_text(*pair, item.text, spans=item.spans)
    assert result.level == "token"
    assert result.clues[0].special and result.clues[0].rank is None  # BOS
    ranks = sorted(c.rank for c in result.clues if c.rank is not None)
    assert ranks == list(range(len(ranks)))
    ranked = result.ranked()
    assert all(a.contrast >= b.contrast for a, b in zip(ranked, ranked[1:]))
    fields = {c.field for c in result.clues}
    assert {"name", "date", "city", "company", None} <= fields
    name_clues = [c for c in result.clues if c.field == "name"]
    assert "".join(c.text for c in name_clues).replace(" ", "") == "LiamThompson"


def test_keep_first_ranks_position_zero_when_there_is_no_bos(tmp_path):
    large = load_model(tiny_model_dir(tmp_path / "l", "gpt2", layers=3, seed=1))
    small = load_model(tiny_model_dir(tmp_path / "s", "gpt2", layers=2, seed=2))
    large.tokenizer._tokenizer.post_processor = None  # like GPT-2: no BOS
    small.tokenizer._tokenizer.post_processor = None
    text = "Liam Thompson was born on January 5, 1990."
    skipped = contrast_text(large, small, text)
    kept = contrast_text(large, small, text, skip_first=False)
    assert skipped.clues[0].rank is None and not skipped.clues[0].special
    assert kept.clues[0].rank is not None


def test_different_tokenizers_compare_per_word(tmp_path):
    sentences = ["alpha beta gamma delta", "Liam Thompson was born in Melbourne.", "a b c d e f g"]
    large = load_model(tiny_model_dir(tmp_path / "l", "llama", seed=1))
    small = load_model(tiny_model_dir(tmp_path / "s", "qwen2", seed=2, tokenizer=build_tokenizer(120, sentences)))
    text = "Liam Thompson was born on January 5, 1990 in Melbourne."
    result = contrast_text(large, small, text)
    assert result.level == "word"
    assert [(c.start, c.end) for c in result.clues] == word_units(text)
    # word importance is the sum of its tokens': nothing is lost or counted twice
    large_tokens = received_attention(result.large_maps.mean, result.importance)
    content = ~result.large_maps.special
    assert np.isclose(sum(c.large for c in result.clues), float(large_tokens[content].sum()), atol=1e-5)
    # BOS absorbs the sink; nothing but punctuation is left out (never a clue, on every page and command)
    assert all((c.rank is None) == c.punctuation for c in result.clues)
    assert any(c.punctuation for c in result.clues)


def test_query_rows_are_causal_and_differ(pair):
    item = parse_tagged(TAGGED)
    result = contrast_text(*pair, item.text, spans=item.spans)
    before_company = unit_before(result, item.span("company").start)
    clue = result.clues[before_company]
    assert item.text[clue.end:item.span("company").start].strip() == "" and clue.text.strip()
    rows = query_rows(result, before_company)
    assert rows["large"].shape == (len(result.clues),)
    assert np.allclose(rows["large"][before_company + 1:], 0)
    assert np.isclose(rows["large"].sum(), 1.0, atol=1e-5)
    assert np.allclose(rows["difference"], rows["large"] - rows["small"])


def test_the_contrast_ranks_any_view_directly(pair):
    """One layer (mapped by depth) or one head: ranked from that view's maps, the captures untouched."""
    large, small = pair
    item = parse_tagged(TAGGED)
    large_maps = capture_attention(large, item.text, per_layer=True, heads_of_layer=3)
    small_maps = capture_attention(small, item.text, per_layer=True, heads_of_layer=1)
    spec = view_spec("layer", 3, 0, (4, large.n_heads), (2, small.n_heads))
    assert (spec.large_layer, spec.small_layer) == (3, 1)
    result = contrast_maps(large_maps, small_maps, view=spec, spans=item.spans)
    expected = received_attention(large_maps.per_layer[3]) - received_attention(small_maps.per_layer[1])
    torch.testing.assert_close(torch.tensor([c.contrast for c in result.clues], dtype=torch.float64), expected.double(),
                               atol=1e-6, rtol=0)
    assert result.view == spec and result.large_maps is large_maps
    mean = contrast_maps(large_maps, small_maps, spans=item.spans)
    assert [c.contrast for c in mean.clues] != [c.contrast for c in result.clues]
    query = unit_before(result, item.span("company").start)
    rows = query_rows(result, query)
    np.testing.assert_allclose(rows["large"], large_maps.per_layer[3][query].double().numpy())
    np.testing.assert_allclose(rows["small"], small_maps.per_layer[1][query].double().numpy())
    head = view_spec("head", 3, 1, (4, large.n_heads), (2, small.n_heads))
    shown = contrast_view(large_maps, small_maps, head, item.spans)
    np.testing.assert_allclose(shown.large, large_maps.heads[1].double().numpy())
    np.testing.assert_allclose(shown.difference, shown.large - shown.small)
    assert shown.tokens == [c.text for c in shown.result.clues]


def test_contrast_text_captures_what_the_view_needs(pair):
    item = parse_tagged(TAGGED)
    for view in ("max", "rollout", ViewSpec("layer", 2, 1), ViewSpec("head", 1, 0, 0, 0)):
        result = contrast_text(*pair, item.text, view=view, spans=item.spans)
        assert result.view.name == (view if isinstance(view, str) else view.name)
        assert result.large_matrix.shape == result.large_maps.mean.shape
