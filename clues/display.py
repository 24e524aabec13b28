"""Results that show themselves in Jupyter, drawn by the app's own builders.

A contrast shows the text shaded by contrast with the top clues boxed, and the ranked table (as the
explorer does); its figures come as plotly figures. A clue-quality measurement shows its figure and
table; runs show their curves, read from the run store each time they are displayed.

The HTML needs nothing from another host: text and tables are plain HTML (clues.text_views), and
a figure's HTML carries plotly.js inside it. JupyterLab and VS Code draw a single figure with their
own plotly from its JSON (`application/vnd.plotly.v1+json`); nbconvert and the classic notebook use
the HTML. No streamlit here; the builders are clues.figures and clues.text_views, as in the app.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Sequence

import pandas as pd
import plotly.graph_objects as go

from clues import figures
from clues.clue_quality import ranking_label
from clues.contrast import ContrastResult, ranked_table, received, unit_matrix
from clues.importance import DEFAULT_IMPORTANCE
from clues.launch import condition_of, curves_frame
from clues.runs import ACTIVE, RunStore
from clues.text import TaggedText
from clues.text_views import contrast_text_html

PLOTLY_MIME = "application/vnd.plotly.v1+json"
_TABLE_BOX = "max-height:320px;overflow:auto;margin-top:0.5rem;font-size:0.85rem"


def figure_json(figure: go.Figure) -> dict:
    """A figure as Jupyter's plotly mimetype wants it (data, layout and the app's toolbar config)."""
    return {**json.loads(figure.to_json()), "config": figures.PLOTLY_CONFIG}


def figures_html(shown: Sequence[go.Figure], *, columns: int | None = None) -> str:
    """Figures side by side (`columns` per row, default all) as one HTML block with plotly.js inside
    it once: it opens offline and asks no other host for anything."""
    columns = columns or len(shown)
    parts = [figure.to_html(full_html=False, include_plotlyjs=index == 0, config=figures.PLOTLY_CONFIG,
                            default_width="100%")
             for index, figure in enumerate(shown)]
    cells = "".join(f'<div style="flex:1 1 {100 / columns - 2:.0f}%;min-width:320px">{part}</div>'
                    for part in parts)
    return f'<div class="clues-figures" style="display:flex;flex-wrap:wrap;gap:0.5rem">{cells}</div>'


def table_html(frame: pd.DataFrame, *, digits: int = 4) -> str:
    """A frame as an escaped HTML table in a scrolling box (the app's st.dataframe, in plain HTML)."""
    body = frame.to_html(index=False, border=0, classes="clues-table", escape=True,
                         float_format=lambda value: f"{value:.{digits}f}")
    return f'<div style="{_TABLE_BOX}">{body}</div>'


def _heading(text: str) -> str:
    return f'<div style="font-weight:600;margin:0.6rem 0 0.2rem">{html.escape(text)}</div>'


class OfflineFigure(go.Figure):
    """A plotly figure (a `go.Figure` in every way) whose notebook output asks no other host for
    anything: its HTML carries plotly.js, and its JSON is there for JupyterLab's own plotly. Plotly's
    own notebook output would be JSON alone (blank in exported HTML), or load MathJax from a CDN."""

    # plotly's display hook shows a figure through its renderer; without it IPython asks the methods below
    _ipython_display_ = None

    def _repr_html_(self) -> str:
        return figures_html([self])

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs) -> dict:
        return {"text/html": self._repr_html_(), PLOTLY_MIME: figure_json(self)}


def offline(figure: go.Figure) -> OfflineFigure:
    return figure if isinstance(figure, OfflineFigure) else OfflineFigure(figure)


class Figures:
    """Plotly figures shown side by side in one output; each is a `go.Figure` (`shown[0]`, `shown["large"]`)."""

    def __init__(self, shown: dict[str, go.Figure], *, columns: int | None = None):
        self.named = {name: offline(figure) for name, figure in shown.items()}
        self.columns = columns

    @property
    def figures(self) -> list[go.Figure]:
        return list(self.named.values())

    def __getitem__(self, key: int | str) -> OfflineFigure:
        return self.figures[key] if isinstance(key, int) else self.named[key]

    def __iter__(self):
        return iter(self.figures)

    def __len__(self) -> int:
        return len(self.named)

    def __repr__(self) -> str:
        return f"Figures({', '.join(self.named)})"

    def _repr_html_(self) -> str:
        return figures_html(self.figures, columns=self.columns)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = {"text/html": self._repr_html_()}
        if len(self.named) == 1:  # Jupyter's plotly mimetype holds one figure
            bundle[PLOTLY_MIME] = figure_json(self.figures[0])
        return bundle


