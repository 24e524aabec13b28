"""The numbers the experiment reports: clues.stats (the t quantile against published values, spreads by
hand) and the experiment's finals, summaries, paired differences and α/β choice on a hand-built run store."""

import json
import math
import re
from dataclasses import asdict

import pytest

from clues import experiment as experiment_module
from clues.corpus import generate_biographies
from clues.experiment import (
    FAR_FIELDS,
    _final,
    choose_best,
    epoch_scores,
    favour_text,
    paired_differences,
    paired_table,
    scored_points,
    selection_grid,
    summarise,
)
from clues.runs import RunStore
from clues.stats import Spread, describe, interval_text, regularized_beta, spread_text, t_cdf, t_quantile

from run_store_by_hand import T_975_2, experiment_store, log_run


@pytest.mark.parametrize("p, df, expected", [
    (0.975, 1, 12.706204736),
    (0.975, 2, 4.302652729),
    (0.975, 4, 2.776445105),
    (0.975, 9, 2.262157163),
    (0.975, 30, 2.042272456),
    (0.995, 5, 4.032142984),
    (0.95, 10, 1.812461123),
    (0.6, 3, 0.276670662),
])
def test_t_quantile_matches_the_tables(p, df, expected):
    assert t_quantile(p, df) == pytest.approx(expected, abs=2e-9)
    assert t_quantile(1 - p, df) == pytest.approx(-expected, abs=2e-9)  # symmetric
    assert t_cdf(t_quantile(p, df), df) == pytest.approx(p, abs=1e-12)


def test_t_quantile_tends_to_the_normal_and_has_a_centre():
    assert t_quantile(0.975, 1e6) == pytest.approx(1.959964, abs=1e-5)
    assert t_quantile(0.5, 3) == 0.0
    # df = 1 is the Cauchy distribution: its quantile is tan(π (p − 1/2))
    assert t_quantile(0.9, 1) == pytest.approx(math.tan(math.pi * 0.4), rel=1e-9)
    with pytest.raises(ValueError):
        t_quantile(1.0, 3)
    with pytest.raises(ValueError):
        t_quantile(0.9, 0)


def test_regularized_beta_known_values():
    assert regularized_beta(0.3, 1, 1) == pytest.approx(0.3)  # uniform
    assert regularized_beta(0.3, 2, 1) == pytest.approx(0.09)  # x²
    assert regularized_beta(0.3, 1, 3) == pytest.approx(1 - 0.7 ** 3)
    assert regularized_beta(0.5, 4.5, 4.5) == pytest.approx(0.5)  # symmetric
    assert regularized_beta(0.0, 2, 3) == 0.0 and regularized_beta(1.0, 2, 3) == 1.0


def test_describe_three_values_by_hand():
    # 1, 2, 4: mean 7/3; squared deviations 16/9 + 1/9 + 25/9 = 42/9, over n − 1 = 2: 7/3
    spread = describe([1, 2, 4])
    assert spread.n == 3 and spread.mean == pytest.approx(7 / 3)
    assert spread.std == pytest.approx(math.sqrt(7 / 3))  # ddof 1 (ddof 0 would be √(14/9))
    half = 4.302652729 * math.sqrt(7 / 3) / math.sqrt(3)  # t(0.975, 2) · s / √n
    assert (spread.low, spread.high) == (pytest.approx(7 / 3 - half), pytest.approx(7 / 3 + half))
    assert spread.confidence == 0.95
    # a 90% interval uses t(0.95, 2) = 2.919985580
    narrow = describe([1, 2, 4], confidence=0.9)
    assert narrow.high - narrow.mean == pytest.approx(2.919985580 * math.sqrt(7 / 3) / math.sqrt(3))


def test_describe_one_value_has_no_spread():
    spread = describe([0.4])
    assert spread == Spread(mean=0.4, std=None, n=1, low=None, high=None)
    assert spread_text(spread) == "0.40 ± n/a (n = 1)" and interval_text(spread) == "n/a"
    with pytest.raises(ValueError):
        describe([])


