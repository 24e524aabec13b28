"""The notebook's face: `import clues` stays light, its verbs call the core with the paper's defaults,
and its results show themselves with the app's own builders, in HTML that asks no other host.
Bad input is one clear line (InputError), never a traceback."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

import clues
from clues import figures
from clues.contrast import contrast_text as core_contrast_text
from clues.contrast import ranked_table, received, unit_matrix
from clues.display import PLOTLY_MIME, Figures, OfflineFigure, RunCurves
from clues.errors import CluesError, InputError
from clues.runs import RunStore
from clues.text import parse_tagged
from clues.text_views import contrast_text_html

from tiny import build_tokenizer, tiny_model_dir

BIO = ("<name>Liam Thompson</name> was born on <date>January 5, 1990</date>. He grew up in <city>Austin</city>. "
       "He works for <company>Dell</company>.")


@pytest.fixture(scope="module")
def demo(pair):
    return clues.load_pair(*pair)


@pytest.fixture(scope="module")
def found(demo):
    return clues.contrast_text(BIO, demo, top_k=4)


def offline_only(markup: str) -> str:
    """The HTML without its inlined plotly.js, asserted to name no other host and load no script."""
    rest = markup.replace(get_plotlyjs(), "")
    assert not re.findall(r"<script[^>]*\ssrc=", rest) and not re.findall(r"https?://", rest)
    return rest


def test_import_clues_loads_no_model_library_and_names_its_verbs():
    code = ("import sys, clues; print(sorted(m for m in ('torch', 'transformers', 'pandas', 'plotly') "
            "if m in sys.modules)); print('contrast_text' in dir(clues))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "True"]


def test_every_top_level_name_resolves_and_none_is_a_submodule():
    for name in clues._API:
        assert getattr(clues, name) is not None
        # `import clues.<name>` would replace the verb with the module
        assert importlib.util.find_spec(f"clues.{name}") is None, name
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        clues.nothing  # noqa: B018 — the attribute access is the test


def test_the_pair_is_loaded_once(demo, pair):
    assert clues.load_pair(*pair) is demo
    assert repr(demo).startswith("Pair(large=")


def test_a_contrast_is_the_core_contrast_shown_with_the_explorers_builders(found, demo):
    item = parse_tagged(BIO)
    core = core_contrast_text(demo.large, demo.small, item.text, spans=item.spans)
    assert [(c.text, c.rank, c.contrast) for c in found.result.clues] == [(c.text, c.rank, c.contrast)
                                                                          for c in core.clues]
    markup = found._repr_html_()
    assert contrast_text_html(item.text, core.clues, 4) in markup  # the explorer's shaded text, as it is
    assert markup.count("outline:2px solid") == 4 and "<table" in markup
    assert found.table().equals(ranked_table(core))
    assert [c.rank for c in found.top()] == [0, 1, 2, 3]
    offline_only(markup)
    assert "TextContrast" in repr(found)


def test_a_contrast_says_what_the_explorer_says_above_it(tmp_path):
    large = tiny_model_dir(tmp_path / "large", "llama", layers=2, seed=1)
    other = tiny_model_dir(tmp_path / "other", "qwen2", seed=3,
                           tokenizer=build_tokenizer(100, ["zebra quartz", "Liam was born"]))
    shown = clues.contrast_text("<name>Liam</name> was born in a zebra quartz.", clues.load_pair(large, other))
    assert shown.result.level == "word" and "compared per word" in shown._repr_html_()


def test_a_contrast_offers_the_explorers_figures_as_plotly_figures(found):
    result = found.result
    large, small = figures.heatmap_pair(unit_matrix(result, "large"), unit_matrix(result, "small"), found.tokens,
                                        columns=[c.index for c in result.clues if c.rank is not None],
                                        marked=[c.index for c in result.top(found.top_k)],
                                        titles=(f"Large model · {result.view.describe('large')}",
                                                f"Small model · {result.view.describe('small')}"))
    heatmaps = found.heatmaps()
    assert len(heatmaps) == 2 and heatmaps["large"].to_dict() == large.to_dict()
    assert heatmaps[1].to_dict() == small.to_dict()
    large_received, small_received, contrast = received(result)
    bars = figures.received_bars(found.tokens, large_received, small_received, contrast=contrast,
                                 top=[c.index for c in found.top()])
    assert found.received_figure().to_dict() == bars.to_dict()
    for figure in (found.received_figure(), found.position_figure(), found.contrast_heatmap(), *heatmaps):
        assert isinstance(figure, go.Figure) and isinstance(figure, OfflineFigure)
    assert list(found.figures().named) == ["large", "small", "contrast", "received", "position"]


def test_figures_carry_plotly_js_once_and_json_for_jupyterlab(found):
    single = found.position_figure()._repr_mimebundle_()
    assert set(single) == {"text/html", PLOTLY_MIME}
    assert single["text/html"].count(get_plotlyjs()) == 1 and single[PLOTLY_MIME]["data"]
    assert "plotly-graph-div" in offline_only(single["text/html"])
    pair_markup = found.heatmaps()._repr_mimebundle_()
    assert set(pair_markup) == {"text/html"}  # Jupyter's plotly mimetype holds one figure
    assert pair_markup["text/html"].count(get_plotlyjs()) == 1
    assert offline_only(pair_markup["text/html"]).count('class="plotly-graph-div"') == 2
    # plotly's own display hook would send JSON alone (blank in exported HTML): IPython uses the bundle
    assert found.received_figure()._ipython_display_ is None


def test_clue_quality_shows_its_figure_and_table(demo):
    quality = clues.measure_clue_quality(clues.biographies(6, seed=1), demo, k=3)
    assert {"total", "paper_mean", "far_mean", "position"} <= set(quality.frame["ranking"])
    assert 0.0 <= quality.share() <= 1.0 and quality.share("position") == 1.0
    markup = offline_only(quality._repr_html_())
    assert markup.count('class="plotly-graph-div"') == 1 and "position only (earliest first)" in markup
    assert quality.figure().to_dict() == figures.clue_quality_figure(
        quality.frame, k=3, field="name", highlight="total",
        labels={name: quality.table()["ranking"][i] for i, name in enumerate(quality.frame["ranking"])}).to_dict()
    assert "ClueQuality: a name token in the top-3" in repr(quality)


def test_rank_and_augment_a_corpus_with_the_paper_defaults(demo):
    people = clues.biographies(3, seed=2)
    ranked = clues.rank_corpus(people, "contrast", demo)
    assert len(ranked) == 3
    corpus = clues.augment_corpus(ranked, "contrast")
    assert list(corpus.columns) == ["text", "source", "copy"]
    assert len(corpus) == 3 * (clues.DEFAULT_AUGMENT.copies + 1)
    assert clues.DEFAULT_AUGMENT == clues.AugmentSettings(alpha=0.7, beta=0.05, copies=10, style="mask")


def test_runs_show_their_curves_live_from_the_store(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = store.create_run("contrast · demo", {"extra": {"condition": "contrast"}}, status="running")
    runs = RunCurves([run_id], store)
    assert "No metrics yet" in runs._repr_html_()
    store.log_metrics(run_id, [{"epoch": 0, "step": 0, "field": "company", "name": "em", "value": 0.1},
                               {"epoch": 0, "step": 0, "field": "mean", "name": "em", "value": 0.1}])
    first = runs._repr_html_()
    assert first.count('class="plotly-graph-div"') == 2 and ">running<" in first
    store.log_metrics(run_id, [{"epoch": 1, "step": 4, "field": "company", "name": "em", "value": 0.4},
                               {"epoch": 1, "step": 4, "field": "mean", "name": "em", "value": 0.4}])
    store.finish(run_id, "finished")
    assert ">finished<" in runs._repr_html_()  # displayed again: read again
    assert runs.final().to_dict("records") == [{"run": f"contrast #{run_id}", "company": 0.4, "mean": 0.4}]
    assert clues.read_runs(store=store).ids == [run_id]
    assert isinstance(runs.curves(), Figures)


@pytest.mark.slow
def test_train_model_records_a_run_that_reads_back(tmp_path, monkeypatch):
    monkeypatch.setenv("CLUES_HOME", str(tmp_path))
    people = clues.biographies(3, seed=3)
    run = clues.train_model([p.text for p in people], eval_people=people, epochs=1, batch_size=4, name="tiny")
    assert run.runs()[0]["status"] == "finished" and run.runs()[0]["config"]["epochs"] == 1
    assert set(run.metrics()["name"]) >= {"loss", "em", "recall"}
    again = clues.read_runs(*run.ids)
    assert again.final().equals(run.final())
    evaluation = clues.evaluate_model(people, shots=1)
    assert list(evaluation["field"]) == ["date", "city", "university", "major", "company"]
    assert {"em", "f1", "n", "recall"} <= set(evaluation.columns)


@pytest.mark.parametrize("call, message", [
    (lambda: clues.contrast_text("<nickname>Liam</nickname> was born."), "nickname"),
    (lambda: clues.contrast_text(42), "not int"),
    (lambda: clues.contrast_text(BIO, top_k=0), "top_k = 0"),
    (lambda: clues.load_pair("only/one"), "both models"),
    (lambda: clues.measure_clue_quality([]), "empty"),
    (lambda: clues.measure_clue_quality("no-such-file.csv"), "no file"),
    (lambda: clues.rank_corpus(clues.biographies(2), trained="medium"), "small or large"),
    (lambda: clues.train_model(["a text"], bogus=1), "Unknown training setting(s) bogus"),
    (lambda: clues.train_model("no-such-file.csv"), "is no file"),
    (lambda: clues.train_model(pd.DataFrame({"words": ["a"]})), "no `text` column"),
    (lambda: clues.biographies(0), "n = 0"),
])
def test_bad_input_is_one_clear_line(call, message, tmp_path, monkeypatch):
    monkeypatch.setenv("CLUES_HOME", str(tmp_path))
    with pytest.raises(InputError) as error:
        call()
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "notebook-runs").exists()  # refused before anything was written


def test_an_unknown_run_says_how_to_list_them(tmp_path):
    with pytest.raises(CluesError, match="clues runs list"):
        clues.read_runs(999, store=RunStore(tmp_path / "runs.sqlite"))


def test_the_tutorial_is_committed_without_outputs():
    notebook = json.loads((Path(__file__).resolve().parent.parent / "docs" / "tutorial.ipynb").read_text())
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code and all(not cell["outputs"] and cell["execution_count"] is None for cell in code)
