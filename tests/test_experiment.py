"""The experiment end to end on a tiny pair: runs, summary, attention numbers, the report."""

import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io._kaleido as plotly_kaleido
import pytest

from clues.builders.experiment_report import (
    NO_CHROME,
    NO_KALEIDO,
    beyond_lines,
    edge_lines,
    readme_summary,
    report_text,
    selection_markdown,
    write_report,
)
from clues.builders.readme import section
from clues.cli import main
from clues.corpus import FACT_FIELDS, experiment_people
from clues.experiment import (
    ExperimentConfig,
    attention_to_name,
    chosen_per_condition,
    headline_index,
    paired_table,
    reported_experiment,
    reported_experiments,
    settings_tried,
    summarise,
    weights_fingerprint,
)
from clues.models import DEMO_LARGE, DEMO_LEARNER, DEMO_SMALL, load_model
from clues.name_attention import measure_name_attention
from clues.runs import RunStore

from run_store_by_hand import experiment_store
from tiny import tiny_model_dir


@pytest.mark.slow
def test_experiment_end_to_end(tmp_path, capsys):
    large = tiny_model_dir(tmp_path / "large", "llama", layers=3, seed=1, initializer_range=0.3)
    small = tiny_model_dir(tmp_path / "small", "llama", layers=2, seed=2, initializer_range=0.3)
    report = tmp_path / "docs" / "results.md"
    args = ["experiment", "--large", str(large), "--small", str(small), "--people", "5", "--epochs", "1",
            "--copies", "1", "--conditions", "none", "contrast", "--shots", "1", "--batch-size", "4",
            "--trainable", "mlp",
            "--out", str(tmp_path / "out"), "--store", str(tmp_path / "runs.sqlite"), "--report", str(report)]
    assert main(args) == 0
    assert {run["config"]["trainable"] for run in RunStore(tmp_path / "runs.sqlite").list_runs()} == {"mlp"}
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["condition"] for r in results["runs"]] == ["none", "contrast"]
    for condition in ("none", "contrast"):
        assert set(results["summary"][condition]["em"]) == {"date", "city", "university", "major", "company"}
    attention = results["attention"]
    assert attention["texts"] == 5 and 0 <= attention["name_in_top_k"] <= 1
    assert all(0 <= v["large"] <= 1 for v in attention["to_name"].values())
    text = report.read_text()
    assert "Attention to the name" in text and "What holds on the demo" in text
    assert "weights trained: only the feed-forward (MLP) weights" in text
    assert (tmp_path / "docs" / "figures" / "experiment-em.png").stat().st_size > 1000


def test_bad_experiment_settings_are_clear(capsys):
    assert main(["experiment", "--conditions", "nonsense", "--people", "10"]) == 2
    assert "Unknown condition" in capsys.readouterr().err