def test_identical_values_have_zero_spread():
    spread = describe([0.5, 0.5])
    assert spread.std == 0.0 and spread.low == spread.high == pytest.approx(0.5)


def test_spread_and_interval_text():
    spread = describe([0.1, 0.2, 0.6])  # mean 0.3, std √((0.04 + 0.01 + 0.09) / 2) = √0.07
    assert spread_text(spread) == f"0.30 ± {math.sqrt(0.07):.2f} (n = 3)" == "0.30 ± 0.26 (n = 3)"
    assert spread_text(spread.as_dict(), 3, signed=True) == "+0.300 ± 0.265 (n = 3)"
    half = 4.302652729 * math.sqrt(0.07 / 3)
    assert interval_text(spread) == f"[{0.3 - half:+.3f}, {0.3 + half:+.3f}]" == "[-0.357, +0.957]"


# -- the experiment's numbers on a hand-built run store (tests/run_store_by_hand.py) ------------

@pytest.fixture
def experiment(tmp_path):
    return experiment_store(tmp_path)


def test_final_is_each_field_at_the_last_evaluated_epoch(experiment):
    store, runs = experiment
    metrics = store.metrics(runs[1]["run_id"])  # contrast, seed 0
    assert _final(metrics, "em") == pytest.approx(
        {"date": 0.9, "city": 0.8, "university": 0.5, "major": 0.4, "company": 0.3})  # no "mean" field
    assert _final(metrics, "f1", FAR_FIELDS) == pytest.approx({"university": 0.75, "major": 0.7, "company": 0.65})
    assert _final(metrics, "loss") == {} and _final(metrics.iloc[:0], "em") == {}
    stopped = log_run(store, "stopped", (0.5, 0.5, 0.5), last_epoch=1)  # its last evaluation is epoch 1
    assert _final(store.metrics(stopped), "em", FAR_FIELDS) == pytest.approx(
        {"university": 0.5, "major": 0.5, "company": 0.5})


def test_epoch_scores_are_the_far_field_exact_match_of_each_epoch(experiment):
    store, _ = experiment
    run_id = log_run(store, "scored", (0.5, 0.4, 0.3), far_recall=(0.8, 0.7, 0.6))  # recall plays no part
    assert epoch_scores(store.metrics(run_id)) == pytest.approx({1: 0.0, 2: 0.4})  # epoch 0 is before training
    assert scored_points(0.7, 0.05, 1e-3, store.metrics(run_id)) == [
        {"alpha": 0.7, "beta": 0.05, "lr": 1e-3, "epoch": 1, "score": 0.0},
        {"alpha": 0.7, "beta": 0.05, "lr": 1e-3, "epoch": 2, "score": pytest.approx(0.4)}]
    assert epoch_scores(store.metrics(10_000)) == {}  # a run that logged nothing


def test_summarise_uses_the_sample_std_and_states_n(experiment):
    store, runs = experiment
    summary = summarise(store, runs)
    assert list(summary) == ["none", "contrast"]
    university = summary["contrast"]["em"]["university"]  # 0.5, 0.6, 0.2
    # mean 13/30; deviations 2/30, 5/30, −7/30 → squares 78/900, / 2 → std √39 / 30 (ddof 0: √26 / 30)
    assert university["mean"] == pytest.approx(13 / 30) and university["n"] == 3
    assert university["std"] == pytest.approx(math.sqrt(39) / 30)
    half = T_975_2 * math.sqrt(39) / 30 / math.sqrt(3)
    assert (university["low"], university["high"]) == (pytest.approx(13 / 30 - half), pytest.approx(13 / 30 + half))
    assert summary["none"]["f1"]["company"]["mean"] == pytest.approx((0.6 + 0.85 + 0.55) / 3)
    assert summary["none"]["em"]["date"] == pytest.approx(
        {"mean": 0.9, "std": 0.0, "n": 3, "low": 0.9, "high": 0.9, "confidence": 0.95})
    assert set(summary["none"]["recall"]) == {"date", "city", "university", "major", "company"}


