"""Every page of the app under streamlit's AppTest: it runs on the model pair without exceptions,
and changing a widget changes what is shown (figure data, tables, HTML), not only "no error".

Runs on the bundled demo pair when it is built (assets/demo-models), else on a tiny random pair
written to a temp folder and passed through CLUES_DEMO_LARGE / CLUES_DEMO_SMALL.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import clues.launch
from clues.cli import main
from clues.clue_quality import summary_markdown
from clues.contrast import word_units
from clues.corpus import generate_biographies, write_tagged_csv
from clues.experiment import (
    chosen_per_condition,
    reported_experiment,
    reported_experiment_file,
    reported_experiments,
)
from clues.importance import IMPORTANCE
from clues.models import DEMO_LARGE, DEMO_MODELS, demo_report
from clues.runs import RunStore, device_key
from clues.settings import DEFAULT_AUGMENT, DEFAULT_TRAIN, PAGE_TRAINED

pytest.importorskip("streamlit")
import streamlit  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

import clues.ui.cache  # noqa: E402 — needs streamlit, checked above
import clues.ui.sidebar as sidebar_module  # noqa: E402
from clues.memory import count_parameters, human_bytes  # noqa: E402
from clues.ui import navigation  # noqa: E402
from clues.ui.sidebar import demo_biography  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny import SENTENCES, build_tokenizer, tiny_model_dir  # noqa: E402 — tests/ is put on the path above


@pytest.fixture
def home(tmp_path, monkeypatch):
    folder = tmp_path / "home"
    monkeypatch.setenv("CLUES_HOME", str(folder))
    return folder


@pytest.fixture
def app(pair, home, monkeypatch):
    monkeypatch.setenv("CLUES_DEMO_LARGE", pair[0])
    monkeypatch.setenv("CLUES_DEMO_SMALL", pair[1])
    def open_app(page: str | None = None, **params) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        for key, value in params.items():
            at.query_params[key] = str(value)
        at.run()
        if page:
            at.switch_page(page).run()
        assert_clean(at)
        return at

    return open_app


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def charts(at: AppTest) -> list[dict]:
    return [json.loads(element.proto.spec) for element in at.get("plotly_chart")]


def chart(at: AppTest, title: str) -> dict:
    found = [c for c in charts(at) if title in (c["layout"].get("title", {}).get("text") or "")]
    assert found, f"no chart titled {title!r} among {[c['layout'].get('title', {}).get('text') for c in charts(at)]}"
    return found[0]


def html(at: AppTest, marker: str) -> list[str]:
    return [h.proto.body for h in at.get("html") if marker in h.proto.body]


def arr(value) -> np.ndarray:
    """A plotly JSON array: a list, or a typed array {"dtype", "bdata", "shape"} (plotly ≥ 6)."""
    if isinstance(value, dict) and "bdata" in value:
        data = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        if shape:
            data = data.reshape([int(n) for n in str(shape).split(",")])
        return data.astype(float)
    return np.array(value, dtype=float)


def z(figure: dict) -> np.ndarray:
    return arr(figure["data"][0]["z"])


def y(trace: dict) -> list[float]:
    return arr(trace["y"]).tolist()


# -- clue explorer ------------------------------------------------------------------------------

def test_explorer_opens_on_the_demo_pair(app):
    at = app()
    large, small = chart(at, "Large model"), chart(at, "Small model")
    tokens = len(large["data"][0]["x"])
    assert z(large).shape == z(small).shape == (tokens, tokens)
    contrast = chart(at, "Contrast")
    assert contrast["data"][0]["zmid"] == 0
    difference = z(contrast)
    lower = np.tril_indices(tokens)
    np.testing.assert_allclose(difference[lower], z(large)[lower] - z(small)[lower], atol=1e-9)
    bars = chart(at, "Attention received")
    assert [t["name"] for t in bars["data"]] == ["large", "small", "large − small"]
    table = at.dataframe[0].value
    assert list(table.columns) == ["rank", "token", "field", "contrast"]  # fits the half page at 1280 px
    assert table["rank"].tolist() == list(range(len(table)))  # 0 = strongest clue, the r of p(r)
    assert np.all(np.diff(table["contrast"].to_numpy()) <= 1e-12)  # ranked by contrast
    (text,) = html(at, "clues-text")
    assert text.count("outline:2px") == 10  # the top-10 clues are boxed
    assert "Looking from" in chart(at, "Looking from")["layout"]["title"]["text"]
    sidebar_text = " ".join(c.value for c in at.sidebar.caption)
    assert "Memory for the weights" in sidebar_text and "cpu" in sidebar_text and "float32" in sidebar_text


def test_explorer_views_change_the_maps(app):
    at = app()
    mean = z(chart(at, "Large model"))
    at.selectbox(key="view").set_value("max").run()
    assert_clean(at)
    assert chart(at, "Large model")["layout"]["title"]["text"] == "Large model · max"
    assert "strongest head" in " ".join(c.value for c in at.caption)
    assert not np.allclose(np.nan_to_num(z(chart(at, "Large model"))), np.nan_to_num(mean))
    at.selectbox(key="view").set_value("layer").run()
    at.slider(key="layer").set_value(0).run()
    assert_clean(at)
    assert chart(at, "Large model")["layout"]["title"]["text"] == "Large model · layer 0"
    # each title names its own model's layer, never the other's (issue 19, item 8)
    assert "large model" not in chart(at, "Small model")["layout"]["title"]["text"]
    at.selectbox(key="view").set_value("head").run()
    at.slider(key="head").set_value(1).run()
    assert_clean(at)
    assert chart(at, "Large model")["layout"]["title"]["text"] == "Large model · head 1 of layer 0"
    at.selectbox(key="view").set_value("rollout").run()
    assert_clean(at)
    assert "rollout" in chart(at, "Large model")["layout"]["title"]["text"]


def test_explorer_scales_top_k_and_query(app):
    at = app()
    at.checkbox(key="log").check().run()
    assert "log10" in chart(at, "Large model")["data"][0]["colorbar"]["title"]["text"]
    at.slider(key="top_k").set_value(3).run()
    assert html(at, "clues-text")[0].count("outline:2px") == 3
    before = chart(at, "Looking from")["layout"]["title"]["text"]
    query = next(s for s in at.selectbox if s.key and s.key.startswith("query-"))
    query.set_value(3).run()
    assert_clean(at)
    after = chart(at, "Looking from")
    assert after["layout"]["title"]["text"] != before
    assert len(after["data"][0]["x"]) == 4  # only tokens 0–3 can be seen from token 3


def test_text_sources_and_input_errors(app):
    at = app()
    first = html(at, "clues-text")[0]
    at.radio(key="src").set_value("generated").run()
    at.number_input(key="seed").set_value(5).run()
    assert_clean(at)
    assert html(at, "clues-text")[0] != first
    at.radio(key="src").set_value("free").run()
    at.text_area(key="free_text").input("Ana <Name>Herrera</name> was born.").run()
    assert not at.exception
    assert any("unknown tag" in e.value or "lower-case" in e.value for e in at.sidebar.error)
    at.text_area(key="free_text").input("Plain text, no tags, still works.").run()
    assert_clean(at)
    shown = re.sub(r"<sup.*?</sup>", "", html(at, "clues-text")[0])  # drop the rank badges
    assert "Plain text, no tags" in re.sub(r"<[^>]+>", "", shown)


def test_a_model_that_cannot_load_is_a_message(app, tmp_path):
    broken = tmp_path / "not-a-model"
    broken.mkdir()
    at = app()
    at.selectbox(key="pair").set_value("custom").run()
    at.text_input(key="large").input(str(broken)).run()
    at.text_input(key="small").input(str(tmp_path / "missing")).run()
    assert not at.exception
    assert any(b.label == "Load pair" for b in at.sidebar.button)
    at.button(key="load_pair").click().run()
    assert not at.exception
    messages = " ".join(e.value for e in at.sidebar.error)
    assert "config.json" in messages or "does not exist" in messages
    assert not at.get("plotly_chart")  # the page waits for a pair instead of failing


def test_trust_remote_code_is_an_explicit_opt_in(app):
    at = app()
    box = at.sidebar.checkbox(key="trust_remote_code")
    assert box.value is False and "runs code from the model's repository" in box.label
    linked = app(trust_remote_code="1")  # a link cannot switch it on
    assert linked.sidebar.checkbox(key="trust_remote_code").value is False


def test_a_missing_demo_pair_says_how_to_build_it(app, tmp_path, monkeypatch):
    monkeypatch.setenv("CLUES_DEMO_LARGE", str(tmp_path / "nowhere" / "large"))
    monkeypatch.setenv("CLUES_DEMO_SMALL", str(tmp_path / "nowhere" / "small"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("python -m clues demo build" in e.value for e in at.sidebar.error)


def test_deep_link_reopens_the_view(app):
    at = app(view="max", src="generated", seed="7", top_k="4")
    assert at.selectbox(key="view").value == "max"
    assert at.number_input(key="seed").value == 7
    assert html(at, "clues-text")[0].count("outline:2px") == 4
    at.slider(key="top_k").set_value(6).run()
    assert at.query_params["top_k"] == "6"
    bad = app(view="nonsense", top_k="999", seed="x")  # bad values fall back to the defaults
    assert bad.selectbox(key="view").value == "mean" and bad.slider(key="top_k").value == 10


def test_a_row_of_an_uploaded_csv(app):
    buffer = io.StringIO()
    people = generate_biographies(3, seed=11)
    write_tagged_csv(buffer, people)
    at = app(src="csv")
    assert any("Upload a tagged CSV" in i.value for i in at.sidebar.info)
    at.sidebar.get("file_uploader")[0].set_value(("people.csv", buffer.getvalue().encode(), "text/csv")).run()
    assert_clean(at)
    first = html(at, "clues-text")[0]
    assert people[0].name.split()[0] in re.sub(r"<[^>]+>", "", re.sub(r"<sup.*?</sup>", "", first))
    at.number_input(key="row").set_value(2).run()
    assert_clean(at)
    assert html(at, "clues-text")[0] != first
    at.sidebar.get("file_uploader")[0].set_value(("bad.csv", b"name,city\nAna,Lisbon\n", "text/csv")).run()
    assert not at.exception
    assert any("no `text` column" in e.value for e in at.sidebar.error)


def test_models_with_different_tokenizers_are_compared_per_word(app, pair, tmp_path, monkeypatch):
    other = tiny_model_dir(tmp_path / "other", "gpt2", layers=2, hidden=32, heads=2, seed=3,
                           tokenizer=build_tokenizer(vocab_size=280, sentences=SENTENCES[:3]))
    monkeypatch.setenv("CLUES_DEMO_SMALL", str(other))  # a context of 256 positions, another tokenizer
    at = app()
    assert any("compared per word" in i.value for i in at.info)
    words = len(word_units(demo_biography().text))
    assert z(chart(at, "Large model")).shape == z(chart(at, "Small model")).shape == (words, words)
    for page in ("pages/corpus.py", "pages/augmentation.py", "pages/how_it_works.py"):
        at.switch_page(page).run()
        assert_clean(at)


# -- corpus clues --------------------------------------------------------------------------------

def test_corpus_page_counts_fields_by_rank(app):
    at = app("pages/corpus.py", n=4, k=3)
    figure = chart(at, "Fields of the top-3")
    assert "company" in figure["layout"]["title"]["text"]
    assert figure["layout"]["barmode"] == "stack"
    counts = at.dataframe[0].value
    assert set(counts["view"]) == {"large", "small", "difference"}
    field_columns = [c for c in counts.columns if c not in ("view", "rank")]
    per_rank = counts.groupby(["view", "rank"])[field_columns].sum().sum(axis=1)
    assert (per_rank <= 4).all() and per_rank.max() == 4  # each of the 4 texts counted once per rank
    company_bars = [y(t) for t in figure["data"]]
    at.selectbox(key="field").set_value("date").run()
    assert_clean(at)
    date = chart(at, "Fields of the top-3")
    assert "before the date" in date["layout"]["title"]["text"]
    assert [y(t) for t in date["data"]] != company_bars
    # Before the date only the name (and the words around it) can be seen: no later field shows up.
    later = at.dataframe[0].value[["city", "university", "major", "company"]]
    assert later.to_numpy().sum() == 0


# -- augmentation lab ------------------------------------------------------------------------------

def probabilities(at: AppTest) -> list[float]:
    (block,) = html(at, "drop-token")
    return [float(p) for p in re.findall(r'data-p="([0-9.]+)"', block)]


def test_alpha_and_beta_change_the_preview_not_the_ranking(app, monkeypatch):
    at = app("pages/augmentation.py")
    before = probabilities(at)
    assert before and max(before) <= 0.7 + 1e-9
    calls = []
    original = clues.ui.cache.capture_attention
    monkeypatch.setattr(clues.ui.cache, "capture_attention", lambda *a, **k: calls.append(1) or original(*a, **k))
    at.slider(key="alpha").set_value(0.3).run()
    assert_clean(at)
    after = probabilities(at)
    assert after != before and max(after) <= 0.3 + 1e-9
    curve = chart(at, "p(r)")
    assert max(y(curve["data"][0])) <= 0.3 + 1e-9
    at.slider(key="beta").set_value(0.2).run()
    assert probabilities(at) != after
    assert calls == []  # the attention was read once, before α and β moved
    assert at.query_params["alpha"] == "0.3" and at.query_params["beta"] == "0.2"


def test_modes_styles_and_copies(app):
    at = app("pages/augmentation.py", copies=3)
    assert len(html(at, "clues-copy")) == 3
    at.radio(key="mode").set_value("none").run()
    assert_clean(at)
    assert set(probabilities(at)) == {0.0}
    assert at.metric[0].value == "0.0%"
    assert all("<s " not in block for block in html(at, "clues-copy"))
    at.radio(key="mode").set_value("random").run()
    assert set(probabilities(at)) == {0.7}
    at.selectbox(key="style").set_value("mask").run()
    assert_clean(at)
    assert "placeholder" in " ".join(c.value for c in at.caption)
    assert any("_" in code.value for code in at.code)
    csv = at.get("download_button")
    assert csv  # the augmented copies can be downloaded


# -- training ------------------------------------------------------------------------------------

def test_training_starts_runs_and_draws_their_curves(app, home, pair, tmp_path, monkeypatch):
    started = []

    def fake_start(store, config, *, name="run", env=None):
        assert isinstance(config, dict)
        run_id = store.create_run(name, config, "queued", device=device_key(config["device"]))
        started.append((run_id, config))
        return run_id

    monkeypatch.setattr(clues.launch, "start_run_process", fake_start)
    # one setting for all (the experiment's choice off): the corpus is the CLI's at its defaults
    at = app("pages/training.py", conditions="none,contrast", epochs=1, train_n=4, train_copies=1, batch=2,
             train_chosen=0)
    start = next(b for b in at.button if b.key == "start-runs")
    assert start.label == "Start 2 runs"
    start.click().run()
    assert_clean(at)
    assert [config["data"].endswith(f"{c}.csv") for (_, config), c in
            zip(started, ["none", "contrast"])] == [True, True]
    assert [config["extra"]["condition"] for _, config in started] == ["none", "contrast"]
    config = started[0][1]
    assert config["epochs"] == 1 and config["eval_data"] and not config["lora"]
    assert config["trainable"] == DEFAULT_TRAIN.trainable  # the page's method defaults to the chosen one
    folder = Path(config["data"]).parent
    assert folder.parent == home / "app-runs"
    assert {p.name for p in folder.iterdir()} >= {"people.csv", "none.csv", "contrast.csv", "manifest.json"}
    assert len(pd.read_csv(folder / "contrast.csv")) == 4 * 2  # original + 1 copy per person
    # the app and the CLI are two faces on one core: `clues augment` writes the same corpus
    cli = tmp_path / "cli.csv"
    assert main(["augment", "--large", pair[0], "--small", pair[1], "--input", str(folder / "people.csv"),
                 "--mode", "contrast", "--alpha", "0.7", "--beta", "0.05", "--copies", "1", "--style", "mask",
                 "--seed", "0", "--device", "cpu", "--out", str(cli)]) == 0
    assert cli.read_bytes() == (folder / "contrast.csv").read_bytes()

    store = RunStore()
    for run_id, _ in started:
        # a live pid: reconcile keeps it running; both run at once, so two slots
        assert store.try_claim(run_id, os.getpid(), "cpu", max_active=len(started))
        store.log_metrics(run_id, [{"epoch": 0, "step": 0, "field": f, "name": "em", "value": 0.0}
                                   for f in ("date", "company", "mean")]
                          + [{"epoch": 0.5, "step": 1, "name": "loss", "value": 3.0}])
    def started_message():
        return [s.value for s in at.success if s.value.startswith("Started runs")]

    ids = ", ".join(f"#{run_id}" for run_id, _ in started)
    assert len(started_message()) == 1 and started_message()[0].startswith(f"Started runs {ids}.")
    assert str(home) not in started_message()[0] and "/" not in started_message()[0]  # no server path
    at.run()  # the page reruns itself as runs start and end: what was started stays said
    assert_clean(at)
    assert len(started_message()) == 1 and started_message()[0].startswith(f"Started runs {ids}.")
    em = chart(at, "QA exact match")
    assert {t["name"] for t in em["data"]} == {f"none #{started[0][0]}", f"contrast #{started[1][0]}"}
    assert y(chart(at, "Training loss")["data"][0]) == [3.0]
    stop = next(b for b in at.button if b.key == f"stop-{started[0][0]}")
    stop.click().run()
    assert store.stop_requested(started[0][0])


def test_training_page_marks_dead_runs_and_compares_past_runs(app, home):
    store = RunStore()
    dead = store.create_run("contrast · old", {"model": "m", "epochs": 2}, "running", pid=2 ** 22 + 7)
    store.log_metrics(dead, [{"epoch": e, "step": e, "field": "company", "name": "em", "value": e / 4}
                             for e in (0, 1)])
    at = app("pages/training.py")
    assert store.get_run(dead)["status"] == "interrupted"
    table = next(d.value for d in at.dataframe if "status" in d.value.columns)
    assert table.loc[table["id"] == dead, "status"].item() == "interrupted"
    figure = chart(at, "em per field")
    assert y(figure["data"][0]) == [0.0, 0.25]
    at.radio(key="compare_metric").set_value("recall").run()
    assert_clean(at)
    assert chart(at, "recall per field")  # no recall rows: an empty panel, not an error


def test_training_rejects_an_empty_choice_with_a_message(app, monkeypatch):
    monkeypatch.setattr(clues.launch, "start_run_process", lambda *a, **k: pytest.fail("must not start"))
    at = app("pages/training.py", train_model="other", train_n=4)
    start = next(b for b in at.button if b.key == "start-runs")
    start.click().run()
    assert not at.exception
    assert any("model" in e.value.lower() for e in at.error)
    assert not [s for s in at.success if s.value.startswith("Started runs")]



def test_training_page_trains_the_page_model_by_default(app, pair, monkeypatch):
    """Beside the demo pair the first choice is settings.PAGE_TRAINED and the comparison trains that folder;
    beside another pair, its small model (PAGE_TRAINED names a bundled model)."""
    started = []

    def fake_start(store, config, *, name="run", env=None):
        started.append(config)
        return store.create_run(name, config, "queued", device=device_key(config["device"]))

    monkeypatch.setattr(clues.launch, "start_run_process", fake_start)
    at = app("pages/training.py", train_n=4, train_copies=1, epochs=1, conditions="none,contrast")
    assert at.radio(key="train_model").value == (PAGE_TRAINED if pair[0] == DEMO_LARGE else "small")
    expected = DEMO_MODELS[PAGE_TRAINED] if pair[0] == DEMO_LARGE else pair[1]
    # the experiment's choice per condition is offered, and on by default, when it trained this model
    chosen = chosen_per_condition(reported_experiments(), expected)
    assert at.checkbox(key="train_chosen").value == bool(chosen)
    next(b for b in at.button if b.key == "start-runs").click().run()
    assert_clean(at)
    assert [Path(c["model"]) for c in started] == [Path(expected)] * 2
    contrast = started[1]
    if chosen:
        # its learning rate and α; its stop, but never past the Epochs asked for (1 here)
        assert (contrast["lr"], contrast["stop_after_epoch"], contrast["extra"]["augment"]["alpha"]) == \
            (chosen["contrast"]["lr"], 1, chosen["contrast"]["alpha"])
        assert any("stops after epoch" in c.value for c in at.caption)
    assert started[0]["epochs"] == (chosen["none"]["epochs"] if chosen else 1)

# -- how it works ---------------------------------------------------------------------------------

def test_how_it_works_walks_through_the_live_example(app):
    at = app("pages/how_it_works.py")
    headers = [h.value for h in at.header]
    assert [h.split(" · ")[0] for h in headers] == ["1", "2", "3", "4", "5", "6"]
    assert chart(at, "Attention received")
    assert chart(at, "p(r)")
    assert html(at, "clues-text") and html(at, "clues-copy")
    results = reported_experiment_file()
    text = " ".join(m.value for m in [*at.markdown, *at.caption])
    assert (f"docs/{results.with_suffix('.md').name}" in text) if results else ("python -m clues experiment" in text)
    at.radio(key="src").set_value("generated").run()
    assert_clean(at)


# -- importance definitions and the position control (issue 9) -------------------------------------

def table_with(at: AppTest, column: str) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found, f"no table with a {column!r} column"
    return found[0]


def test_explorer_importance_changes_the_ranking_and_shows_its_bias(app):
    at = app()
    assert at.selectbox(key="importance").value == "total"
    # the menu shows the names (they fit at 1280 px, issue 19 item 7); the caption beside it says what each is
    assert at.selectbox(key="importance").options == list(IMPORTANCE)
    assert not [n for n in at.number_input if n.key == "distance"]  # only far_mean has a distance
    total = table_with(at, "contrast")
    boxed_total = html(at, "clues-text")[0]
    bias = chart(at, "Importance against position · total")
    assert [t["name"] for t in bias["data"]] == ["large", "small", "large − small", "top clues"]
    contrast_line = arr(bias["data"][2]["y"])
    assert np.isnan(contrast_line[0])  # the attention sink is a gap, not a point that flattens the rest
    np.testing.assert_allclose(contrast_line[1:], arr(bias["data"][0]["y"])[1:] - arr(bias["data"][1]["y"])[1:],
                               atol=1e-9)
    assert any("leans mildly to the start" in m.value for m in at.markdown)

    at.selectbox(key="importance").set_value("paper_mean").run()
    assert_clean(at)
    assert at.query_params["importance"] == "paper_mean"
    paper = table_with(at, "contrast")
    assert paper["token"].tolist() != total["token"].tolist()
    assert html(at, "clues-text")[0] != boxed_total
    assert chart(at, "Importance against position · paper_mean")
    assert any("leans hard to the END" in m.value for m in at.markdown)

    at.selectbox(key="importance").set_value("far_mean").run()
    far = table_with(at, "contrast")["token"].tolist()
    at.number_input(key="distance").set_value(2).run()
    assert_clean(at)
    assert at.query_params["distance"] == "2"
    assert table_with(at, "contrast")["token"].tolist() != far
    linked = app(importance="paper_mean")  # a link reopens the definition
    assert linked.selectbox(key="importance").value == "paper_mean"
    assert table_with(linked, "contrast")["token"].tolist() == paper["token"].tolist()
    # A page opened for the first time starts from the definition chosen last.
    linked.switch_page("pages/augmentation.py").run()
    assert_clean(linked)
    assert linked.selectbox(key="aug_importance").value == "paper_mean"


def test_corpus_page_measures_clue_quality(app):
    at = app("pages/corpus.py", n=4)
    table = table_with(at, "share_in_top_k")
    # short names keep the table from scrolling sideways at 1280 px; the column's help spells them out
    assert set(table["ranking"]) == {*IMPORTANCE, "position", "row_sum_mistake"}
    assert set(table["texts"]) == {"as given", "moved"}
    position = table[table["ranking"] == "position"].set_index("texts")
    assert position.loc["moved", "share_in_top_k"] == 0.0  # position alone finds the neutral sentence
    assert position.loc["as given", "top_k_relative_position"] < 0.2
    figure = chart(at, "Clues or positions? The name in the top-5")
    assert [t["name"] for t in figure["data"]] == ["as given", "moved", "as given", "moved"]
    assert figure["data"][0]["x"][:3] == list(IMPORTANCE)[:3] and "position" in figure["data"][0]["x"]
    widths = figure["data"][0]["marker"]["line"]["width"]
    assert widths[figure["data"][0]["x"].index("total")] > 0 and sum(w > 0 for w in widths) == 1
    at.selectbox(key="corpus_importance").set_value("paper_mean").run()
    assert_clean(at)
    figure = chart(at, "Clues or positions?")
    assert figure["data"][0]["marker"]["line"]["width"][figure["data"][0]["x"].index("paper_mean")] > 0
    at.slider(key="quality_k").set_value(1).run()
    at.selectbox(key="quality_field").set_value("date").run()
    assert_clean(at)
    assert chart(at, "Clues or positions? The date in the top-1")
    shares = table_with(at, "share_in_top_k")["share_in_top_k"]
    assert not np.allclose(shares.to_numpy(), table["share_in_top_k"].to_numpy(), equal_nan=True)


def test_the_moved_share_is_a_second_measurement_not_a_change(app):
    """Issue 19, item 8: "↑ moved: 0%" under 100% read as a rise; the moved share is a caption, no arrow."""
    at = app("pages/corpus.py", n=4)
    quality = [m for m in at.metric if "in the top-" in m.label and ":" in m.label]
    assert len(quality) == 2 and all(not m.proto.delta for m in quality)
    assert sum("moved from the start" in c.value for c in at.caption) == 2


def test_the_lab_drops_in_the_one_default_style(app):
    """Issue 19, item 10: the lab and training start from one drop style, clues.settings.DEFAULT_AUGMENT's."""
    lab = app("pages/augmentation.py")
    assert lab.selectbox(key="style").value == DEFAULT_AUGMENT.style
    training = app("pages/training.py")
    assert training.selectbox(key="train_style").value == DEFAULT_AUGMENT.style