@pytest.mark.slow
def test_seeds_run_apart_merge_into_one_report(tmp_path):
    large = tiny_model_dir(tmp_path / "large", "llama", layers=3, seed=1, initializer_range=0.3)
    small = tiny_model_dir(tmp_path / "small", "llama", layers=2, seed=2, initializer_range=0.3)
    common = ["experiment", "--large", str(large), "--small", str(small), "--people", "4", "--epochs", "1",
              "--copies", "1", "--conditions", "none", "random", "--shots", "1", "--batch-size", "4",
              "--store", str(tmp_path / "runs.sqlite"), "--report", ""]
    for seed in (0, 1):
        assert main([*common, "--seeds", str(seed), "--out", str(tmp_path / f"s{seed}")]) == 0
    report = tmp_path / "results.md"
    assert main(["experiment", "--merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "--report", str(report)]) == 0
    text = report.read_text()
    assert "seeds [0, 1]" in text and "± " in text


def test_attention_to_the_name_is_one_measurement(tmp_path):
    large = load_model(str(tiny_model_dir(tmp_path / "large", "llama", layers=3, seed=1)), device="cpu")
    small = load_model(str(tiny_model_dir(tmp_path / "small", "llama", layers=2, seed=2)), device="cpu")
    people = experiment_people(3, varied=False)
    measured = measure_name_attention(large, small, people, top_k=5)
    assert measured.texts == 3 and set(measured.to_name) == set(FACT_FIELDS)
    for field in FACT_FIELDS:
        assert len(measured.to_name[field]["large"]) == len(measured.to_name[field]["small"]) == 3
        assert 0 <= measured.large_more_share(field) <= 1
    summary = attention_to_name(large, small, people)
    assert summary["texts"] == 3 and summary["top_k"] == 5
    assert summary["to_name"]["company"]["large"] == pytest.approx(measured.mean("company", "large"))


def test_report_text_fills_the_template():
    conditions = ["none", "contrast"]
    row = {f: {"mean": 0.1 + i / 10, "std": None, "n": 1} for i, f in enumerate(FACT_FIELDS)}
    results = {
        "config": {"model": "m", "large": "L", "small": "S", "people": 5, "validation_people": 0,
                   "conditions": conditions, "augment": {"copies": 1, "style": "mask"}, "seeds": [0], "select": False,
                   "epochs": 1, "lr": 1e-3, "batch_size": 4, "shots": 1},
        "fingerprints": {"large": "abc", "small": "def", "model": "0a1"},
        "attention": {"to_name": {f: {"large": 0.2, "small": 0.1} for f in FACT_FIELDS},
                      "name_in_top_k": 0.4, "top_k": 5, "texts": 5},
        "runs": [{"condition": c, "seed": 0, "alpha": 0.7, "beta": 0.05, "run_id": i}
                 for i, c in enumerate(conditions)],
        "summary": {c: {n: row for n in ("em", "f1", "recall")} for c in conditions},
        "seconds": 90.0}
    text = report_text(results, [("Few-shot QA exact match", Path("docs/figures/experiment-em.png"))], Path("docs"))
    assert "{" not in text and "}" not in text
    assert "(1.5 min on this machine)" in text and "weights sha256 abc / def" in text
    assert "Trained model: `m` (weights sha256 0a1)" in text and "full fine-tuning" not in text
    assert "![Few-shot QA exact match](figures/experiment-em.png)" in text
    assert "top-5 in 40% of the biographies" in text and "| LLaMA 3 8B | 0.82 | 0.91 | 0.20 | 0.34 | 0.09 |" in text
    assert "| far mean |" in text and f"{np.mean([0.3, 0.4, 0.5]):.2f} |" in text
    assert "| none | 0.10 ± n/a (n = 1) | 0.20 ± n/a (n = 1) |" in text  # one seed: no spread, not 0
    assert "the paper's claim holds here" in text and "Only 1 seed: no spread can be measured" in text


# -- the report from a hand-built run store (tests/run_store_by_hand.py) ----------------------------

def _results(store, runs, seeds=(0, 1, 2)) -> dict:
    config = ExperimentConfig(model="m", large="L", small="S", people=4, conditions=("none", "contrast"),
                              seeds=tuple(seeds), store_path=str(store.path))
    return {"config": asdict(config), "fingerprints": {"large": "abc", "small": "def"},
            "attention": {"to_name": {f: {"large": 0.2, "small": 0.1} for f in FACT_FIELDS},
                          "name_in_top_k": 0.4, "top_k": 5, "texts": 4},
            "selection": {}, "runs": runs, "summary": summarise(store, runs), "paired": paired_table(store, runs),
            "seconds": 60.0}


@pytest.fixture
def without_kaleido(monkeypatch):
    """As on `pip install -r requirements.txt .`: kaleido cannot be imported, and plotly knows it."""
    monkeypatch.setitem(sys.modules, "kaleido", None)
    monkeypatch.setattr(plotly_kaleido, "_KALEIDO_AVAILABLE", False)


def test_report_is_written_without_kaleido(tmp_path, capsys, without_kaleido):
    store, runs = experiment_store(tmp_path)
    path = tmp_path / "docs" / "results.md"
    assert write_report(_results(store, runs), str(path)) == str(path)
    assert capsys.readouterr().err == NO_KALEIDO + "\n" == \
        "figures not written: install kaleido (pip install kaleido) to export PNGs\n"
    assert not (tmp_path / "docs" / "figures").exists()
    text = path.read_text()
    assert f"({NO_KALEIDO}.)" in text
    # university em of contrast over seeds 0.5, 0.6, 0.2: mean 13/30, sample std √39 / 30 = 0.208
    assert "| contrast | 0.90 ± 0.00 (n = 3) | 0.80 ± 0.00 (n = 3) | 0.43 ± 0.21 (n = 3) |" in text
    # contrast − none per seed +0.2, −0.1, +0.2: mean 0.1, std √0.03, interval 0.1 ± 4.3027 · 0.1
    assert ("| contrast − none | em | 0: +0.200, 1: -0.100, 2: +0.200 | +0.100 ± 0.173 (n = 3) | "
            "[-0.330, +0.530] | 2 of 3 seeds favour contrast |") in text
    assert ("- Contrast − none, far-fact recall, paired by seed: +0.100 ± 0.173 (n = 3), 95% interval "
            "[-0.330, +0.530] (2 of 3 seeds favour contrast) — the 95% interval includes 0") in text
    assert "seeds a > b" not in text and "favour" in text  # one way of counting seeds


def test_report_is_written_when_kaleido_lacks_chrome(tmp_path, capsys, monkeypatch):
    def no_chrome(*args, **kwargs):
        raise RuntimeError(plotly_kaleido.PLOTLY_GET_CHROME_ERROR_MSG)

    monkeypatch.setattr(go.Figure, "write_image", no_chrome)
    store, runs = experiment_store(tmp_path)
    write_report(_results(store, runs), str(tmp_path / "results.md"))
    assert capsys.readouterr().err == NO_CHROME + "\n"
    assert f"({NO_CHROME}.)" in (tmp_path / "results.md").read_text()


def test_report_one_seed_shows_no_spread(tmp_path, without_kaleido):
    store, runs = experiment_store(tmp_path)
    runs = [r for r in runs if r["seed"] == 0]
    write_report(_results(store, runs, seeds=[0]), str(tmp_path / "results.md"))
    text = (tmp_path / "results.md").read_text()
    assert "| contrast | 0.90 ± n/a (n = 1) | 0.80 ± n/a (n = 1) | 0.50 ± n/a (n = 1) |" in text
    assert "| +0.200 ± n/a (n = 1) | n/a | 1 of 1 seed favours contrast |" in text
    assert "one seed: no interval, so no evidence either way" in text and "± 0.00" not in text


def test_merge_report_empty_means_no_report(tmp_path, capsys, monkeypatch, without_kaleido):
    store, runs = experiment_store(tmp_path)
    for folder, seeds in (("s0", [0]), ("s1", [1, 2])):
        part = [r for r in runs if r["seed"] in seeds]
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "results.json").write_text(json.dumps(_results(store, part, seeds)))
    monkeypatch.chdir(tmp_path)
    merge = ["experiment", "--merge", str(tmp_path / "s0"), str(tmp_path / "s1")]
    assert main([*merge, "--report", ""]) == 0
    assert "6 runs merged; no report" in capsys.readouterr().out
    assert not (tmp_path / "docs").exists()
    assert main([*merge, "--report", str(tmp_path / "merged.md")]) == 0
    out, err = capsys.readouterr()
    assert err == NO_KALEIDO + "\n" and f"report: {tmp_path / 'merged.md'} (6 runs)" in out
    text = (tmp_path / "merged.md").read_text()
    assert "seeds [0, 1, 2]" in text and "[-0.330, +0.530] | 2 of 3 seeds favour contrast |" in text


def test_the_readme_tells_only_the_experiments_on_the_bundled_weights(tmp_path):
    """After the pair is rebuilt, an experiment measured on the weights before it is named, not told beside the
    ones rerun on the new weights; where none is rerun yet, all are shown and said to be on other weights."""
    store, runs = experiment_store(tmp_path)
    bundled = {"large": weights_fingerprint(DEMO_LARGE), "small": weights_fingerprint(DEMO_SMALL)}
    rerun = {**_results(store, runs), "fingerprints": bundled}
    earlier = _results(store, runs)  # fingerprints abc / def: another pair's
    text = readme_summary([("docs/results.md", earlier), ("docs/results-new.md", rerun)])
    assert "| condition | `docs/results-new.md` |" in text and "`docs/results.md`:" not in text
    assert "Measured on an earlier bundled pair, not on these weights, so not told here: `docs/results.md` " \
           "(large `abc`)" in text and "**`docs/results-new.md`** is told here" in text
    assert f"sha256 start `{bundled['large']}` (large)" in text
    only_earlier = readme_summary([("docs/results.md", earlier)])
    assert "| condition | `docs/results.md` |" in only_earlier
    assert "None of these ran on the bundled pair's weights: `docs/results.md` (large `abc`)" in only_earlier
    assert "Measured on an earlier" not in readme_summary([("docs/results-new.md", rerun)])


def test_the_readme_table_lists_conditions_in_the_usual_order(tmp_path):
    """An experiment of one condition told first (replace-edges sorts before wider-grid) does not put its
    condition at the top of the README's table: rows follow DEFAULT_CONDITIONS."""
    store, runs = experiment_store(tmp_path)
    full = _results(store, runs)
    one = {**full, "summary": {"contrast": full["summary"]["contrast"]}}
    text = readme_summary([("docs/results-edges.md", one), ("docs/results.md", full)])
    rows = [line.split(" | ")[0] for line in text.splitlines() if line.startswith("| none") or
            line.startswith("| contrast")]
    assert rows[:2] == ["| none", "| contrast"]


def test_a_part_whose_run_store_is_not_there_does_not_merge(tmp_path, capsys):
    """Merged from another folder than the one the part ran in (its store path is relative): one clear line, no
    report of empty tables."""
    store, runs = experiment_store(tmp_path)
    results = _results(store, runs)
    results["config"]["store_path"] = "out/part/runs.sqlite"
    (tmp_path / "part").mkdir()
    (tmp_path / "part" / "results.json").write_text(json.dumps(results))
    assert main(["experiment", "--merge", str(tmp_path / "part"), "--report", str(tmp_path / "merged.md")]) == 2
    err = capsys.readouterr().err
    assert "run store out/part/runs.sqlite is not here" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "merged.md").exists() and not Path("out/part/runs.sqlite").exists()