def test_summarise_one_seed_has_no_spread_and_n_counts_the_seeds_with_the_field(experiment):
    store, runs = experiment
    one = summarise(store, [r for r in runs if r["seed"] == 0])
    assert one["contrast"]["em"]["major"] == {"mean": pytest.approx(0.4), "std": None, "n": 1, "low": None,
                                              "high": None, "confidence": 0.95}
    partial = log_run(store, "no-company", (0.9, 0.9), fields=["date", "city", "university", "major"])
    runs = [*runs, {"condition": "position", "seed": 0, "run_id": partial},
            {"condition": "position", "seed": 1, "run_id": log_run(store, "all", (0.1, 0.3, 0.5))}]
    position = summarise(store, runs)["position"]["em"]
    assert position["company"]["n"] == 1 and position["company"]["std"] is None
    assert position["major"]["n"] == 2 and position["major"]["mean"] == pytest.approx(0.6)
    assert position["major"]["std"] == pytest.approx(math.sqrt(0.18))  # (0.9 − 0.3)² / 2


def test_paired_differences_by_hand(experiment):
    store, runs = experiment
    em = paired_differences(store, runs, "contrast", "none", "em")
    assert em["per_seed"] == {0: pytest.approx(0.2), 1: pytest.approx(-0.1), 2: pytest.approx(0.2)}
    assert em["mean"] == pytest.approx(0.1) and em["n"] == 3 and em["wins"] == 2
    assert em["std"] == pytest.approx(math.sqrt(0.03))  # ddof 1: √0.02 with ddof 0
    assert (em["low"], em["high"]) == (pytest.approx(0.1 - T_975_2 * 0.1), pytest.approx(0.1 + T_975_2 * 0.1))
    assert favour_text({"a": "contrast", **em}) == "2 of 3 seeds favour contrast"
    f1 = paired_differences(store, runs, "contrast", "none", "f1")  # f1 = (1 + em) / 2 halves every difference
    assert f1["mean"] == pytest.approx(0.05) and f1["std"] == pytest.approx(math.sqrt(0.03) / 2)
    back = paired_differences(store, runs, "none", "contrast", "em")
    assert back["mean"] == pytest.approx(-0.1) and back["wins"] == 1
    assert favour_text({"a": "none", **back}) == "1 of 3 seeds favour none"
    assert paired_differences(store, runs, "contrast", "random", "em") == {}


def test_paired_differences_pair_fields_and_seeds(experiment):
    store, runs = experiment
    # seed 3: contrast lacks company; the pair is taken over the fields both have:
    # ((0.5 − 0.2) + (0.4 − 0.2)) / 2 = 0.25 (not mean(0.5, 0.4) − mean(0.2, 0.2, 0.9) = 0.0167)
    lacking = log_run(store, "lacking", (0.5, 0.4), fields=["date", "city", "university", "major"])
    runs = [*runs, {"condition": "contrast", "seed": 3, "run_id": lacking},
            {"condition": "none", "seed": 3, "run_id": log_run(store, "full", (0.2, 0.2, 0.9))},
            {"condition": "none", "seed": 4, "run_id": log_run(store, "unpaired", (0.9, 0.9, 0.9))}]
    em = paired_differences(store, runs, "contrast", "none", "em")
    assert list(em["per_seed"]) == [0, 1, 2, 3]  # seed 4 has no contrast run
    assert em["per_seed"][3] == pytest.approx(0.25) and em["n"] == 4
    one = paired_differences(store, [r for r in runs if r["seed"] == 3], "contrast", "none", "em")
    assert one["n"] == 1 and one["std"] is None and one["low"] is None and one["high"] is None
    assert favour_text({"a": "contrast", **one}) == "1 of 1 seed favours contrast"


def test_paired_table_runs_every_comparison_that_ran(experiment):
    store, runs = experiment
    rows = paired_table(store, runs)
    assert [(r["a"], r["b"], r["metric"]) for r in rows] == [
        ("contrast", "none", "em"), ("contrast", "none", "f1"), ("contrast", "none", "recall")]
    assert rows[2]["mean"] == pytest.approx(0.1)  # recall = em here
    assert {k: v for k, v in rows[0].items() if k not in ("a", "b", "metric")} == \
        paired_differences(store, runs, "contrast", "none", "em")
    assert paired_table(store, [r for r in runs if r["condition"] == "none"]) == []