def test_augmentation_lab_offers_position_and_the_importance(app):
    at = app("pages/augmentation.py")
    assert "position" in at.radio(key="mode").options
    contrast_total = probabilities(at)
    at.selectbox(key="aug_importance").set_value("paper_mean").run()
    assert_clean(at)
    assert probabilities(at) != contrast_total  # the definition changes the ranking, so the drops
    at.radio(key="mode").set_value("position").run()
    assert_clean(at)
    by_position = probabilities(at)
    assert by_position[0] == 0.0 and by_position == sorted(by_position)  # earliest kept, later dropped more
    assert any("not rank by attention" in c.value for c in at.caption)


def test_training_offers_position_and_the_papers_contrast(app, home, monkeypatch):
    started = []

    def fake_start(store, config, *, name="run", env=None):
        run_id = store.create_run(name, config, "queued", device=device_key(config["device"]))
        started.append(config)
        return run_id

    monkeypatch.setattr(clues.launch, "start_run_process", fake_start)
    at = app("pages/training.py", conditions="position,contrast,contrast:paper_mean", train_importance="far_mean",
             epochs=1, train_n=4, train_copies=1, batch=2)
    options = at.multiselect(key="conditions").options
    assert "position (control)" in options and "contrast · paper_mean" in options
    assert at.multiselect(key="conditions").value == ["position", "contrast", "contrast:paper_mean"]
    next(b for b in at.button if b.key == "start-runs").click().run()
    assert_clean(at)
    assert [c["extra"]["condition"] for c in started] == ["position", "contrast", "contrast:paper_mean"]
    assert [c["extra"]["importance"] for c in started] == ["far_mean", "far_mean", "paper_mean"]
    folder = Path(started[0]["data"]).parent
    assert {"position.csv", "contrast.csv", "contrast-paper_mean.csv"} <= {p.name for p in folder.iterdir()}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["comparison"]["importance"] == "far_mean"


