"""Issue 19 ("Ready for the lecture hall"), items 4, 5, 6, 8 and 10, without a browser: one rule for
what can be a clue (punctuation never is, in the explorer as in augmentation), one rank convention (r = 0
is the strongest clue: the explorer's table and badges, the lab's hover, p(r), field ranks), figures whose
every text is at least 14 px and whose top clues keep their axis labels, one palette, and right-to-left
text shaded without breaking its words."""

from __future__ import annotations

import re

import numpy as np
import pytest

from clues import figures
from clues import text_views as markup
from clues.augment import DEFAULT_AUGMENT, dropout_probability, mode_probabilities, rank_text
from clues.capture import capture_attention
from clues.contrast import contrast_view, is_punctuation, ranked_table
from clues.corpus import generate_biographies
from clues.fields_by_rank import FieldRankCounts
from clues.models import load_model
from clues.views import ViewSpec, view_spec


@pytest.fixture(scope="module")
def loaded(pair):
    return load_model(pair[0]), load_model(pair[1])


# The texts of the issue: generated biography seed 7 ("," was clue #4) and the demo text ("." ranked 13th).
TEXTS = [generate_biographies(1, seed=7, varied=True)[0], generate_biographies(1, seed=0, varied=False)[0]]


@pytest.mark.parametrize("item", TEXTS, ids=["generated-seed-7", "demo"])
def test_the_explorer_ranks_what_augmentation_ranks_and_never_punctuation(loaded, item):
    large, small = loaded
    maps = {"large": capture_attention(large, item.text), "small": capture_attention(small, item.text)}
    shown = contrast_view(maps["large"], maps["small"], "mean", item.spans).result  # the explorer's ranking
    assert not [c.text for c in shown.clues if c.rank is not None and is_punctuation(c.text)]
    augmented = rank_text(item, "contrast", maps, own="small", tokenizer=small.tokenizer)  # the one ranking path
    by_rank = {int(r): item.text[s:e].strip() for r, s, e in zip(augmented.ranks, augmented.starts, augmented.ends)
               if r >= 0}
    assert [c.text.strip() for c in shown.ranked()] == [by_rank[r] for r in sorted(by_rank)]
    # the boxes and the table show exactly that ranking
    html = markup.contrast_text_html(item.text, shown.clues, 20)
    boxed = re.findall(r'data-rank="(\d+)"[^>]*>([^<]*)</span>', html)
    assert sorted(int(r) for r, _ in boxed) == list(range(20))
    assert not [text for _, text in boxed if is_punctuation(text)]
    table = ranked_table(shown)
    assert table["rank"].tolist() == list(range(len(table)))  # r = 0 is the strongest clue, as in p(r)


def test_the_labs_hover_rank_in_the_formula_gives_the_probability_shown(loaded):
    item = TEXTS[1]
    large, small = loaded
    maps = {"large": capture_attention(large, item.text), "small": capture_attention(small, item.text)}
    ranked = rank_text(item, "contrast", maps, own="small", tokenizer=small.tokenizer)
    probabilities = mode_probabilities(ranked, "contrast", DEFAULT_AUGMENT)
    html = markup.probability_text(item.text, ranked.starts, ranked.ends, probabilities, ranked.ranks, ranked.fields)
    hovers = re.findall(r'title="rank r = (\d+) · drop probability ([0-9.]+)', html)
    assert hovers and ("0", "0.00") in hovers  # the strongest clue: rank 0, never dropped
    for rank, shown in hovers:
        expected = float(dropout_probability(np.array([int(rank)]), DEFAULT_AUGMENT.alpha, DEFAULT_AUGMENT.beta)[0])
        assert f"{expected:.2f}" == shown


def test_field_ranks_count_from_zero():
    counts = FieldRankCounts("company", 2, ["name", "other"], {"large": np.array([[1, 0], [0, 1]])}, 1)
    assert counts.frame()["rank"].tolist() == [0, 1]
    figure = figures.field_rank_bars(counts.counts, counts.fields)
    assert list(figure.data[0].x) == ["0", "1"] and "0 = most attended" in figure.layout.xaxis.title.text


def _texts_of(figure) -> list[tuple[str, float | None]]:
    """Every font size a figure sets where it writes text (None: inherits the layout's font)."""
    layout = figure.layout
    sizes = [("layout", layout.font.size), ("legend", layout.legend.font.size), ("title", layout.title.font.size)]
    for name in [k for k in layout if k.startswith(("xaxis", "yaxis"))]:
        sizes += [(f"{name} ticks", layout[name].tickfont.size), (f"{name} title", layout[name].title.font.size)]
    sizes += [("colorbar", t.colorbar.tickfont.size) for t in figure.data if "colorbar" in t]
    sizes += [("subplot title", a.font.size) for a in layout.annotations]
    return sizes