def test_choosing_alpha_beta_and_the_epoch_from_scores():
    assert selection_grid("contrast", (0.6, 0.7), (0.01, 0.05)) == [(0.6, 0.01), (0.6, 0.05), (0.7, 0.01),
                                                                    (0.7, 0.05)]
    assert selection_grid("random", (0.6, 0.7), (0.01, 0.05)) == [(0.6, 0.0), (0.7, 0.0)]
    assert selection_grid("none", (0.6, 0.7), (0.01, 0.05)) == selection_grid("plain", (0.6,), (0.05,)) == [(0.0, 0.0)]
    point = {"alpha": 0.6, "beta": 0.01, "lr": 2e-3}
    grid = [{**point, "epoch": 1, "score": 0.3}, {**point, "epoch": 2, "score": 0.2},
            {**point, "beta": 0.05, "epoch": 1, "score": 0.1}, {**point, "beta": 0.05, "epoch": 2, "score": 0.5},
            {**point, "alpha": 0.7, "epoch": 2, "score": 0.4}, {**point, "lr": 5e-4, "epoch": 2, "score": 0.45}]
    assert choose_best(grid) == {"alpha": 0.6, "beta": 0.05, "lr": 2e-3, "epoch": 2, "score": 0.5, "grid": grid}
    tie = [{**point, "beta": 0.05, "epoch": 3, "score": 0.5}, {**point, "beta": 0.05, "epoch": 2, "score": 0.5},
           {**point, "alpha": 0.7, "epoch": 2, "score": 0.5},
           {**point, "alpha": 0.7, "beta": 0.005, "epoch": 2, "score": 0.5},
           {**point, "alpha": 0.7, "lr": 5e-4, "epoch": 2, "score": 0.5}]
    best = choose_best(tie)
    # the earlier epoch, then the larger α, β and learning rate
    assert (best["epoch"], best["alpha"], best["beta"], best["lr"]) == (2, 0.7, 0.01, 2e-3)
    config = experiment_module.ExperimentConfig(alphas=(0.6, 0.7), betas=(0.05,), lrs=(2e-3, 5e-4))
    assert experiment_module.selection_points("random", config) == [(0.6, 0.0, 2e-3), (0.7, 0.0, 2e-3),
                                                                     (0.6, 0.0, 5e-4), (0.7, 0.0, 5e-4)]
    assert experiment_module.selection_label("contrast:paper_mean", 0.7, 0.05, 5e-4) == \
        "select-contrast-paper_mean-a0.7-b0.05-lr0.0005"
    with pytest.raises(ValueError):
        choose_best([])