def test_training_another_model_ranks_by_its_own_attention(app, home, pair, tmp_path, monkeypatch):
    """The large model of the pair, named as 'another model': attention and position rank its own
    tokens and attention, the contrast stays the pair's; each corpus is the one `clues augment` writes."""
    started = []

    def fake_start(store, config, *, name="run", env=None):
        started.append(config)
        return store.create_run(name, config, "queued", device=device_key(config["device"]))

    monkeypatch.setattr(clues.launch, "start_run_process", fake_start)
    # one setting for all (an experiment may have chosen others for this model): the CLI's corpus at its defaults
    at = app("pages/training.py", train_model="other", train_other=pair[0], conditions="attention,position,contrast",
             epochs=1, train_n=4, train_copies=2, batch=2, train_chosen=0)
    next(b for b in at.button if b.key == "start-runs").click().run()
    assert_clean(at)
    assert [c["model"] for c in started] == [pair[0]] * 3
    folder = Path(started[0]["data"]).parent
    for condition, (large, small) in {"attention": (pair[0], pair[0]), "position": (pair[0], pair[0]),
                                      "contrast": pair}.items():
        cli = tmp_path / f"{condition}.csv"
        assert main(["augment", "--large", large, "--small", small, "--input", str(folder / "people.csv"),
                     "--mode", condition, "--copies", "2", "--style", "mask", "--seed", "0", "--device", "cpu",
                     "--out", str(cli)]) == 0
        assert cli.read_bytes() == (folder / f"{condition}.csv").read_bytes(), condition