@dataclass
class TextContrast:
    """One text contrasted by the pair: `result` is the core's ContrastResult (clues.contrast)."""

    result: ContrastResult
    item: TaggedText
    top_k: int = 10

    @property
    def tokens(self) -> list[str]:
        return [c.text for c in self.result.clues]

    def top(self, k: int | None = None) -> list:
        """The strongest clues (`Clue`: rank, text, field, large, small, contrast)."""
        return self.result.top(self.top_k if k is None else k)

    def table(self, limit: int | None = None) -> pd.DataFrame:
        """The ranked units: rank (0 = strongest, the r of p(r)), token, field, large, small, contrast, position."""
        return ranked_table(self.result, limit)

    def text_html(self) -> str:
        """The text shaded by contrast, the top-k clues boxed with their rank (the explorer's view)."""
        cut = max(self.result.large_maps.truncated_tokens, self.result.small_maps.truncated_tokens)
        return contrast_text_html(self.item.text, self.result.clues, self.top_k, cut_tokens=cut)

    def heatmaps(self, *, same_scale: bool = True, log: bool = False) -> Figures:
        """Both models' attention maps side by side, on one colour scale (the explorer's heatmaps)."""
        view = self.result.view
        large, small = figures.heatmap_pair(unit_matrix(self.result, "large"), unit_matrix(self.result, "small"),
                                            self.tokens, columns=self._ranked_columns(), same_scale=same_scale,
                                            log=log, marked=[c.index for c in self.result.top(self.top_k)],
                                            titles=(f"Large model · {view.describe('large')}",
                                                    f"Small model · {view.describe('small')}"))
        return Figures({"large": large, "small": small})

    def contrast_heatmap(self) -> OfflineFigure:
        """large − small, cell by cell (red: the large model attends more)."""
        difference = unit_matrix(self.result, "large") - unit_matrix(self.result, "small")
        return offline(figures.contrast_heatmap(difference, self.tokens, clip=99.5, columns=self._ranked_columns(),
                                                 causal_blank=True))

    def received_figure(self) -> OfflineFigure:
        """Attention each token receives in both models, and their contrast; top clues outlined."""
        large, small, contrast = received(self.result)
        return offline(figures.received_bars(self.tokens, large, small, contrast=contrast, top=self._top_indices()))

    def position_figure(self) -> OfflineFigure:
        """Importance against position: whether the definition leans to one end of the text."""
        large, small, contrast = received(self.result)
        unranked = [c.index for c in self.result.clues if c.rank is None]
        title = f"Importance against position · {self.result.importance}"
        return offline(figures.importance_position_figure(large, small, contrast, self.tokens, hide=unranked,
                                                          top=self._top_indices(), title=title))

    def figures(self) -> Figures:
        """Every figure of the explorer for this text, one under the other."""
        shown = {**self.heatmaps().named, "contrast": self.contrast_heatmap(), "received": self.received_figure(),
                 "position": self.position_figure()}
        return Figures(shown, columns=2)

    def _ranked_columns(self) -> list[int] | None:
        return [c.index for c in self.result.clues if c.rank is not None] or None

    def _top_indices(self) -> list[int]:
        return [c.index for c in self.top()]

    def __repr__(self) -> str:
        clues = ", ".join(f"{c.rank} {c.text.strip()!r}" + (f" ({c.field})" if c.field else "")
                          for c in self.top(5))
        return (f"TextContrast: {len(self.result.ranked())} {self.result.level}s ranked by {self.result.importance} "
                f"({self.result.view.describe()}); top clues: {clues}")

    def _repr_html_(self) -> str:
        table = self.table()
        caption = (f"Ranked clues ({len(table)} {self.result.level}s ranked by {self.result.importance}, "
                   f"{self.result.view.describe()}; the first position and special tokens are left out)")
        return (f'<div class="clues-contrast">{self._notes_html()}{_heading("The text, shaded by contrast")}'
                f"{self.text_html()}{_heading(caption)}{table_html(table, digits=5)}</div>")

    def _notes_html(self) -> str:
        """What the explorer says above its figures: the captures' notes (a text cut at the token limit …)
        and when the two tokenizers made the comparison per word."""
        notes = list(dict.fromkeys(self.result.large_maps.notes + self.result.small_maps.notes))
        if self.result.level == "word":
            notes.append("The two tokenizers split this text differently, so both models are compared per word.")
        return "".join(f'<p class="clues-note" style="color:#555">{html.escape(note)}</p>' for note in notes)


