"""Plotly figure builders for the app (and anyone else): pure functions returning `go.Figure`.

No streamlit here. Heatmaps take numpy arrays as they are (no per-cell annotations, so a
500-token map stays fast); axis labels are "index token" strings, unique per position, so
repeated tokens keep their own row and column and plotly thins the labels by itself when
there are too many to read (zoom in to see them all).
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from typing import Callable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from clues import FIELDS

# One colour per fact field, the same in every figure; tokens outside every field are grey.
FIELD_COLORS: dict[str, str] = {
    "name": "#4c78a8",
    "date": "#f58518",
    "city": "#54a24b",
    "university": "#e45756",
    "major": "#b279a2",
    "company": "#9d755d",
    "other": "#c7c7c7",
}
OTHER = "other"
# One palette, three jobs that never share a colour: red and blue are the two MODELS (large, small; the
# contrast heatmap's ends), the fields' colours mark facts, and training conditions get hues of their own
# (a "contrast" run is not the large model). Drop probability is shaded in grey: darker = more likely dropped.
LARGE_COLOR = "#d62728"
SMALL_COLOR = "#1f77b4"
DIFFERENCE_COLOR = "#7f7f7f"
DROP_COLOR = (40, 40, 40)  # rgb of the drop-probability shading and the p(r) curve
SEQUENTIAL = "Viridis"
DIVERGING = "RdBu_r"  # red: the large model attends more; blue: the small one does
# One colour per training condition (augmentation mode), in the app and in the experiment's report.
CONDITION_COLORS = {"none": "#7f7f7f", "plain": "#17becf", "random": "#bcbd22", "position": "#ff7f0e",
                    "attention": "#2ca02c", "contrast": "#9467bd", "contrast:paper_mean": "#e377c2",
                    "oracle": "#8c564b", "replace": "#111111"}
# The smallest text a figure writes (px): readable from the back of a lecture hall at 1280×800.
FONT_SIZE = 14
# The toolbar's camera button saves a PNG; a larger scale keeps the token labels readable.
PLOTLY_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
# Most token labels an axis writes; plotly would otherwise thin them itself and may drop the top clue's.
MAX_TICKS = 40


def readable(figure: go.Figure) -> go.Figure:
    """Every text of `figure` at least FONT_SIZE px. Sizes are set on each part (ticks, axis titles,
    legend, colour bars, subplot titles), not only on the layout's font: a template (Streamlit's theme
    is one) sets its own tick and legend sizes, and those win over the inherited font."""
    figure.update_layout(font=dict(size=FONT_SIZE), hoverlabel=dict(font=dict(size=FONT_SIZE)),
                         legend=dict(font=dict(size=FONT_SIZE)), title=dict(font=dict(size=FONT_SIZE + 4)))
    figure.update_xaxes(tickfont=dict(size=FONT_SIZE), title_font=dict(size=FONT_SIZE))
    figure.update_yaxes(tickfont=dict(size=FONT_SIZE), title_font=dict(size=FONT_SIZE))
    for trace in figure.data:
        if "colorbar" in trace:
            trace.colorbar.tickfont.size = FONT_SIZE
            trace.colorbar.title.font.size = FONT_SIZE
        if "textfont" in trace:
            trace.textfont.size = FONT_SIZE
    for annotation in figure.layout.annotations or ():
        if annotation.font.size is None or annotation.font.size < FONT_SIZE:
            annotation.font.size = FONT_SIZE + 1
    return figure


# Trace types (of those built from plain dicts below) whose properties `readable` sizes.
_WITH_COLORBAR = {"heatmap"}
_WITH_TEXTFONT = {"heatmap", "bar", "scatter"}
_AXIS = re.compile(r"[xy]axis\d*$")


def _merge(into: dict, update: dict) -> dict:
    """`update` written into `into`, nested dicts merged (as plotly's update_layout merges)."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
    return into


def _assemble(data: list[dict], layout: dict) -> go.Figure:
    """One go.Figure from plain trace and layout dicts, made readable exactly as `readable` does.

    Why not go.Figure() and its update calls: plotly validates each update path by path, ~1 ms a call,
    and make_subplots costs ~6 ms; the explorer draws six figures on every rerun (a slider move), so
    building the dicts first and the figure once is what keeps a move cheap for the server.
    """
    size = dict(size=FONT_SIZE)
    _merge(layout, dict(font=size, hoverlabel=dict(font=size), legend=dict(font=size),
                        title=dict(font=dict(size=FONT_SIZE + 4))))
    for axis in {"xaxis", "yaxis", *(key for key in layout if _AXIS.match(key))}:
        _merge(layout.setdefault(axis, {}), dict(tickfont=size, title=dict(font=size)))
    for trace in data:
        if trace["type"] in _WITH_COLORBAR:
            _merge(trace.setdefault("colorbar", {}), dict(tickfont=size, title=dict(font=size)))
        if trace["type"] in _WITH_TEXTFONT:
            _merge(trace.setdefault("textfont", {}), size)
    for annotation in layout.get("annotations", ()):
        if annotation.get("font", {}).get("size", 0) < FONT_SIZE:
            _merge(annotation.setdefault("font", {}), dict(size=FONT_SIZE + 1))
    return go.Figure(data=data, layout=layout)


@lru_cache(maxsize=16)
def _two_rows_layout(titles: tuple[str, str]) -> dict:
    """make_subplots' layout for two rows sharing their x axis (computed once per pair of titles)."""
    layout = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.14,
                           subplot_titles=titles).layout.to_plotly_json()
    layout.pop("template", None)  # go.Figure puts the default template back
    return layout