def test_how_it_works_compares_the_definitions_on_the_live_example(app):
    at = app("pages/how_it_works.py")
    table = table_with(at, "top-5")
    assert table["ranking"].tolist() == [*IMPORTANCE, "position", "row_sum_mistake"]
    assert all(len(top.split(" · ")) == 5 for top in table["top-5"])
    position = table.set_index("ranking").loc["position", "mean position"]
    assert position == table["mean position"].min()
    metrics = {m.label: m.value for m in at.metric}
    mistake = float(metrics["row-sum mistake: max |large − small|"])
    assert mistake < 1e-3 < float(metrics["total: max |large − small|"])  # rounding noise vs a signal
    text = " ".join(m.value for m in at.markdown)
    assert "position control" in text and "clues clue-quality" in text
    # the measured table is the build's (build.json), never typed into the page
    assert summary_markdown(demo_report()["clue_quality"]).strip() in [m.value.strip() for m in at.markdown]
    boxed = html(at, "clues-text")[0]
    at.selectbox(key="how_importance").set_value("paper_mean").run()
    assert_clean(at)
    assert html(at, "clues-text")[0] != boxed
    assert table_with(at, "top-5").equals(table)  # step 4 shows every definition anyway


# -- what a widget shows is what is applied (issue 11) ------------------------------------------