@dataclass
class ClueQuality:
    """Clues or positions? `frame` is clues.clue_quality's table (one row per ranking and texts as
    given / moved); `importance` is the ranking outlined in the figure."""

    frame: pd.DataFrame
    field: str = "name"
    k: int = 5
    importance: str = DEFAULT_IMPORTANCE

    def share(self, ranking: str | None = None, texts: str = "as given") -> float:
        """Share of texts with a `field` token in a ranking's top-k (default: the contrast under `importance`)."""
        rows = self.frame[(self.frame["ranking"] == (ranking or self.importance)) & (self.frame["texts"] == texts)]
        return float(rows["share_in_top_k"].iloc[0]) if len(rows) else float("nan")

    def table(self) -> pd.DataFrame:
        """The frame with each ranking in words."""
        return self.frame.assign(ranking=[ranking_label(name) for name in self.frame["ranking"]])

    def figure(self) -> OfflineFigure:
        labels = {name: ranking_label(name) for name in dict.fromkeys(self.frame["ranking"])}
        return offline(figures.clue_quality_figure(self.frame, k=self.k, field=self.field,
                                                   highlight=self.importance, labels=labels))

    def __repr__(self) -> str:
        return (f"ClueQuality: a {self.field} token in the top-{self.k} of {self.share():.0%} of texts "
                f"({self.importance}; moved {self.share(texts='moved'):.0%}), position only "
                f"{self.share('position'):.0%} (moved {self.share('position', 'moved'):.0%})")

    def _repr_html_(self) -> str:
        return f'<div class="clues-quality">{figures_html([self.figure()])}{table_html(self.table(), digits=2)}</div>'

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/html": self._repr_html_()}


class RunCurves:
    """Training runs, shown from the run store as they are when displayed (display again, or call
    `wait()`, while runs are still going)."""

    def __init__(self, ids: Sequence[int], store: RunStore):
        self.ids, self.store = [int(run_id) for run_id in ids], store

    def runs(self) -> list[dict]:
        return [self.store.get_run(run_id) for run_id in self.ids]

    def metrics(self) -> pd.DataFrame:
        """Every metric row of the runs (label, run_id, epoch, step, field, name, value)."""
        return curves_frame(self.store, self.runs())

    def status(self) -> pd.DataFrame:
        return pd.DataFrame([{"id": r["id"], "condition": condition_of(r), "status": r["status"],
                              "error": r.get("error") or ""} for r in self.runs()])

    def final(self, metric: str = "em") -> pd.DataFrame:
        """The metric at each run's last evaluated epoch: one row per run, one column per field."""
        frame = self.metrics()
        rows = frame[frame["name"] == metric]
        if not len(rows):
            return pd.DataFrame()
        last = rows[rows["epoch"] == rows.groupby("label")["epoch"].transform("max")]
        table = last.pivot_table(index="label", columns="field", values="value", sort=False)
        order = [f for f in figures._field_order(list(table.columns))]
        return table[order].rename_axis(columns=None).reset_index().rename(columns={"label": "run"})

    def curves(self, metric: str = "em", frame: pd.DataFrame | None = None) -> Figures:
        """The app's curves: `metric` per field and epoch, and the loss by step (of `frame`, by default
        the runs' metrics read now)."""
        frame = self.metrics() if frame is None else frame
        titles = {"em": "QA exact match per field", "recall": "Recall probe per field"}
        return Figures({metric: figures.metric_curves(frame, metric=metric, title=titles.get(metric)),
                        "loss": figures.loss_curves(frame)}, columns=1)

    def wait(self, *, poll_s: float = 2.0, timeout_s: float | None = None) -> RunCurves:
        """Block until none of the runs is queued or running (runs started in the background)."""
        import time  # noqa: PLC0415 — only a waiting caller needs the clock

        start = time.monotonic()
        while any(r["status"] in ACTIVE for r in self.runs()):
            if timeout_s is not None and time.monotonic() - start > timeout_s:
                break
            time.sleep(poll_s)
        return self

    def __repr__(self) -> str:
        return "RunCurves: " + "; ".join(f"#{r['id']} {condition_of(r)} {r['status']}" for r in self.runs())

    def _repr_html_(self) -> str:
        status, frame = table_html(self.status()), self.metrics()
        if not len(frame):
            return status + "<p>No metrics yet: the first point appears after the evaluation before training.</p>"
        return f'<div class="clues-runs">{status}{self.curves(frame=frame)._repr_html_()}</div>'

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/html": self._repr_html_()}
