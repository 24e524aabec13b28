"""The plotly figure builders and the text HTML: right data in, right figure out (no browser)."""

import subprocess
import sys

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from clues import FIELDS, figures
from clues import text_views as markup
from clues.augment import MODES, dropout_probability

TOKENS = ["<s>", "Ana", " Herrera", " was", " born", " in", " Lisbon", "."]


def causal(size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    matrix = np.tril(rng.random((size, size)) + 0.01)
    return matrix / matrix.sum(axis=1, keepdims=True)


def test_token_labels_are_unique_and_show_whitespace():
    labels = figures.token_labels(["a", " a", "a", " ", "\n", "x" * 40])
    assert len(set(labels)) == 6
    assert labels[3] == "3 ␣" and labels[4] == "4 ⏎"
    assert labels[5].endswith("…") and len(labels[5]) < 25


def test_attention_heatmap_keeps_the_values():
    matrix = causal(len(TOKENS))
    figure = figures.attention_heatmap(matrix, TOKENS, title="large", zmin=0.0, zmax=0.5)
    assert isinstance(figure, go.Figure)
    (trace,) = figure.data
    assert isinstance(trace, go.Heatmap)
    assert np.asarray(trace.z).shape == (len(TOKENS), len(TOKENS))
    np.testing.assert_allclose(np.asarray(trace.z, dtype=float), matrix)
    assert list(trace.x) == figures.token_labels(TOKENS) == list(trace.y)
    assert (trace.zmin, trace.zmax) == (0.0, 0.5)
    assert figure.layout.title.text == "large"
    assert figure.layout.yaxis.autorange == "reversed"  # query 0 at the top


def test_attention_heatmap_log_scale_and_causal_blank():
    matrix = causal(5)
    figure = figures.attention_heatmap(matrix, TOKENS[:5], log=True, causal_blank=True)
    z = np.asarray(figure.data[0].z, dtype=float)
    lower = np.tril_indices(5)
    np.testing.assert_allclose(z[lower], np.log10(matrix[lower]))
    assert np.isnan(z[np.triu_indices(5, k=1)]).all()
    assert "log10" in figure.data[0].colorbar.title.text


def test_attention_heatmap_rejects_a_wrong_shape():
    with pytest.raises(ValueError):
        figures.attention_heatmap(np.zeros((3, 4)), ["a", "b", "c"])
    with pytest.raises(ValueError):
        figures.attention_heatmap(np.zeros((3, 3)), ["a", "b"])


def test_contrast_heatmap_is_diverging_and_centred_at_zero():
    difference = causal(6, 1) - causal(6, 2)
    figure = figures.contrast_heatmap(difference, TOKENS[:6])
    trace = figure.data[0]
    assert trace.zmid == 0
    assert trace.zmin == -trace.zmax
    assert trace.zmax == pytest.approx(np.abs(difference).max())
    np.testing.assert_allclose(np.asarray(trace.z, dtype=float), difference)
    scale = [color for _, color in trace.colorscale]
    assert scale[0] != scale[-1]  # two ends, blue and red
    clipped = figures.contrast_heatmap(difference, TOKENS[:6], clip=50)
    assert clipped.data[0].zmax < trace.zmax and clipped.data[0].zmid == 0


def test_shared_range_covers_both_and_clips():
    a, b = causal(4, 1), causal(4, 2) * 0.5
    low, high = figures.shared_range(a, b)
    assert low == pytest.approx(min(a.min(), b.min())) and high == pytest.approx(max(a.max(), b.max()))
    assert figures.shared_range(a, b, clip=50)[1] < high
    log_low, log_high = figures.shared_range(a, log=True)
    assert log_high == pytest.approx(np.log10(a.max()))


def test_received_bars_show_both_models_and_the_difference():
    large, small = np.linspace(0.1, 0.8, 8), np.linspace(0.5, 0.2, 8)
    figure = figures.received_bars(TOKENS, large, small, top=[2])
    names = [t.name for t in figure.data]
    assert names == ["large", "small", "large − small"]
    np.testing.assert_allclose(figure.data[0].y, large)
    np.testing.assert_allclose(figure.data[1].y, small)
    np.testing.assert_allclose(figure.data[2].y, large - small)
    assert figure.data[2].marker.line.color[2] == "black"  # the top clue is outlined


def test_query_bars_stop_at_the_query():
    rows = {"large": np.arange(8.0), "small": np.ones(8), "difference": np.arange(8.0) - 1}
    figure = figures.query_bars(TOKENS, rows, query=4)
    assert all(len(t.y) == 5 for t in figure.data)
    np.testing.assert_allclose(figure.data[2].y, rows["difference"][:5])
    assert "4 born" in figure.layout.title.text


def test_field_rank_bars_stack_one_trace_per_field_and_view():
    fields = list(FIELDS) + ["other"]
    counts = {view: np.arange(3 * len(fields)).reshape(3, len(fields)) for view in ("large", "small", "difference")}
    figure = figures.field_rank_bars(counts, fields, normalize=False)
    assert len(figure.data) == 3 * len(fields)
    assert figure.layout.barmode == "stack"
    first = figure.data[0]
    assert first.name == "name" and list(first.x) == ["0", "1", "2"]  # rank 0 = the most attended
    np.testing.assert_allclose(first.y, counts["large"][:, 0])
    assert first.marker.color == figures.FIELD_COLORS["name"]
    shares = figures.field_rank_bars(counts, fields)
    total = sum(np.asarray(t.y) for t in shares.data[: len(fields)])
    np.testing.assert_allclose(total[1:], 1.0)


@pytest.mark.parametrize("mode", ["none", "random", "attention", "contrast"])
def test_dropout_curve_follows_the_formula(mode):
    figure = figures.dropout_curve(MODES[mode].probability, 0.6, 0.1, 50, mode=mode)
    r = np.arange(50)
    expected = {"none": np.zeros(50), "random": np.full(50, 0.6)}.get(mode, 0.6 * (1 - np.exp(-0.1 * r)))
    np.testing.assert_allclose(figure.data[0].y, expected)


def test_dropout_curve_places_the_tokens():
    ranks = np.array([-1, 0, 2, 1])
    probabilities = np.array([0.0, 0.0, 0.3, 0.2])
    figure = figures.dropout_curve(dropout_probability, 0.7, 0.05, 3, probabilities=probabilities, ranks=ranks,
                                   tokens=list("abcd"))
    points = figure.data[1]
    assert list(points.x) == [0, 2, 1] and list(points.text) == ["b", "c", "d"]


def test_metric_and_loss_curves_draw_one_line_per_run():
    rows = []
    for label in ("none #1", "contrast #2"):
        for epoch in (0, 1, 2):
            for field in ("date", "company", "mean"):
                rows.append({"label": label, "epoch": epoch, "step": epoch * 3, "field": field, "name": "em",
                             "value": epoch / 4})
            rows.append({"label": label, "epoch": epoch, "step": epoch * 3, "field": None, "name": "loss",
                         "value": 3 - epoch})
    frame = pd.DataFrame(rows)
    figure = figures.metric_curves(frame, metric="em")
    assert [a.text for a in figure.layout.annotations] == ["date", "company", "mean"]
    assert len(figure.data) == 2 * 3
    assert list(figure.data[0].y) == [0, 0.25, 0.5]
    assert figure.data[0].line.color == figures.CONDITION_COLORS["none"]
    assert figure.data[1].line.color == figures.CONDITION_COLORS["contrast"]
    loss = figures.loss_curves(frame)
    assert [t.name for t in loss.data] == ["none #1", "contrast #2"]
    assert list(loss.data[0].y) == [3, 2, 1]
    empty = figures.metric_curves(frame.iloc[0:0])
    assert isinstance(empty, go.Figure) and len(empty.data) == 0


def test_survival_bars_in_field_order():
    figure = figures.survival_bars({"company": 0.3, "name": 0.9})
    assert list(figure.data[0].x) == ["name", "company"]
    assert list(figure.data[0].y) == [0.9, 0.3]


def test_figures_do_not_import_streamlit():
    code = "import sys, clues.figures, clues.views, clues.fields_by_rank, clues.memory, clues.progress, " \
           "clues.text_views, clues.launch; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- text HTML --------------------------------------------------------------------------------

class _Clue:
    def __init__(self, index, text, start, end, contrast, rank, field=None):
        self.index, self.text, self.start, self.end = index, text, start, end
        self.contrast, self.rank, self.field = contrast, rank, field
        self.large, self.small = max(contrast, 0), max(-contrast, 0)


def test_contrast_text_html_escapes_and_marks_the_top_clues():
    text = "<b>Ana</b> & co"
    clues = [_Clue(0, "<b>Ana</b>", 0, 10, 0.5, 0, "name"), _Clue(1, " &", 10, 12, -0.2, 1),
             _Clue(2, " co", 12, 15, 0.1, 2)]
    out = markup.contrast_text_html(text, clues, top_k=1)
    assert "<b>Ana</b>" not in out and "&lt;b&gt;Ana&lt;/b&gt;" in out
    assert "&amp;" in out
    assert out.count("outline:2px") == 1  # only the top-1 clue is boxed
    assert "rgba(214,39,40,0.750)" in out and "rgba(31,119,180" in out


def test_contrast_text_html_marks_where_a_cut_analysis_stopped():
    text = "Ana Lee was born <there> & then"
    clues = [_Clue(0, "Ana", 0, 3, 0.5, 0, "name"), _Clue(1, " Lee", 3, 7, 0.1, 1)]  # the rest was cut off
    whole = markup.contrast_text_html(text, clues)
    assert "analysis stopped" not in whole and "&lt;there&gt;" in whole
    cut = markup.contrast_text_html(text, clues, cut_tokens=4)
    box = cut.split("</div>")[0]  # the mark and the greyed rest are inside the text's box
    before, after = box.split("analysis stopped here (4 tokens past the limit)")
    assert "Lee" in before and "born" not in before
    assert '<span style="color:#999"> was born &lt;there&gt; &amp; then</span>' in after


def test_probability_text_and_struck_copy():
    text = "Ana was born"
    starts, ends = np.array([0, 4, 8]), np.array([3, 7, 12])
    out = markup.probability_text(text, starts, ends, np.array([0.0, 0.25, 0.5]), np.array([-1, 0, 1]),
                                  ["name", None, None])
    assert out.count('class="drop-token"') == 2 and 'data-p="0.500"' in out and "never dropped" in out
    struck = markup.struck_copy(text, starts, ends, np.array([False, True, False]))
    assert "<s" in struck and ">was</s>" in struck and "Ana" in struck


def test_importance_position_figure_draws_three_lines_against_position():
    large = np.array([9.0, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.0])
    small = np.array([8.0, 0.4, 0.45, 0.2, 0.1, 0.1, 0.01, 0.0])
    figure = figures.importance_position_figure(large, small, large - small, TOKENS, hide=[0], top=[1, 3],
                                                title="Importance against position · total")
    assert [t.name for t in figure.data] == ["large", "small", "large − small", "top clues"]
    line = figure.data[0]
    assert list(line.x) == list(range(len(TOKENS)))
    assert list(line.text) == figures.token_labels(TOKENS)
    for trace, expected in zip(figure.data[:3], (large, small, large - small)):
        values = np.asarray(trace.y, dtype=float)
        assert np.isnan(values[0])  # hidden: the sink would flatten every other point
        np.testing.assert_allclose(values[1:], expected[1:])
    assert list(figure.data[3].x) == [1, 3]
    np.testing.assert_allclose(figure.data[3].y, (large - small)[[1, 3]])
    assert figure.layout.title.text == "Importance against position · total"
    assert figure.layout.height <= 360  # a small plot next to the ranking (14 px text and a legend below)
    plain = figures.importance_position_figure(large, small, large - small, TOKENS)
    assert len(plain.data) == 3 and np.asarray(plain.data[0].y, dtype=float)[0] == 9.0
    assert large[0] == 9.0  # the inputs are not changed


def test_importance_position_figure_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        figures.importance_position_figure(np.zeros(3), np.zeros(3), np.zeros(2), ["a", "b", "c"])


def quality_frame() -> pd.DataFrame:
    rows = []
    for ranking, given, moved, where in (("total", 0.98, 0.76, 0.36), ("paper_mean", 0.44, 0.18, 0.73),
                                         ("position", 1.0, 0.0, 0.06)):
        for texts, share in (("as given", given), ("moved", moved)):
            rows.append({"ranking": ranking, "texts": texts, "share_in_top_k": share, "first_rank_mean": 1.0,
                         "first_rank_median": 1.0, "top_k_relative_position": where + (0.1 if texts == "moved" else 0),
                         "n_texts": 100, "n_with_field": 100})
    return pd.DataFrame(rows)


def test_clue_quality_figure_groups_rankings_as_given_and_moved():
    frame = quality_frame()
    figure = figures.clue_quality_figure(frame, k=5, highlight="paper_mean",
                                         labels={"total": "contrast · total received"})
    assert [t.name for t in figure.data] == ["as given", "moved", "as given", "moved"]
    assert [t.showlegend for t in figure.data] == [True, True, False, False]
    share_given, share_moved, where_given, where_moved = figure.data
    assert list(share_given.x) == ["total", "paper_mean", "position"]
    np.testing.assert_allclose(share_given.y, [0.98, 0.44, 1.0])
    np.testing.assert_allclose(share_moved.y, [0.76, 0.18, 0.0])
    np.testing.assert_allclose(where_given.y, [0.36, 0.73, 0.06])
    np.testing.assert_allclose(where_moved.y, [0.46, 0.83, 0.16])
    assert share_given.xaxis == "x" and where_given.xaxis == "x2"
    assert list(share_given.marker.line.width) == [0, 2.5, 0]  # the page's definition is outlined
    assert share_given.customdata[0] == "contrast · total received" and share_given.customdata[1] == "paper_mean"
    assert figure.layout.barmode == "group"
    assert tuple(figure.layout.yaxis.range) == (0, 1.02) and tuple(figure.layout.yaxis2.range) == (0, 1.02)
    assert "name in the top-5" in figure.layout.title.text


def test_clue_quality_figure_of_an_empty_frame():
    figure = figures.clue_quality_figure(quality_frame().iloc[0:0], k=3, field="company")
    assert len(figure.data) == 0 and "company in the top-3" in figure.layout.title.text


def test_position_condition_has_its_colour():
    colors = figures.line_colors(["position #1", "contrast #2", "contrast:paper_mean #3"])
    assert colors["position #1"] == figures.CONDITION_COLORS["position"]
    assert len(set(colors.values())) == 3