def shows_applied_value(widget) -> bool:
    """A browser that (re)mounts this widget shows its value: Streamlit sent the value (set_value),
    or the value is the widget's own default (what a browser that forgot the widget shows)."""
    proto = widget.proto
    if proto.set_value:
        return True
    kind = type(widget).__name__
    if kind in ("Selectbox", "Radio"):
        return widget.index == proto.default
    if kind == "Slider":
        return list(proto.default) == [float(widget.value)]
    return proto.default == widget.value  # checkbox, number input


def test_widgets_show_the_applied_view_after_an_early_stop_and_a_page_switch(app):
    at = app(view="head", layer=3, head=5, src="free")
    at.checkbox(key="log").check().run()  # a setting the user changed before the stop
    title = chart(at, "Large model")["layout"]["title"]["text"]
    assert "head 5 of layer 3" in title
    at.text_area(key="free_text").input("").run()  # the page stops early: no view widgets
    assert not at.get("plotly_chart") and not [s for s in at.selectbox if s.key == "view"]
    at.text_area(key="free_text").input("Ana Herrera was born in Lisbon and works at Acme.").run()
    assert_clean(at)

    def check():
        assert "head 5 of layer 3" in chart(at, "Large model")["layout"]["title"]["text"]
        widgets = {"view": at.selectbox(key="view"), "layer": at.slider(key="layer"),
                   "head": at.slider(key="head"), "log": at.checkbox(key="log"), "same": at.checkbox(key="same")}
        assert (widgets["view"].value, widgets["layer"].value, widgets["head"].value) == ("head", 3, 5)
        assert widgets["log"].value is True
        assert {key: shows_applied_value(w) for key, w in widgets.items()} == dict.fromkeys(widgets, True)

    check()
    at.switch_page("pages/corpus.py").run()
    at.switch_page("pages/explorer.py").run()
    assert_clean(at)
    check()
    at.slider(key="head").set_value(2).run()  # the next widget change keeps the others as shown
    assert "head 2 of layer 3" in chart(at, "Large model")["layout"]["title"]["text"]


def test_a_run_does_not_send_back_the_value_of_a_widget_on_screen(app):
    """Streamlit sends a widget's value to the browser when the script wrote it (set_value); for a
    widget on screen that would undo a value the user is changing while the run is in flight (a
    browser test lost α key presses so). Only a (re)mounted widget is sent its value."""
    at = app("pages/augmentation.py")
    at.slider(key="alpha").set_value(0.5).run()
    at.number_input(key="copies").set_value(7).run()
    at.run()
    assert_clean(at)
    for widget in (at.slider(key="alpha"), at.slider(key="beta"), at.number_input(key="copies"),
                   at.number_input(key="aug_seed"), at.radio(key="mode")):
        assert not widget.proto.set_value, widget.key
    assert (at.slider(key="alpha").value, at.number_input(key="copies").value) == (0.5, 7)


def _default_is_value(widget) -> bool:
    """Whether a widget's own default (what a browser shows when it mounts the element without a value
    of its own) is the value the run drew it with."""
    proto = widget.proto
    kind = type(widget).__name__
    if kind in ("Selectbox", "Radio"):
        return proto.default == widget.index
    if kind == "Multiselect":
        return list(proto.default) == list(widget.indices)
    if kind == "Slider":
        return list(proto.default) == [widget.value]
    return proto.default == widget.value


def test_every_widget_is_drawn_with_its_value_as_its_default(app, home):
    """A busy browser can apply two runs' output at once (a fragment run right behind a full run) and
    mount only the second element, which carries no set_value: it then shows the widget's default and
    sends it back. The Runs tab's run chooser came up empty so, in a browser test under load."""
    store = RunStore()
    for condition in ("none", "contrast"):
        store.create_run(f"{condition} · elsewhere", {"model": "m", "epochs": 1}, "finished")
    pages = {"pages/augmentation.py": {"alpha": 0.5, "copies": 7}, "pages/training.py": {}, None: {"top_k": 3}}
    for page, changes in pages.items():
        at = app(page)
        for key, value in changes.items():
            next(w for w in [*at.slider, *at.number_input] if w.key == key).set_value(value).run()
        at.run()  # a run that sends no widget its value
        assert_clean(at)
        widgets = [w for kind in ("selectbox", "radio", "multiselect", "slider", "number_input", "checkbox",
                                  "text_input", "text_area") for w in [*getattr(at, kind), *getattr(at.sidebar, kind)]
                   if w.key and not w.proto.set_value]
        assert len(widgets) >= 3, page
        assert [w.key for w in widgets if not _default_is_value(w)] == [], page
        if page == "pages/training.py":
            assert at.multiselect(key="compare").indices == [0, 1]  # not the widget's empty default