def _two_rows(titles: tuple[str, str]) -> dict:
    return copy.deepcopy(_two_rows_layout(titles))


def _axes_of_row(row: int) -> dict:
    """The axes a trace of row 1 or 2 of `_two_rows` is drawn on (what add_trace(row=…) sets)."""
    return dict(xaxis="x", yaxis="y") if row == 1 else dict(xaxis=f"x{row}", yaxis=f"y{row}")


def tick_labels(labels: Sequence[str], marked: Sequence[int] = (), most: int = MAX_TICKS) -> list[str]:
    """The axis labels to write: all when they fit, else every n-th one plus every `marked` one (the top
    clues), so a ranked token's label is never the one plotly leaves out. Neighbours of a marked label
    are skipped so labels do not overlap."""
    size = len(labels)
    keep = {int(i) for i in marked if 0 <= int(i) < size}
    if size <= most:
        return list(labels)
    step = -(-size // max(1, most - len(keep)))
    near = {j for i in keep for j in (i - 1, i + 1)}
    keep |= {i for i in range(0, size, step) if i not in near}
    return [labels[i] for i in sorted(keep)]


def token_labels(tokens: Sequence[str]) -> list[str]:
    """Unique axis labels "i token": whitespace shown as ␣ / ⏎, so every position is distinct."""
    labels = []
    for index, token in enumerate(tokens):
        shown = str(token).replace("\n", "⏎").replace("\t", "⇥")
        shown = shown.strip() or ("␣" if shown else "∅")
        if len(shown) > 18:
            shown = shown[:17] + "…"
        labels.append(f"{index} {shown}")
    return labels


def log_values(matrix: np.ndarray) -> np.ndarray:
    """log10 of the positive entries; zeros (the causal mask) become NaN, drawn blank."""
    matrix = np.asarray(matrix, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(matrix > 0, np.log10(np.where(matrix > 0, matrix, 1.0)), np.nan)


def shared_range(*matrices, log: bool = False, clip: float | None = None,
                 columns: Sequence[int] | None = None) -> tuple[float, float]:
    """(zmin, zmax) covering every matrix, so several heatmaps share one colour scale.

    `clip` (a percentile, e.g. 99.5) caps zmax there, so one huge weight (the first token, which
    soaks up spare attention) does not wash every other cell out to the same dark colour.
    `columns` (e.g. the ranked units) limits the range to those columns: a column left out of the
    ranking (the attention sink at position 0, special tokens) saturates instead of setting the scale.
    """
    values = [log_values(m) if log else np.asarray(m, dtype=np.float64) for m in matrices]
    if columns is not None:
        chosen = np.asarray(list(columns), dtype=np.int64)
        if chosen.size:
            values = [v[:, chosen] for v in values]
    finite = [v[np.isfinite(v)] for v in values]
    finite = [v for v in finite if v.size]
    if not finite:
        return 0.0, 1.0
    low, high = float(min(v.min() for v in finite)), float(max(v.max() for v in finite))
    if clip is not None:
        pooled = np.concatenate([v.ravel() for v in finite])
        positive = pooled[pooled > 0] if not log else pooled
        if positive.size:
            high = min(high, float(np.percentile(positive, clip)))
    return low, max(high, low + 1e-12)


def _square_axes(heatmap: dict, title: str, labels: Sequence[str], height: int | None,
                 marked: Sequence[int] = ()) -> go.Figure:
    n = len(labels)
    size = height or int(min(760, max(400, 240 + 8 * n)))
    shown = tick_labels(labels, marked, most=MAX_TICKS // 2)
    layout = dict(
        title=dict(text=title), height=size, margin=dict(l=10, r=10, t=60, b=10),
        xaxis=dict(type="category", tickangle=-90, showgrid=False, title=dict(text="attended token (key)"),
                   automargin=True, tickmode="array", tickvals=shown, ticktext=shown),
        yaxis=dict(type="category", autorange="reversed", showgrid=False, tickmode="array", tickvals=shown,
                   ticktext=shown, title=dict(text="attending token (query)"), automargin=True))
    return _assemble([heatmap], layout)


# many parameters: keyword-only display options of a pure figure builder
def attention_heatmap(matrix, tokens: Sequence[str], *, title: str = "", zmin: float | None = None,
                      zmax: float | None = None, log: bool = False, colorscale: str = SEQUENTIAL,
                      height: int | None = None, causal_blank: bool = False,
                      marked: Sequence[int] = ()) -> go.Figure:
    """Heatmap of a [T, T] attention map: row q (query) attends to column k (key).

    With `log` the colours show log10 of the weights (zmin/zmax are then given in log10 too).
    `causal_blank` leaves the cells above the diagonal (never attended) blank instead of 0.
    `marked`: token indices whose axis labels are always written (the top clues); every label is in
    the hover.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    _check_square(matrix, tokens)
    z = log_values(matrix) if log else matrix
    if causal_blank:
        z = np.where(np.triu(np.ones(matrix.shape, dtype=bool), k=1), np.nan, z)
    labels = token_labels(tokens)
    heatmap = dict(
        type="heatmap", z=z, x=labels, y=labels, zmin=zmin, zmax=zmax, colorscale=colorscale,
        colorbar=dict(title=dict(text="log10 weight" if log else "weight"), thickness=14),
        hovertemplate="query %{y}<br>key %{x}<br>" + ("log10 " if log else "") + "weight %{z:.4g}<extra></extra>")
    return _square_axes(heatmap, title, labels, height, marked)


# many parameters: keyword-only display options of a pure figure builder
def contrast_heatmap(matrix, tokens: Sequence[str], *, title: str = "Contrast: large − small",
                     zmax: float | None = None, height: int | None = None, clip: float | None = None,
                     columns: Sequence[int] | None = None, causal_blank: bool = False,
                     marked: Sequence[int] = ()) -> go.Figure:
    """Diverging heatmap of large − small, centred at 0 (red: the large model attends more).
    `marked`: token indices whose axis labels are always written (the top clues).

    The scale is symmetric: ±zmax, by default the largest |difference| (or its `clip` percentile)
    over `columns` (see `shared_range`: e.g. the ranked units, so the attention sink saturates).
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    _check_square(matrix, tokens)
    if zmax is None:
        zmax = shared_range(np.abs(matrix), clip=clip, columns=columns)[1]
    z = np.where(np.triu(np.ones(matrix.shape, dtype=bool), k=1), np.nan, matrix) if causal_blank else matrix
    labels = token_labels(tokens)
    heatmap = dict(
        type="heatmap", z=z, x=labels, y=labels, colorscale=DIVERGING, zmid=0.0, zmin=-zmax, zmax=zmax,
        colorbar=dict(title=dict(text="large − small"), thickness=14),
        hovertemplate="query %{y}<br>key %{x}<br>large − small %{z:.4g}<extra></extra>")
    return _square_axes(heatmap, title, labels, height, marked)


def _check_square(matrix: np.ndarray, tokens: Sequence[str]) -> None:
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != len(tokens):
        raise ValueError(f"expected a [{len(tokens)}, {len(tokens)}] map, got {list(matrix.shape)}")


def received_bars(tokens: Sequence[str], large, small, *, contrast=None, top: Sequence[int] = (),
                  title: str = "Attention received per token") -> go.Figure:
    """Bars of received attention of both models (top) and their difference (bottom).

    `top`: indices of the top clues, strongest first: outlined in the difference panel, their axis
    labels always written and their rank (0 = strongest) above the bar.
    """
    large, small = np.asarray(large, dtype=np.float64), np.asarray(small, dtype=np.float64)
    contrast = large - small if contrast is None else np.asarray(contrast, dtype=np.float64)
    labels = token_labels(tokens)
    order = [int(i) for i in top]
    rank_of = {index: rank for rank, index in enumerate(order)}
    data = [
        dict(type="bar", x=labels, y=large, name="large", marker=dict(color=LARGE_COLOR), **_axes_of_row(1)),
        dict(type="bar", x=labels, y=small, name="small", marker=dict(color=SMALL_COLOR), **_axes_of_row(1)),
        dict(type="bar", x=labels, y=contrast, name="large − small", showlegend=False,
             text=[str(rank_of[i]) if i in rank_of else "" for i in range(len(labels))], textposition="outside",
             cliponaxis=False,
             marker=dict(color=np.where(contrast >= 0, LARGE_COLOR, SMALL_COLOR).tolist(),
                         line=dict(color=["black" if i in rank_of else "rgba(0,0,0,0)" for i in range(len(labels))],
                                   width=1.5)), **_axes_of_row(2))]
    layout = _merge(_two_rows(("received attention", "large − small (contrast); numbers: clue rank")),
                    dict(barmode="group", title=dict(text=title), height=560, bargap=0.15,
                         legend=dict(orientation="h", y=1.12, x=1, xanchor="right"),
                         margin=dict(l=10, r=10, t=90, b=10)))
    shown = tick_labels(labels, order)
    for axis in ("xaxis", "xaxis2"):
        _merge(layout[axis], dict(type="category", tickangle=-90, automargin=True, tickmode="array",
                                  tickvals=shown, ticktext=shown))
    return _assemble(data, layout)


def query_bars(tokens: Sequence[str], rows: Mapping[str, np.ndarray], query: int,
               title: str | None = None) -> go.Figure:
    """Where each model looks FROM token `query`: its attention row for large and small, and
    their difference. Only tokens up to the query can be attended (causal)."""
    labels = token_labels(tokens)
    end = query + 1
    shown = labels[:end]
    difference = np.asarray(rows["difference"], dtype=np.float64)[:end]
    data = [
        dict(type="bar", x=shown, y=np.asarray(rows["large"], dtype=np.float64)[:end], name="large",
             marker=dict(color=LARGE_COLOR), **_axes_of_row(1)),
        dict(type="bar", x=shown, y=np.asarray(rows["small"], dtype=np.float64)[:end], name="small",
             marker=dict(color=SMALL_COLOR), **_axes_of_row(1)),
        dict(type="bar", x=shown, y=difference, name="large − small", showlegend=False,
             marker=dict(color=np.where(difference >= 0, LARGE_COLOR, SMALL_COLOR).tolist()), **_axes_of_row(2))]
    layout = _merge(_two_rows(("attention from the query", "large − small")),
                    dict(barmode="group", height=500, title=dict(text=title or f"Looking from “{labels[query]}”"),
                         legend=dict(orientation="h", y=1.12, x=1, xanchor="right"),
                         margin=dict(l=10, r=10, t=90, b=10)))
    strongest = np.argsort(-np.abs(difference))[:5].tolist()  # the largest differences keep their labels
    ticks = tick_labels(shown, strongest)
    for axis in ("xaxis", "xaxis2"):
        _merge(layout[axis], dict(type="category", tickangle=-90, automargin=True, tickmode="array",
                                  tickvals=ticks, ticktext=ticks))
    return _assemble(data, layout)


def field_rank_bars(counts: Mapping[str, np.ndarray], fields: Sequence[str], *, title: str = "",
                    normalize: bool = True) -> go.Figure:
    """Stacked bars, one panel per view ("large", "small", "difference"): for each rank r of the
    top-k tokens seen from the query word, how often the token belongs to each field.

    counts[view]: [k, len(fields)] counts (rank × field); rank 0 = the most attended token.
    """
    views = list(counts)
    figure = make_subplots(rows=1, cols=len(views), shared_yaxes=True, subplot_titles=views,
                           horizontal_spacing=0.04)
    for column, view in enumerate(views, start=1):
        table = np.asarray(counts[view], dtype=np.float64)
        if normalize:
            totals = table.sum(axis=1, keepdims=True)
            table = np.divide(table, totals, out=np.zeros_like(table), where=totals > 0)
        ranks = [str(r) for r in range(table.shape[0])]
        for index, field in enumerate(fields):
            figure.add_bar(x=ranks, y=table[:, index], name=field, legendgroup=field, showlegend=column == 1,
                           marker_color=FIELD_COLORS.get(field, FIELD_COLORS[OTHER]), row=1, col=column,
                           hovertemplate=f"{field}<br>rank %{{x}}<br>%{{y:.2f}}<extra></extra>")
        figure.update_xaxes(title_text="rank (0 = most attended)", type="category", row=1, col=column)
    figure.update_yaxes(title_text="share of texts" if normalize else "texts", row=1, col=1)
    figure.update_layout(barmode="stack", title=dict(text=title), height=440,
                         legend=dict(orientation="h", y=-0.25), margin=dict(l=10, r=10, t=90, b=10))
    return readable(figure)


# many parameters: keyword-only display options of a pure figure builder
def dropout_curve(probability: Callable[[np.ndarray, float, float], np.ndarray], alpha: float, beta: float,
                  n_ranks: int, *, mode: str = "contrast", probabilities=None, ranks=None,
                  tokens: Sequence[str] | None = None) -> go.Figure:
    """A mode's p(r) (`probability`, e.g. `clues.augment.MODES[mode].probability`: α(1 − e^(−βr)),
    flat α for random, 0 for none) over ranks 0…n_ranks−1, with the text's tokens placed at their
    rank when given; `mode` names the curve."""
    r = np.arange(max(int(n_ranks), 1))
    curve = np.asarray(probability(r, alpha, beta), dtype=np.float64)
    figure = go.Figure()
    figure.add_scatter(x=r, y=curve, mode="lines", name="p(r)", line=dict(color="rgb" + str(DROP_COLOR), width=3),
                       hovertemplate="rank %{x}<br>p %{y:.2f}<extra></extra>")
    if probabilities is not None and ranks is not None:
        ranks = np.asarray(ranks)
        keep = ranks >= 0
        text = [tokens[i] for i in np.nonzero(keep)[0]] if tokens is not None else None
        figure.add_scatter(x=ranks[keep], y=np.asarray(probabilities)[keep], mode="markers", name="tokens",
                           text=text, marker=dict(color=SMALL_COLOR, size=7, opacity=0.7),
                           hovertemplate="%{text}<br>rank %{x}<br>p %{y:.2f}<extra></extra>")
    label = {"none": "no dropout", "random": f"random: p = α = {alpha:.2f}"}.get(
        mode, f"p(r) = {alpha:.2f}·(1 − e^(−{beta:.3f}·r))")
    figure.update_layout(title=dict(text=label), height=340, margin=dict(l=10, r=10, t=60, b=10),
                         xaxis_title="rank r (0 = strongest clue)", yaxis_title="drop probability",
                         yaxis_range=[0, 1], showlegend=False)
    return readable(figure)


def survival_bars(survival: Mapping[str, float], *, title: str = "Expected survival per field") -> go.Figure:
    fields = [f for f in FIELDS if f in survival] + [f for f in survival if f not in FIELDS]
    figure = go.Figure(go.Bar(x=fields, y=[survival[f] for f in fields],
                              marker_color=[FIELD_COLORS.get(f, FIELD_COLORS[OTHER]) for f in fields],
                              hovertemplate="%{x}: %{y:.2f}<extra></extra>"))
    figure.update_layout(title=dict(text=title), height=320, yaxis_range=[0, 1],
                         yaxis_title="share of tokens kept", margin=dict(l=10, r=10, t=60, b=10))
    return readable(figure)


def metric_curves(frame, *, metric: str = "em", fields: Sequence[str] | None = None,
                  title: str | None = None) -> go.Figure:
    """Evaluation curves: one panel per field, one line per run (frame columns: label, epoch,
    field, name, value; rows of other metrics are ignored)."""
    rows = frame[frame["name"] == metric] if len(frame) else frame
    present = list(dict.fromkeys(rows["field"].dropna())) if len(rows) else []
    fields = [f for f in (fields or _field_order(present)) if f in present] or ["mean"]
    figure = make_subplots(rows=1, cols=len(fields), shared_yaxes=True, subplot_titles=fields,
                           horizontal_spacing=0.03)
    labels = list(dict.fromkeys(rows["label"])) if len(rows) else []
    colors = line_colors(labels)
    for column, field in enumerate(fields, start=1):
        chosen = rows[rows["field"] == field] if len(rows) else rows
        for label in labels:
            line = chosen[chosen["label"] == label].sort_values("epoch")
            figure.add_scatter(x=line["epoch"], y=line["value"], mode="lines+markers", name=label,
                               legendgroup=label, showlegend=column == 1,
                               line=dict(color=colors[label]), row=1, col=column,
                               hovertemplate=f"{label}<br>epoch %{{x}}<br>{metric} %{{y:.3f}}<extra></extra>")
        figure.update_xaxes(title_text="epoch", row=1, col=column)
    figure.update_yaxes(range=[0, 1.02], row=1, col=1, title_text=metric)
    figure.update_layout(title=dict(text=title or f"{metric} per field"), height=380,
                         legend=dict(orientation="h", y=-0.3), margin=dict(l=10, r=10, t=80, b=10))
    return readable(figure)


def loss_curves(frame, *, title: str = "Training loss") -> go.Figure:
    """One line per run of the loss by step (frame columns: label, step, name, value)."""
    rows = frame[frame["name"] == "loss"] if len(frame) else frame
    figure = go.Figure()
    labels = list(dict.fromkeys(rows["label"])) if len(rows) else []
    colors = line_colors(labels)
    for label in labels:
        line = rows[rows["label"] == label].sort_values("step")
        figure.add_scatter(x=line["step"], y=line["value"], mode="lines", name=label,
                           line=dict(color=colors[label]))
    figure.update_layout(title=dict(text=title), height=340, xaxis_title="step", yaxis_title="loss",
                         legend=dict(orientation="h", y=-0.3), margin=dict(l=10, r=10, t=60, b=10))
    return readable(figure)


def _field_order(present: Sequence[str]) -> list[str]:
    order = [f for f in FIELDS if f in present] + [f for f in present if f not in FIELDS and f != "mean"]
    return order + (["mean"] if "mean" in present else [])


# Runs that share a condition: hues clear of the two model colours (red, blue).
_PALETTE = ["#9467bd", "#2ca02c", "#ff7f0e", "#7f7f7f", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
            "#111111", "#aec7e8"]


def line_colors(labels: Sequence[str]) -> dict[str, str]:
    """A colour per run label: the condition's colour when the label starts with a condition
    name that no other label shares, else the next colour of a palette."""
    firsts = [str(label).split(" ")[0] for label in labels]
    colors = {}
    for index, (label, first) in enumerate(zip(labels, firsts)):
        unique = firsts.count(first) == 1
        colors[label] = CONDITION_COLORS[first] if first in CONDITION_COLORS and unique \
            else _PALETTE[index % len(_PALETTE)]
    return colors


def importance_position_figure(large, small, contrast, tokens: Sequence[str], *, hide: Sequence[int] = (),
                               top: Sequence[int] = (), title: str = "Importance against position") -> go.Figure:
    """A small line plot of each unit's importance against its position in the text: the large
    model, the small one and their contrast, so a definition's lean to the start or the end shows.

    hide: indices drawn as gaps (units left out of the ranking, such as the attention sink at
    position 0, whose huge value would flatten every other point). top: indices of the top clues,
    marked on the contrast line.
    """
    values = {name: np.asarray(v, dtype=np.float64).copy() for name, v in
              (("large", large), ("small", small), ("large − small", contrast))}
    size = len(tokens)
    if any(v.shape != (size,) for v in values.values()):
        raise ValueError(f"expected three [{size}] vectors, got {[list(v.shape) for v in values.values()]}")
    hidden = [int(i) for i in hide if 0 <= int(i) < size]
    for vector in values.values():
        vector[hidden] = np.nan
    labels = token_labels(tokens)
    positions = np.arange(size)
    styles = {"large": dict(color=LARGE_COLOR, width=2), "small": dict(color=SMALL_COLOR, width=2),
              "large − small": dict(color=DIFFERENCE_COLOR, width=2, dash="dot")}
    data = [dict(type="scatter", x=positions, y=vector, mode="lines", name=name, line=styles[name], text=labels,
                 connectgaps=False, hovertemplate=f"{name}<br>%{{text}}<br>%{{y:.4f}}<extra></extra>")
            for name, vector in values.items()]
    marked = [int(i) for i in top if 0 <= int(i) < size and int(i) not in hidden]
    if marked:
        data.append(dict(type="scatter", x=marked, y=values["large − small"][marked], mode="markers",
                         name="top clues", text=[labels[i] for i in marked],
                         marker=dict(color="black", size=7, symbol="square-open"),
                         hovertemplate="top clue<br>%{text}<br>%{y:.4f}<extra></extra>"))
    zero = dict(type="line", x0=0, x1=1, xref="x domain", y0=0, y1=0, yref="y",
                line=dict(color="#bbbbbb", width=1))  # what add_hline(y=0) draws
    layout = dict(title=dict(text=title), height=340, xaxis=dict(title=dict(text="position in the text (token)")),
                  yaxis=dict(title=dict(text="importance")), legend=dict(orientation="h", y=-0.3),
                  margin=dict(l=10, r=10, t=60, b=10), shapes=[zero])
    return _assemble(data, layout)


def clue_quality_figure(frame, *, k: int, field: str = "name", highlight: str | None = None,
                        labels: Mapping[str, str] | None = None,
                        title: str | None = None) -> go.Figure:
    """Two panels from a `clues.clue_quality` frame: per ranking, the share of texts with a `field`
    token among the top-k, and the mean relative position of the top-k (0 = start, 1 = end); one
    bar for the texts as given and one for the texts with the field moved away from the start.

    highlight: a ranking whose bars are outlined (the one the page uses). labels: hover text per
    ranking (e.g. `clues.clue_quality.ranking_label`).
    """
    rankings = list(dict.fromkeys(frame["ranking"])) if len(frame) else []
    variants = list(dict.fromkeys(frame["texts"])) if len(frame) else []
    colors = {"as given": "#4c78a8", "moved": "#9ecae9"}
    figure = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                           subplot_titles=(f"texts with a {field} token<br>in the top-{k}",
                                           f"where the top-{k} sit<br>(0 = start, 1 = end)"))
    for column, metric in enumerate(("share_in_top_k", "top_k_relative_position"), start=1):
        for variant in variants:
            rows = frame[frame["texts"] == variant].set_index("ranking")
            shown = [r for r in rankings if r in rows.index]
            hover = [(labels or {}).get(r, r) for r in shown]
            figure.add_bar(x=shown, y=[float(rows.loc[r, metric]) for r in shown], name=variant,
                           legendgroup=variant, showlegend=column == 1, row=1, col=column, customdata=hover,
                           marker=dict(color=colors.get(variant, DIFFERENCE_COLOR),
                                       line=dict(color="black", width=[2.5 if r == highlight else 0
                                                                       for r in shown])),
                           hovertemplate=f"%{{customdata}}<br>{variant}: %{{y:.2f}}<extra></extra>")
        figure.update_yaxes(range=[0, 1.02], row=1, col=column)
        figure.update_xaxes(type="category", row=1, col=column)
    figure.update_yaxes(title_text="share of texts", tickformat=".0%", row=1, col=1)
    figure.update_yaxes(title_text="relative position", row=1, col=2)
    figure.update_layout(barmode="group", height=420,
                         title=dict(text=title or f"Clues or positions? The {field} in the top-{k}"),
                         legend=dict(orientation="h", y=-0.35), margin=dict(l=10, r=10, t=90, b=10))
    return readable(figure)


def experiment_curves(curves: Mapping[str, Mapping[str, Sequence[float]]], *, fields: Sequence[str],
                      metric: str = "QA exact match", conditions: Sequence[str] | None = None,
                      title: str | None = None) -> go.Figure:
    """An experiment's mean curves over seeds (docs/results.json's curves[metric]: condition → field →
    one value per epoch, epoch 0 before training), one panel per field, one line per condition in its
    colour; the legend names every condition drawn."""
    conditions = [c for c in (conditions or list(curves)) if c in curves]
    figure = make_subplots(rows=1, cols=len(fields), shared_yaxes=True, subplot_titles=list(fields),
                           horizontal_spacing=0.02)
    colors = {c: CONDITION_COLORS.get(c, _PALETTE[i % len(_PALETTE)]) for i, c in enumerate(conditions)}
    for column, field in enumerate(fields, start=1):
        for condition in conditions:
            values = list(curves[condition].get(field, []))
            figure.add_scatter(x=list(range(len(values))), y=values, mode="lines", name=condition,
                               legendgroup=condition, showlegend=column == 1, row=1, col=column,
                               line=dict(color=colors[condition], width=3 if condition == "contrast" else 2),
                               hovertemplate=f"{condition} · {field}<br>epoch %{{x}}<br>%{{y:.2f}}<extra></extra>")
        figure.update_xaxes(title_text="epoch", row=1, col=column)
    figure.update_yaxes(range=[0, 1.02], row=1, col=1, title_text=metric)
    figure.update_layout(title=dict(text=title or f"{metric} per fact, mean over seeds"), height=420,
                         legend=dict(orientation="h", y=-0.3), margin=dict(l=10, r=10, t=90, b=10))
    return readable(figure)


def paired_intervals(rows: Sequence[Mapping], *, metric: str = "em", label: str = "QA exact match",
                     title: str | None = None) -> go.Figure:
    """Paired differences (docs/results.json's paired rows: a, b, metric, mean, low, high, n): one
    point per comparison a − b of `metric` with its 95% interval; left of the dashed line, a did worse."""
    chosen = [r for r in rows if r["metric"] == metric]
    names = [f"{r['a']} − {r['b']}" for r in chosen]
    means = [r["mean"] for r in chosen]
    low = [r["mean"] - r["low"] if r.get("low") is not None else 0 for r in chosen]
    high = [r["high"] - r["mean"] if r.get("high") is not None else 0 for r in chosen]
    figure = go.Figure(go.Scatter(
        x=means, y=names, mode="markers", marker=dict(size=11, color=CONDITION_COLORS["contrast"]),
        error_x=dict(type="data", symmetric=False, array=high, arrayminus=low, thickness=2),
        customdata=[[r.get("low"), r.get("high"), r.get("n")] for r in chosen],
        hovertemplate="%{y}: %{x:+.3f}<br>95% interval [%{customdata[0]:+.3f}, %{customdata[1]:+.3f}], "
                      "n = %{customdata[2]} seeds<extra></extra>"))
    figure.add_vline(x=0, line=dict(color="#555555", dash="dash"))
    figure.update_yaxes(autorange="reversed", automargin=True)
    figure.update_layout(title=dict(text=title or f"Far facts, {label}: difference per pair of conditions"),
                         xaxis_title=f"difference in {label} (a − b), mean over seeds with 95% interval",
                         height=120 + 40 * max(1, len(chosen)), margin=dict(l=10, r=10, t=60, b=10),
                         showlegend=False)
    return readable(figure)


# many parameters: keyword-only display options of the explorer's two heatmaps
def heatmap_pair(large, small, tokens: Sequence[str], *, titles: tuple[str, str] = ("Large model", "Small model"),
                 columns: Sequence[int] | None = None, same_scale: bool = True, log: bool = False,
                 clip: float | None = 99.5, marked: Sequence[int] = ()) -> tuple[go.Figure, go.Figure]:
    """The explorer's two attention heatmaps (the app's and the notebook's): one colour scale for both
    unless `same_scale` is off, set by `columns` (the ranked units, so the attention sink saturates)
    and capped at their `clip` percentile (not on a log scale); the `marked` columns' labels are always
    written."""
    clip = None if log else clip
    if same_scale:
        ranges = [shared_range(large, small, log=log, clip=clip, columns=columns)] * 2
    else:
        ranges = [shared_range(matrix, log=log, clip=clip, columns=columns) for matrix in (large, small)]
    return tuple(attention_heatmap(matrix, tokens, title=title, zmin=low, zmax=high, log=log, causal_blank=True,
                                  marked=marked)
                 for matrix, title, (low, high) in zip((large, small), titles, ranges))