def every_figure():
    tokens = [f"t{i}" for i in range(80)]
    matrix = np.tril(np.random.default_rng(0).random((80, 80)))
    vector = np.random.default_rng(1).random(80)
    curves = {"none": {"company": [0.0, 0.1]}, "random": {"company": [0.0, 0.2]}}
    paired = [{"a": "contrast", "b": "none", "metric": "em", "mean": -0.1, "low": -0.2, "high": 0.0, "n": 3}]
    return {
        "attention": figures.attention_heatmap(matrix, tokens, title="Large model · mean", marked=[77]),
        "contrast": figures.contrast_heatmap(matrix - matrix.T, tokens, marked=[77]),
        "received": figures.received_bars(tokens, vector, vector[::-1], top=[77, 3]),
        "query": figures.query_bars(tokens, {"large": vector, "small": vector, "difference": vector}, 79),
        "fields": figures.field_rank_bars({"large": np.ones((3, 2))}, ["name", "other"]),
        "curve": figures.dropout_curve(dropout_probability, 0.7, 0.05, 40),
        "survival": figures.survival_bars({"name": 0.9}),
        "position": figures.importance_position_figure(vector, vector, vector, tokens),
        "experiment": figures.experiment_curves(curves, fields=["company"]),
        "paired": figures.paired_intervals(paired),
    }


@pytest.mark.parametrize("name", list(every_figure()))
def test_every_figure_writes_at_least_14_px(name):
    figure = every_figure()[name]
    small = [(part, size) for part, size in _texts_of(figure) if size is not None and size < figures.FONT_SIZE]
    assert not small and figure.layout.font.size >= figures.FONT_SIZE


def test_the_top_clues_keep_their_axis_labels():
    figure = every_figure()["received"]
    labels = figures.token_labels([f"t{i}" for i in range(80)])
    ticks = list(figure.layout.xaxis.tickvals)
    assert labels[77] in ticks and labels[3] in ticks and len(ticks) <= figures.MAX_TICKS + 2
    assert figure.data[2].text[77] == "0" and figure.data[2].text[3] == "1"  # the rank above each top bar
    heat = every_figure()["attention"]
    assert labels[77] in heat.layout.xaxis.tickvals and labels[77] in heat.layout.yaxis.tickvals


def test_text_views_write_badges_and_legends_at_14_px_or_more():
    item = TEXTS[1]
    html = markup.contrast_text_html(item.text, [], 10) + markup.probability_text("ab", [0], [2], [0.5], [0])
    sizes = [float(px) for px in re.findall(r"font-size:\s*([0-9.]+)px", html)]
    assert sizes and min(sizes) >= figures.FONT_SIZE
    assert "em;" not in "".join(re.findall(r"font-size:[^;\"]*", html))


def test_one_palette():
    models = {figures.LARGE_COLOR, figures.SMALL_COLOR}
    conditions = set(figures.CONDITION_COLORS.values())
    assert not models & conditions  # a "contrast" run is not the large model
    assert len(conditions) == len(figures.CONDITION_COLORS)
    drop = "rgb" + str(figures.DROP_COLOR)
    assert drop not in figures.FIELD_COLORS.values() and "214,39,40" not in markup.probability_text(
        "ab", [0], [2], [1.0], [0], ["university"]).split("border-bottom")[0]
    assert set(figures.line_colors([f"run {i}" for i in range(10)]).values()).isdisjoint(models)


def test_a_view_title_names_only_its_own_models_layer():
    spec = view_spec("layer", 5, 0, (6, 4), (2, 2))
    assert spec.describe("small") == "layer 1" and spec.describe("large") == "layer 5"
    assert ViewSpec("mean").describe("small") == "mean"
    assert "large model" in spec.describe()  # the caption's sentence still names both


def test_right_to_left_text_keeps_its_words_whole():
    text = "ولد أحمد في القاهرة"
    spans = [(0, 2), (2, 3), (4, 7), (7, 8), (9, 11), (12, 19)]

    class Clue:
        def __init__(self, index, start, end, rank):
            self.index, self.start, self.end, self.rank = index, start, end, rank
            self.text, self.large, self.small, self.contrast, self.field = text[start:end], 0.1, 0.0, 0.1 * rank, None
    clues = [Clue(i, s, e, i) for i, (s, e) in enumerate(spans)]
    html = markup.contrast_text_html(text, clues, 3)
    assert 'dir="rtl"' in html and "<sup" not in html and "font-weight" not in html  # nothing inside a word
    assert "right-to-left" in html
    latin = markup.contrast_text_html("Ana was born", [Clue(0, 0, 3, 0)], 3)
    assert 'dir="rtl"' not in latin and "<sup" in latin