def test_the_sink_column_does_not_set_the_colour_scales(app):
    """Each scale is the 99.5th percentile of the ranked columns' cells: the attention sink (position 0, left
    out of the ranking) saturates in the attention maps instead of washing every other cell out."""
    at = app()
    ranked = sorted(at.dataframe[0].value.index.tolist())  # the position is the table's (hidden) index
    assert 0 not in ranked  # the first position is left out of the ranking
    contrast = chart(at, "Contrast")
    difference = np.abs(np.nan_to_num(z(contrast)))
    cells = difference[:, ranked]
    assert contrast["data"][0]["zmax"] == pytest.approx(float(np.percentile(cells[cells > 0], 99.5)))
    large, small = (np.nan_to_num(z(chart(at, title))) for title in ("Large model", "Small model"))
    pooled = np.concatenate([large[:, ranked].ravel(), small[:, ranked].ravel()])  # one scale for both
    zmax = chart(at, "Large model")["data"][0]["zmax"]
    assert zmax == pytest.approx(float(np.percentile(pooled[pooled > 0], 99.5)))
    assert large[:, 0].max() > 2 * zmax  # the sink saturates instead of setting the scale


def test_runs_tab_lists_every_run_and_refreshes_while_one_is_active(app, home, monkeypatch):
    intervals = {}
    original = streamlit.fragment

    def recording_fragment(function=None, *, run_every=None):
        intervals[function.__name__] = run_every
        return original(function, run_every=run_every)

    monkeypatch.setattr(streamlit, "fragment", recording_fragment)
    at = app("pages/training.py")
    assert any("No runs yet" in i.value for i in at.info)
    assert intervals == {"live_view": 5, "runs_view": 5}  # idle: still looks for runs from elsewhere
    store = RunStore()
    other = store.create_run("contrast · another browser", {"model": "m", "epochs": 1}, "queued")
    assert store.try_claim(other, os.getpid(), "cpu")
    at.run()
    assert_clean(at)
    table = next(d.value for d in at.dataframe if "status" in d.value.columns)
    assert table["id"].tolist() == [other] and table["status"].tolist() == ["running"]
    assert intervals == {"live_view": 2, "runs_view": 2}


def progress_texts(at: AppTest) -> list[str]:
    return [element.proto.text for element in at.get("progress")]


def test_a_comparison_stays_whole_in_a_new_session_until_dismissed(app, home, monkeypatch):
    """Issue 19: a reload (a new session) once showed only the runs still going, and the Runs tab
    left out the first run. The comparison lives in the store: whole, with one bar and one time
    left, until someone dismisses it; its Start cannot queue it twice."""
    started = []

    def fake_start(store, config, *, name="run", env=None):
        run_id = store.create_run(name, config, "queued", device=device_key(config["device"]))
        started.append(run_id)
        return run_id

    monkeypatch.setattr(clues.launch, "start_run_process", fake_start)
    settings = {"conditions": "none,random,contrast", "epochs": 1, "train_n": 4, "train_copies": 1, "batch": 2}
    at = app("pages/training.py", **settings)
    next(b for b in at.button if b.key == "start-runs").click().run()
    assert_clean(at)
    assert len(started) == 3
    assert next(b for b in at.button if b.key == "start-runs").disabled  # the click's own run disables it
    at.session_state["_train_start_requested"] = True  # a second click that came before the button was disabled
    at.run()
    assert_clean(at)
    assert len(started) == 3

    store = RunStore()
    first, second, third = started
    assert store.try_claim(first, os.getpid(), "cpu")
    store.log_metrics(first, [{"epoch": e, "step": 2 * e, "field": "mean", "name": "em", "value": e / 4}
                              for e in (0, 1)] + [{"epoch": 1, "step": 2, "name": "loss", "value": 2.0}])
    store.finish(first, "finished")
    assert store.try_claim(second, os.getpid(), "cpu")
    store.log_metrics(second, [{"epoch": 0, "step": 0, "field": "mean", "name": "em", "value": 0.0},
                               {"epoch": 0.5, "step": 1, "name": "loss", "value": 3.0}])

    reloaded = app("pages/training.py", **settings)  # a reload: a new session, nothing of the first one
    shown = " ".join(progress_texts(reloaded))
    for run_id, status in ((first, "finished"), (second, "running"), (third, "queued")):
        assert f"#{run_id} " in shown and f"— {status}" in shown, shown
    whole = progress_texts(reloaded)[0]
    assert whole.startswith("1 of 3 runs ended") and "left" in whole, whole
    assert {t["name"] for t in chart(reloaded, "QA exact match")["data"]} >= {f"none #{first}"}
    # another session may start the same settings: it shares these runs (test_the_same_comparison_shares_its_runs)
    assert not next(b for b in reloaded.button if b.key == "start-runs").disabled
    assert [b for b in reloaded.button if b.key == "run-again"]
    assert not [b for b in reloaded.button if b.key == "dismiss-comparison"]  # not while it runs
    other = app("pages/training.py", **{**settings, "train_seed": 1})  # another comparison may queue behind
    assert not next(b for b in other.button if b.key == "start-runs").disabled
    compare = next(m for m in reloaded.multiselect if m.key.startswith("compare"))
    assert compare.value == [first, second, third]  # the plain baseline included

    for run_id in (second, third):
        store.finish(run_id, "stopped")
    reloaded.run()
    assert_clean(reloaded)
    assert progress_texts(reloaded)[0] == "3 of 3 runs ended"
    assert not next(b for b in reloaded.button if b.key == "start-runs").disabled
    next(b for b in reloaded.button if b.key == "dismiss-comparison").click().run()
    assert_clean(reloaded)
    assert not progress_texts(reloaded)
    assert any("No comparison yet" in c.value for c in reloaded.caption)
    assert store.dismissed() == {clues.launch.comparison_of(store.get_run(first))}


def test_a_failed_run_shows_its_reason_as_an_error(app, home, monkeypatch):
    def fake_start(store, config, *, name="run", env=None):
        return store.create_run(name, config, "queued", device=device_key(config["device"]))

    monkeypatch.setattr(clues.launch, "start_run_process", fake_start)
    at = app("pages/training.py", conditions="none", epochs=1, train_n=4, train_copies=1, batch=2)
    next(b for b in at.button if b.key == "start-runs").click().run()
    (run_id,) = at.session_state["_train_batch"]
    store = RunStore()
    assert store.try_claim(run_id, os.getpid(), "cpu")
    store.finish(run_id, "failed", error="CUDA out of memory")
    at.run()
    assert not at.exception
    assert any("CUDA out of memory" in e.value and f"#{run_id}" in e.value for e in at.error)