def test_parts_on_other_weights_do_not_merge(tmp_path, capsys):
    """Two halves of an experiment run on different weights (a pair rebuilt between them) are one clear error."""
    store, runs = experiment_store(tmp_path)
    for folder, seeds, large in (("s0", [0], "abc"), ("s1", [1, 2], "abd")):
        results = _results(store, [r for r in runs if r["seed"] in seeds], seeds)
        results["fingerprints"] = {**results["fingerprints"], "large": large}
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "results.json").write_text(json.dumps(results))
    assert main(["experiment", "--merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "--report", ""]) == 2
    err = capsys.readouterr().err
    assert "ran on different weights" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_report_shows_each_conditions_choice_and_every_point_tried():
    at = {"beta": 0.05, "lr": 2e-3}
    grid = [{**at, "alpha": 0.3, "epoch": 1, "score": 0.03}, {**at, "alpha": 0.3, "epoch": 2, "score": 0.05},
            {**at, "alpha": 0.7, "epoch": 1, "score": 0.08}, {**at, "alpha": 0.7, "epoch": 3, "score": 0.11},
            {**at, "alpha": 0.7, "lr": 5e-4, "epoch": 4, "score": 0.09}]
    selection = {"contrast": {"alpha": 0.7, "beta": 0.05, "lr": 2e-3, "epoch": 3, "score": 0.11, "grid": grid},
                 "none": {"alpha": 0.0, "beta": 0.0, "lr": 5e-4, "epoch": 1, "score": 0.4533,
                          "grid": [{"alpha": 0.0, "beta": 0.0, "lr": 5e-4, "epoch": 1, "score": 0.4533}]}}
    rows = selection_markdown(selection).splitlines()
    assert rows[2] == ("| contrast | 0.7 | 0.05 | 0.002 | 3 | 0.110 | α 0.3, β 0.05, lr 0.002: epoch 2, 0.050; "
                       "α 0.7, β 0.05, lr 0.002: epoch 3, 0.110; α 0.7, β 0.05, lr 0.0005: epoch 4, 0.090 |")
    assert rows[3] == "| none | 0.0 | 0.0 | 0.0005 | 1 | 0.453 | α 0.0, β 0.0, lr 0.0005: epoch 1, 0.453 |"
    assert "no selection" in selection_markdown({})


def test_a_choice_at_the_edge_of_the_grid_is_said():
    config = {"alphas": [0.3, 0.7], "lrs": [2e-3, 5e-4], "epochs": 12}
    selection = {"none": {"alpha": 0.0, "beta": 0.0, "lr": 2e-3, "epoch": 1},  # α plays no part in none
                 "contrast": {"alpha": 0.3, "beta": 0.05, "lr": 5e-4, "epoch": 12},
                 "oracle": {"alpha": 0.3, "beta": 0.05, "lr": 5e-4, "epoch": 6}}
    line, = edge_lines({"config": config, "selection": selection})
    assert line.startswith("- Chosen at an edge of what was tried: none (lr 0.002 the largest); contrast (α 0.3 "
                           "the smallest, lr 0.0005 the smallest, epoch 12 the last); oracle (α 0.3 the smallest, lr "
                           "0.0005 the smallest).")
    inside = {"config": {**config, "lrs": [2e-3]}, "selection": {"oracle": {"alpha": 0.5, "epoch": 6}}}
    assert edge_lines(inside) == []


def test_the_experiments_choice_is_offered_only_for_the_model_it_trained():
    """chosen_per_condition: α, β, lr, the epoch and the schedule it was chosen on, per condition, when the
    experiment trained that model (its config may name it relative to the repository); else nothing."""
    choice = {"alpha": 0.3, "beta": 0.05, "lr": 5e-4, "epoch": 8, "score": 0.3, "grid": []}
    results = {"config": {"model": "assets/demo-models/learner", "epochs": 12}, "selection": {"contrast": choice}}
    assert chosen_per_condition(results, DEMO_LEARNER) == {
        "contrast": {"alpha": 0.3, "beta": 0.05, "lr": 5e-4, "epoch": 8, "epochs": 12}}
    assert chosen_per_condition(results, DEMO_LARGE) == {}
    assert chosen_per_condition({**results, "selection": {}}, DEMO_LEARNER) == {}
    assert chosen_per_condition(None, DEMO_LEARNER) == {}
    # Kept with the weights it trained: a choice made on other weights at the same path (a rebuilt pair) is none.
    assert chosen_per_condition({**results, "fingerprints": {"model": weights_fingerprint(DEMO_LEARNER)}},
                                DEMO_LEARNER) == chosen_per_condition(results, DEMO_LEARNER)
    assert chosen_per_condition({**results, "fingerprints": {"model": "0123456789ab"}}, DEMO_LEARNER) == {}
    large = {"config": {"model": DEMO_LARGE, "epochs": 8}, "selection": {"contrast": {**choice, "lr": 2e-3}}}
    assert chosen_per_condition([large, results], DEMO_LEARNER)["contrast"]["lr"] == 5e-4  # the one that trained it
    assert chosen_per_condition([large, results], DEMO_LARGE)["contrast"] == {**chosen_per_condition(
        results, DEMO_LEARNER)["contrast"], "lr": 2e-3, "epochs": 8}
    # Per condition the choice of the experiment that tried the most settings for it; on a tie the earlier one.
    point = {"alpha": 0.3, "beta": 0.05, "epoch": 1, "score": 0.1}
    narrow = {"config": {"model": DEMO_LARGE, "epochs": 8}, "selection": {
        "contrast": {**choice, "lr": 2e-3, "grid": [{**point, "lr": lr} for lr in (2e-3, 5e-4)]},
        "random": {**choice, "lr": 2e-3, "grid": [{**point, "lr": 2e-3}]}}}
    wider = {"config": {"model": DEMO_LARGE, "epochs": 6}, "selection": {
        "contrast": {**choice, "lr": 1e-3, "epoch": 5, "grid": [{**point, "lr": lr, "epoch": e}
                                                               for lr in (2e-3, 1e-3, 5e-4) for e in (1, 2)]},
        "random": {**choice, "lr": 5e-4, "grid": [{**point, "lr": 5e-4, "epoch": e} for e in (1, 2, 3)]}}}
    both = chosen_per_condition([narrow, wider], DEMO_LARGE)
    assert both["contrast"] == {"alpha": 0.3, "beta": 0.05, "lr": 1e-3, "epoch": 5, "epochs": 6}
    assert both["random"]["lr"] == 2e-3  # one setting each (epochs are not settings): the earlier
    assert chosen_per_condition([wider, narrow], DEMO_LARGE)["random"]["lr"] == 5e-4
    published = reported_experiment()
    assert published is not None, "docs/results*.json report the experiments"
    trained = Path(__file__).resolve().parents[1] / published["config"]["model"]
    assert set(chosen_per_condition(published, str(trained))) == set(published["selection"])


def test_every_report_writes_the_readme_from_all_beside_it(tmp_path, without_kaleido):
    """A report rewrites the README's "What the demo shows" from every experiment in its docs folder: one column
    per report, docs/results.md first."""
    store, runs = experiment_store(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("<!-- demo-shows:start -->\nSTALE SUMMARY\n<!-- demo-shows:end -->\n")
    write_report(_results(store, runs), str(tmp_path / "docs" / "results-large.md"))
    assert (tmp_path / "docs" / "results-large.md").is_file() and (tmp_path / "docs" / "results-large.json").is_file()
    shown = section(readme, "demo-shows")
    assert "STALE SUMMARY" not in shown and "| condition | `docs/results-large.md` |" in shown
    write_report(_results(store, runs), str(tmp_path / "docs" / "results.md"))
    assert "| condition | `docs/results.md` | `docs/results-large.md` |" in section(readme, "demo-shows")


def test_a_choice_at_the_grids_edge_names_the_experiment_that_tried_past_it():
    """beyond_lines: the headline's choice sits at an edge (α the smallest, the last epoch); another experiment on
    the same model tried past it — its choice and test answer are told. One that stayed inside is not named, nor
    one on other weights."""
    em = {"em": {f: {"mean": 0.5} for f in FACT_FIELDS}}

    def experiment(alphas, lrs, epochs, chosen_alpha, chosen_epoch, weights="abc"):
        grid = [{"alpha": a, "beta": 0.05, "lr": lr, "epoch": 1, "score": 0.1} for a in alphas for lr in lrs]
        choice = {"alpha": chosen_alpha, "beta": 0.05, "lr": lrs[0], "epoch": chosen_epoch, "grid": grid}
        return {"config": {"model": "m", "alphas": list(alphas), "lrs": list(lrs), "epochs": epochs, "people": 50,
                           "seeds": [0, 1, 2]},
                "fingerprints": {"model": weights}, "selection": {"replace": choice}, "summary": {"replace": em}}

    head = experiment((0.1, 0.3), (1e-3, 5e-4), 8, 0.1, 8)
    past = experiment((0.03, 0.1), (5e-4,), 12, 0.1, 6)
    inside = experiment((0.1, 0.3), (1e-3,), 8, 0.3, 4)
    lines = beyond_lines(head, [("docs/h.md", head), ("docs/past.md", past), ("docs/inside.md", inside),
                                ("docs/other.md", experiment((0.01,), (5e-4,), 12, 0.01, 3, weights="def"))])
    assert lines == ["- replace, past this grid's edge (α 0.1 the smallest, epoch 8 the last): `docs/past.md` tried "
                     "α {0.03, 0.1} × lr {0.0005} over 12 epochs and chose α 0.1, lr 0.0005, epoch 6 on validation "
                     "people; far-field QA exact match 0.50 (50 test people, 3 seeds)."]


def test_the_headline_experiment_is_the_default_models_most_thorough(tmp_path):
    """headline_index: of the experiments that chose settings for the default trained model (these weights), the
    one that tried the most (α, β, lr) settings, the earlier on a tie; the first when none trained it."""
    point = {"alpha": 0.3, "beta": 0.05, "epoch": 1, "score": 0.1}

    def experiment(model, lrs, conditions=("contrast", "random"), **extra):
        grid = [{**point, "lr": lr} for lr in lrs]
        return {"config": {"model": model, "epochs": 8}, **extra,
                "selection": {c: {**point, "lr": lrs[0], "grid": grid} for c in conditions}}

    learner_wide = experiment(DEMO_LEARNER, (2e-3, 1e-3, 5e-4, 2.5e-4))
    narrow, wider = experiment(DEMO_LARGE, (2e-3, 5e-4)), experiment(DEMO_LARGE, (2e-3, 1e-3, 5e-4))
    assert settings_tried(wider) == 6 and settings_tried(narrow) == 4
    assert headline_index([learner_wide, narrow, wider], DEMO_LARGE) == 2  # the learner's is not the large's
    assert headline_index([learner_wide, wider, experiment(DEMO_LARGE, (1, 2, 3))], DEMO_LARGE) == 1  # tie: earlier
    assert headline_index([learner_wide, narrow], DEMO_LEARNER) == 0
    other_weights = experiment(DEMO_LARGE, (2e-3, 1e-3, 5e-4, 1e-4), fingerprints={"model": "0123456789ab"})
    assert headline_index([narrow, other_weights], DEMO_LARGE) == 0  # a rebuilt pair's experiment is not these
    assert headline_index([learner_wide, narrow], str(tmp_path / "elsewhere")) == 0  # none trained it: the first
    experiments = reported_experiments()
    assert reported_experiment() == experiments[headline_index(experiments)]