def test_select_trains_the_grid_and_keeps_the_best_score(tmp_path, monkeypatch):
    """`_select` without training: each "trained" run logs metrics whose score is known by hand."""
    scores = {("contrast", 0.6, 0.01): 0.3, ("contrast", 0.6, 0.05): 0.5, ("contrast", 0.7, 0.01): 0.4,
              ("contrast", 0.7, 0.05): 0.2, ("random", 0.6, 0.0): 0.1, ("random", 0.7, 0.0): 0.05,
              ("none", 0.0, 0.0): 0.25}  # at lr 2e-3; at 1e-3 a tenth of it, except random 0.6 (0.3)
    store = RunStore(tmp_path / "runs.sqlite")
    trained = []

    def fake_train(*args, **kwargs):  # finds the run's label ("select-<mode>-a<α>-b<β>-lr<lr>") in its arguments
        label = next(a for arg in args for a in (arg if isinstance(arg, tuple) else (arg,))
                     if isinstance(a, str) and a.startswith("select-"))
        mode, alpha, beta, lr = re.fullmatch(r"select-(\w+)-a([\d.]+)-b([\d.]+)-lr([\d.e-]+)", label).groups()
        assert args[-1] == {"lr": float(lr)}  # the run trains at the learning rate its label says
        trained.append(label)
        score = scores[(mode, float(alpha), float(beta))]  # far EM at the last epoch (2); 0 at epoch 1
        if float(lr) == 1e-3:
            score = 0.3 if (mode, float(alpha)) == ("random", 0.6) else score / 10
        return log_run(store, label, (score,) * 3)

    monkeypatch.setattr(experiment_module, "_rank", lambda people, conditions, *a, **k: dict.fromkeys(conditions))
    monkeypatch.setattr(experiment_module, "_train_condition", fake_train)
    config = experiment_module.ExperimentConfig(conditions=("none", "random", "contrast"), store_path=str(store.path),
                                                alphas=(0.6, 0.7), betas=(0.01, 0.05), lrs=(2e-3, 1e-3))
    chosen = experiment_module._select(config, None, None, generate_biographies(2, seed=1), tmp_path, False)
    assert len(trained) == 14 and trained.count("select-none-a0.0-b0.0-lr0.001") == 1  # plain: lr and epoch only
    assert {m: (c["alpha"], c["beta"], c["lr"], c["epoch"], c["score"]) for m, c in chosen.items()} == {
        "none": (0.0, 0.0, 2e-3, 2, pytest.approx(0.25)), "random": (0.6, 0.0, 1e-3, 2, pytest.approx(0.3)),
        "contrast": (0.6, 0.05, 2e-3, 2, pytest.approx(0.5))}
    assert [g["score"] for g in chosen["contrast"]["grid"]] == pytest.approx(
        [0, 0.3, 0, 0.5, 0, 0.4, 0, 0.2, 0, 0.03, 0, 0.05, 0, 0.04, 0, 0.02])
    # another process of the same experiment reads the same choice from the store instead of training again
    assert experiment_module.selection_from_store(store, config) == chosen


def test_merge_copies_runs_of_other_stores_into_one(tmp_path):
    """Seeds run apart in stores of their own merge into one store with the same numbers."""
    whole, runs = experiment_store(tmp_path)
    folders = []
    for seed in (0, 1, 2):
        folder = tmp_path / f"seed{seed}"
        store = RunStore(folder / "runs.sqlite")
        part = [dict(run, run_id=experiment_module.copy_run(whole, run["run_id"], store))
                for run in runs if run["seed"] == seed]
        config = asdict(experiment_module.ExperimentConfig(store_path=str(store.path), seeds=(seed,)))
        (folder / "results.json").write_text(json.dumps({"config": config, "runs": part, "seconds": 1.0}))
        folders.append(folder)
    merged = experiment_module.merge_results(folders)
    assert merged["config"]["seeds"] == [0, 1, 2] and len(merged["runs"]) == 6
    assert merged["summary"] == experiment_module.summarise(whole, runs)
    assert merged["paired"] == experiment_module.paired_table(whole, runs)


def test_merge_joins_conditions_run_apart_with_their_selections(tmp_path):
    """Two processes, each with half the conditions and the epochs it chose for them, make one experiment
    whose conditions come in the usual order."""
    whole, runs = experiment_store(tmp_path)
    folders = []
    for condition in ("contrast", "none"):  # the half with contrast finished first
        folder = tmp_path / condition
        store = RunStore(folder / "runs.sqlite")
        part = [dict(run, run_id=experiment_module.copy_run(whole, run["run_id"], store))
                for run in runs if run["condition"] == condition]
        config = asdict(experiment_module.ExperimentConfig(store_path=str(store.path), conditions=(condition,),
                                                           seeds=(0, 1, 2), select=True))
        selection = {condition: {"alpha": 0.7, "beta": 0.05, "epoch": 2, "score": 0.4, "grid": []}}
        (folder / "results.json").write_text(json.dumps({"config": config, "runs": part, "seconds": 1.0,
                                                         "selection": selection}))
        folders.append(folder)
    merged = experiment_module.merge_results(folders)
    assert merged["config"]["conditions"] == ["none", "contrast"] and list(merged["summary"]) == ["none", "contrast"]
    assert sorted(merged["selection"]) == ["contrast", "none"]
    assert merged["summary"] == experiment_module.summarise(whole, runs)
    assert merged["paired"] == experiment_module.paired_table(whole, runs)