def test_a_big_pair_loads_only_on_a_click_and_shows_its_progress(app, pair, monkeypatch):
    monkeypatch.setattr(sidebar_module, "AUTOLOAD_BYTES", 1)  # every pair counts as big
    monkeypatch.setattr(sidebar_module, "_READY", set())  # not loaded yet in this process
    at = app(view="max")  # a link, even to a view, does not load it
    assert not at.get("plotly_chart")
    assert any("press “Load pair”" in w.value for w in at.sidebar.warning)
    at.button(key="load_pair").click().run()
    assert_clean(at)
    assert chart(at, "Large model")
    (status,) = at.sidebar.get("status")
    assert status.label.startswith("Model pair loaded in")
    captions = " ".join(c.value for c in at.sidebar.caption)
    for name, ref in zip(("large", "small"), pair):
        assert f"{name} `{Path(ref).name}` loaded in" in captions


def test_the_memory_estimate_counts_parameters_at_the_loading_precision(app, pair):
    at = app()
    caption = next(c.value for c in at.sidebar.caption if "Memory for the weights once loaded" in c.value)
    parameters = sum(count_parameters(ref) for ref in pair)
    assert f"**{human_bytes(parameters * 4)}**" in caption  # float32 on a CPU


# -- smaller things a user saw (issue 11, item 6) -------------------------------------------------

def test_the_same_model_twice_says_the_contrast_is_zero(app, pair):
    at = app()
    at.selectbox(key="pair").set_value("custom").run()
    at.text_input(key="large").input(pair[1]).run()
    at.text_input(key="small").input(pair[1]).run()
    assert not at.exception
    assert any("zero by construction" in w.value for w in at.sidebar.warning)


def test_removing_the_uploaded_file_stops_using_it(app):
    buffer = io.StringIO()
    write_tagged_csv(buffer, generate_biographies(2, seed=3))
    at = app(src="csv")
    uploader = at.sidebar.get("file_uploader")[0]
    uploader.set_value(("people.csv", buffer.getvalue().encode(), "text/csv")).run()
    assert_clean(at)
    assert html(at, "clues-text")
    at.sidebar.get("file_uploader")[0].set_value(None).run()
    assert not at.exception
    assert any("Upload a tagged CSV" in i.value for i in at.sidebar.info)
    assert not html(at, "clues-text")


def test_free_text_travels_in_the_link_up_to_its_limit(app):
    at = app(src="free")
    at.text_area(key="free_text").input("Ana <name>Herrera</name> was born in Lisbon.").run()
    assert at.query_params["free_text"] == "Ana <name>Herrera</name> was born in Lisbon."
    linked = app(src="free", free_text="Bo <name>Lund</name> works at <company>Acme</company>.")
    assert linked.text_area(key="free_text").value == "Bo <name>Lund</name> works at <company>Acme</company>."
    shown = re.sub(r"<[^>]+>", "", re.sub(r"<sup.*?</sup>", "", html(linked, "clues-text")[0]))
    assert "Bo Lund works at Acme" in shown
    long = "Ana Herrera was born in Lisbon. " * 80  # longer than the link carries
    at.text_area(key="free_text").input(long).run()
    assert "free_text" not in at.query_params
    assert any("does not carry this text" in c.value for c in at.sidebar.caption)


def test_how_it_works_shows_the_result_figures(app):
    """Step 6 draws the reported experiment live (the headline of docs/results*.json; plotly, no shrunk PNG), its
    legend naming every condition it draws (issue 19, items 3 and 6), and names its report."""
    results = reported_experiment_file()
    if results is None:
        pytest.skip("docs/results.json is missing")
    published = json.loads(results.read_text())
    at = app("pages/how_it_works.py")
    assert not at.get("image")
    curves = chart(at, "Far facts, QA exact match per epoch")
    drawn = {t["name"] for t in curves["data"]}
    assert drawn == set(published["curves"]["em"])
    assert {t["name"] for t in curves["data"] if t.get("showlegend", True)} == drawn
    colors = {t["name"]: t["line"]["color"] for t in curves["data"]}
    assert len(set(colors.values())) == len(colors)  # one colour per condition, none shared
    for trace in curves["data"]:
        field = trace["xaxis"].replace("x", "") or "1"
        field = ["university", "major", "company"][int(field) - 1]
        assert y(trace) == pytest.approx(published["curves"]["em"][trace["name"]][field])
    paired = chart(at, "difference per pair of conditions")
    expected = [r for r in published["paired"] if r["metric"] == "em" and r["a"] == "contrast"
                and r["b"] in ("none", "position", "oracle", "replace")]
    assert arr(paired["data"][0]["x"]).tolist() == pytest.approx([r["mean"] for r in expected])
    assert any(f"docs/{results.with_suffix('.md').name} in the repository" in c.value for c in at.caption)


def test_how_it_works_is_a_lesson_not_a_developer_document(app):
    """Issue 19, item 3: the paper's tables in full, every number with its corpus, no command lines,
    hashes or machine timings, the glossary explains the jargon, and the result is told as measured."""
    at = app("pages/how_it_works.py")
    paper = [d.value for d in at.dataframe if "model" in d.value.columns]
    assert len(paper) == 2 and all(not t.isna().any().any() for t in paper)
    table1 = next(t for t in paper if "company" in t.columns)
    assert table1.set_index("model").loc["LLaMA 3 8B", "company"] == 0.09  # from paper_reference.json
    text = " ".join(m.value for m in [*at.markdown, *at.caption])
    for developer in ("sha256", "min on this machine", "--select", "python -m clues experiment --"):
        assert developer not in text
    glossary = next(e for e in at.expander if "Glossary" in e.label)
    words = " ".join(m.value for m in glossary.markdown)
    for term in ("query / key", "softmax", "causal attention map", "few-shot QA", "EM", "F1", "std",
                 "paired by seed", "far_mean's d", "attention sink", "LoRA"):
        assert f"**{term}" in words, term
    published = reported_experiment()
    result = next(m.value for m in at.markdown if m.value.startswith("**In this demo** — "))
    contrast = np.mean([published["summary"]["contrast"]["em"][f]["mean"] for f in ("university", "major", "company")])
    assert f"contrast {contrast:.2f}" in result
    assert ("did not help" in result) == (contrast < max(
        np.mean([v["em"][f]["mean"] for f in ("university", "major", "company")])
        for k, v in published["summary"].items() if k != "contrast"))
    assert "no worse" not in text or "answered worse" not in text  # one story about far facts
    # each measured share of the name in the top-5 says which texts it comes from
    assert f"{published['attention']['name_in_top_k']:.0%} of its {published['attention']['texts']} biographies" in text


def test_the_icons_are_the_apps_own():
    """The tab icon is a file the app serves; the page icons are emoji (text): no icon font to fetch."""
    assert navigation.ICON.is_file()
    assert not any(page.icon.startswith(":material/") for page in navigation.PAGES)


def test_text_longer_than_the_limit_marks_where_the_analysis_stopped(app):
    at = app()
    at.number_input(key="max_tokens").set_value(16).run()
    assert_clean(at)
    (text,) = html(at, "clues-text")
    assert "analysis stopped here" in text
    before, after = text.split("analysis stopped here", 1)
    assert before.count("clue-token") > 0 and "clue-token" not in after


def test_the_small_models_clamped_head_is_said(home, monkeypatch, tmp_path):
    """A pair whose small model has fewer heads (the bundled pair has 8 and 8): the head slider reaches the
    large model's last head, and the page says which of the small model's heads stands in for it."""
    tokenizer = build_tokenizer()
    large = tiny_model_dir(tmp_path / "large", "llama", layers=2, hidden=32, heads=4, seed=1, tokenizer=tokenizer)
    small = tiny_model_dir(tmp_path / "small", "llama", layers=2, hidden=32, heads=2, seed=2, tokenizer=tokenizer)
    monkeypatch.setenv("CLUES_DEMO_LARGE", str(large))
    monkeypatch.setenv("CLUES_DEMO_SMALL", str(small))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["view"], at.query_params["head"] = "head", "3"
    at.run()
    assert_clean(at)
    assert at.slider(key="head").max == 3  # the large model's heads (4): the slider stops there
    assert any("The small model has 2 heads: its head 1 stands in for head 3" in c.value for c in at.caption)


# -- issue 17: shared runs, a class mode ---------------------------------------------------------

def _fake_start(started):
    def fake_start(store, config, *, name="run", env=None):
        run_id = store.create_run(name, config, "queued", device=device_key(config["device"]))
        started.append(run_id)
        return run_id
    return fake_start


SMALL_COMPARISON = {"conditions": "none,contrast", "epochs": 1, "train_n": 4, "train_copies": 1, "batch": 2}


def test_the_same_comparison_shares_its_runs(app, home, monkeypatch):
    """Two sessions start the same comparison: the second queues nothing, is told its runs are shared
    and sees them live; "Run again (new seed)" trains them anew."""
    started = []
    monkeypatch.setattr(clues.launch, "start_run_process", _fake_start(started))
    first = app("pages/training.py", **SMALL_COMPARISON)
    assert not [b for b in first.button if b.key == "run-again"]  # nothing to share yet
    next(b for b in first.button if b.key == "start-runs").click().run()
    assert len(started) == 2
    second = app("pages/training.py", **SMALL_COMPARISON)
    next(b for b in second.button if b.key == "start-runs").click().run()
    assert_clean(second)
    assert len(started) == 2  # shared, not queued again
    said = " ".join(s.value for s in second.success)
    assert said.startswith(f"Shared runs #{started[0]}, #{started[1]}: identical runs"), said
    assert all("shared by 2 comparisons" in text for text in progress_texts(second)[1:]), progress_texts(second)
    second.run()  # the click's own run draws the buttons disabled; the next one (any change) does not
    second.button(key="run-again").click().run()
    assert_clean(second)
    assert len(started) == 4
    seeds = {RunStore().get_run(i)["config"]["seed"] for i in started[2:]}
    assert seeds == {1}
    assert "with the new seed 1" in " ".join(s.value for s in second.success)


def test_class_mode_offers_only_the_teachers_pairs(app, pair, monkeypatch):
    monkeypatch.setenv("CLUES_CLASS", "1")
    at = app(pair="custom", large="/etc", small="/etc")
    assert_clean(at)
    assert at.sidebar.selectbox(key="pair").options == ["Demo pair (bundled, offline)"]
    assert any("only the model pairs the teacher configured" in w.value for w in at.sidebar.warning)
    assert not [c for c in at.sidebar.checkbox if c.key == "trust_remote_code"]
    assert chart(at, "Large model")  # the demo pair still works
    training = app("pages/training.py", train_model="other", train_other="/etc")
    assert "other" not in training.radio(key="train_model").options
    assert any("only the model pairs the teacher configured" in w.value for w in training.warning)
    monkeypatch.setenv("CLUES_CLASS_PAIRS", f"{pair[0]},{pair[1]};gpt2-xl,gpt2")
    labels = [o for o in app().sidebar.selectbox(key="pair").options]
    assert labels == ["Demo pair (bundled, offline)", "gpt2-xl / gpt2"]


def test_class_mode_stops_only_your_own_runs_and_caps_them(app, home, monkeypatch):
    started = []
    monkeypatch.setattr(clues.launch, "start_run_process", _fake_start(started))
    monkeypatch.setenv("CLUES_CLASS", "1")
    monkeypatch.setenv("CLUES_CLASS_MAX_RUNS", "2")
    a = app("pages/training.py", **SMALL_COMPARISON)
    next(b for b in a.button if b.key == "start-runs").click().run()
    b = app("pages/training.py", **{**SMALL_COMPARISON, "conditions": "random"})
    store = RunStore()
    b.button(key=f"stop-{started[0]}").click().run()  # a's run, which b does not follow
    assert_clean(b)
    assert any(w.value == f"You can stop only runs you started: run #{started[0]} belongs to another session."
               for w in b.warning)
    assert not store.stop_requested(started[0])
    next(x for x in b.button if x.key == "start-runs").click().run()  # b's own run: b may stop it
    own = started[-1]
    b.button(key=f"stop-{own}").click().run()
    assert store.stop_requested(own)
    b2 = app("pages/training.py", **SMALL_COMPARISON)  # another session shares a's runs
    next(x for x in b2.button if x.key == "start-runs").click().run()
    b2.button(key=f"stop-{started[0]}").click().run()
    assert any(f"Run #{started[0]} is shared: 1 other session follow" in w.value for w in b2.warning)
    assert not store.stop_requested(started[0])  # a still follows it
    a.button(key=f"stop-{started[0]}").click().run()
    assert store.stop_requested(started[0])  # no one else follows it now
    # the cap: a has one run going of its own (2 allowed; the stopping one does not count); a comparison of
    # 2 more is refused in one line
    a.session_state["_train_start_requested"] = False
    a.multiselect(key="conditions").set_value(["random", "position"]).run()
    before = len(started)
    next(x for x in a.button if x.key == "start-runs").click().run()
    assert not a.exception
    assert len(started) == before
    assert any(e.value.startswith("Class mode: a session may have 2 runs of its own queued or running; you have 1")
               for e in a.error), [e.value for e in a.error]


def test_class_mode_caps_uploads(app, monkeypatch):
    monkeypatch.setenv("CLUES_CLASS", "1")
    monkeypatch.setenv("CLUES_CLASS_MAX_UPLOAD_MB", "0.001")
    buffer = io.StringIO()
    write_tagged_csv(buffer, generate_biographies(30, seed=11))  # a few kB: over a cap of 1 kB
    at = app(src="csv")
    at.sidebar.get("file_uploader")[0].set_value(("people.csv", buffer.getvalue().encode(), "text/csv")).run()
    assert not at.exception
    assert [w.value for w in at.sidebar.warning if w.value.startswith("Class mode: uploads are capped at 0.001 MB")]
    assert not html(at, "clues-text")  # nothing of it was read
