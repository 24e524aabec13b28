"""Every number the README shows about a measurement is the output of the command that measured it:
the clue-quality table (written by `clues demo build` into build.json and the README), what the demo shows
(written by `clues experiment` into docs/results.json and the README), and the training defaults
(chosen on validation people by `python -m clues.builders.injection choose`, docs/defaults.json)."""

import json
from pathlib import Path

import pytest

from clues.builders import injection
from clues.builders.experiment_report import readme_summary, reported_beside
from clues.builders.injection import write_markdown
from clues.builders.readme import section, write_section
from clues.clue_quality import summary_markdown
from clues.corpus import FACT_FIELDS, experiment_people, paper_shot_data
from clues.models import DEMO_PAIR, demo_report
from clues.runs import MEAN_FIELD
from clues.settings import DEFAULT_TRAIN, DEFAULT_TRAINED

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def test_readme_clue_quality_table_is_the_builds():
    report = demo_report()
    assert section(README, "clue-quality") == summary_markdown(report["clue_quality"])


def test_readme_demo_shows_is_the_experiments():
    path = ROOT / "docs" / "results.json"
    if not path.is_file():
        pytest.fail("docs/results.json is missing: run `clues experiment` (it writes docs/results.md and .json)")
    assert section(README, "demo-shows").strip() == readme_summary(reported_beside(ROOT / "docs")).strip()


def test_training_defaults_are_the_validation_choice():
    chosen = json.loads((ROOT / "docs" / "defaults.json").read_text())["chosen"]
    assert (DEFAULT_TRAINED, DEFAULT_TRAIN.trainable, DEFAULT_TRAIN.lr, DEFAULT_TRAIN.epochs) == \
        (chosen["model"], chosen["trainable"], chosen["lr"], chosen["epochs"])


def test_the_defaults_are_chosen_on_validation_people_only():
    """Both sets `choose` may use are 100 people apart from the people the injection report and the experiment
    report (experiment_people(100)) and apart from each other; docs/defaults.json says which set chose."""
    reported = {p.name for p in experiment_people(injection.TEST_PEOPLE)}
    sets = {name: {p.name for p in make()} for name, (make, _) in injection.VALIDATION_SETS.items()}
    assert all(len(names) == 100 and not names & reported for names in sets.values())
    assert not sets["generated"] & sets["world"]
    described = json.loads((ROOT / "docs" / "defaults.json").read_text())["people"]
    assert described == injection.VALIDATION_SETS["generated"][1]


def test_sections_are_replaced_in_place(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("head\n<!-- x:start -->\nold\n<!-- x:end -->\ntail\n")
    assert write_section(path, "x", "new | 1%") and section(path, "x") == "new | 1%\n"
    assert path.read_text() == "head\n<!-- x:start -->\nnew | 1%\n<!-- x:end -->\ntail\n"
    assert not write_section(path, "missing", "text") and section(tmp_path / "none.md", "x") is None


def test_injection_report_is_written_from_its_json(tmp_path):
    """docs/injection.md is what `python -m clues.builders.injection` renders from the JSON its steps and
    scripts/sweep_injection.py wrote: the curves, the scale study, the words' study, the spread over builds and seeds
    and every recipe tried."""
    docs = ROOT / "docs"
    for name in ("injection.json", "injection-scale.json", "injection-vocabulary.json", "injection-spread.json",
                 "injection-sweep.jsonl"):
        (tmp_path / name).write_bytes((docs / name).read_bytes())
    write_markdown(tmp_path)
    assert (tmp_path / "injection.md").read_text() == (docs / "injection.md").read_text()
    recipes = [json.loads(line)["name"] for line in (docs / "injection-sweep.jsonl").read_text().splitlines()]
    assert all(f"| {name} |" in (docs / "injection.md").read_text() for name in recipes)


def test_two_processes_share_out_the_words_study(tmp_path, monkeypatch):
    """`injection vocabulary --corpora …` run twice (two processes, one core each) keeps both halves of a pair's
    row, in the study's order, and renders them; a pair measured again replaces its own sets only."""
    study = json.loads((ROOT / "docs" / "injection-vocabulary.json").read_text())
    template = next(iter(study.values()))
    corpus = next(iter(template["corpora"].values()))

    def fake(folder, pair, label, only):
        return {**template, "pair": label, "corpora": {name: {**corpus, "description": name} for name in only}}

    monkeypatch.setattr(injection, "vocabulary_study", fake)
    for corpora in (["paper"], ["generated", "world"], ["world"]):
        assert injection.main(["vocabulary", "--docs", str(tmp_path), "--label", "new", "--corpora", *corpora]) == 0
    written = json.loads((tmp_path / "injection-vocabulary.json").read_text())
    assert list(written["new"]["corpora"]) == ["generated", "world", "paper"]
    markdown = (tmp_path / "injection.md").read_text()
    assert all(f"| new | {name} |" in markdown for name in ("generated", "world", "paper"))


def test_only_the_bundled_build_is_marked_bundled_in_the_words_study():
    """Another build of the bundled recipe (another seed) is a candidate beside it, not the bundled pair."""
    study = json.loads((ROOT / "docs" / "injection-vocabulary.json").read_text())
    bundled = injection.pair_card(DEMO_PAIR)
    row = next(row for row in study.values() if row["card"]["recipe"] == bundled["recipe"])
    again = {**row, "card": {**row["card"], "seed": bundled["seed"] + 1}}
    markdown = injection.vocabulary_markdown({"as bundled": row, "built again": again})
    assert f"| as bundled (bundled) | {bundled['recipe']} | {bundled['seed']} |" in markdown
    assert f"| built again | {bundled['recipe']} | {bundled['seed'] + 1} |" in markdown


def test_the_spread_study_pairs_each_build_with_the_bundled_by_seed(tmp_path, monkeypatch):
    """`injection spread` for the bundled pair and another build, shared out over processes: each pair's rows over
    the seeds as mean ± sample std (n), and the other minus the bundled, paired by seed, with its t interval; a
    (pair, set, seed) measured again replaces its own row."""
    def fake_run(people, model, settings, folder, label):
        em = 0.5 + 0.1 * settings.seed + (0.05 if "other" in model else 0.0)
        return {"seconds": 1, "curves": {"em": {f: [0.0, em] for f in (*FACT_FIELDS, MEAN_FIELD)},
                                         "recall": {f: [0.0, 0.9] for f in (*FACT_FIELDS, MEAN_FIELD)}}}

    monkeypatch.setattr(injection, "_run", fake_run)
    monkeypatch.setattr(injection, "weights_fingerprint", lambda model: "other" if "other" in model else "bundled")
    monkeypatch.setattr(injection, "DEMO_MODELS", {DEFAULT_TRAINED: "bundled"})
    other = tmp_path / "other"
    other.mkdir()
    steps = [(str(DEMO_PAIR), "world-qa", ["0", "1"]), (str(DEMO_PAIR), "world-qa", ["2", "1"]),
             (str(other), "seed 1", ["0", "1", "2"])]
    for pair, label, seeds in steps:
        assert injection.main(["spread", "--docs", str(tmp_path), "--pair", pair, "--label", label,
                               "--corpora", "world", "--seeds", *seeds]) == 0
    written = json.loads((tmp_path / "injection-spread.json").read_text())
    assert sorted((r["pair"], r["seed"]) for r in written["rows"]) == [
        ("seed 1", 0), ("seed 1", 1), ("seed 1", 2), ("world-qa", 0), ("world-qa", 1), ("world-qa", 2)]
    markdown = (tmp_path / "injection.md").read_text()
    assert "| world | world-qa (bundled) | 0 | 0, 1, 2 | 0.60 ± 0.10 (n = 3) |" in markdown
    assert "| world | seed 1 | ? | 0, 1, 2 | 0.65 ± 0.10 (n = 3) |" in markdown
    assert "| world | seed 1 − bundled | | 0, 1, 2 | +0.05 [+0.05, +0.05] |" in markdown
    assert "over its builds" not in markdown  # the other build has no card: no recipe to group it under


def test_the_spread_study_gives_a_recipe_built_again_its_spread_over_builds():
    """Builds of one recipe: each build's mean over its injection seeds, then mean ± sample std over the builds."""
    def row(build_seed, seed, em):
        card = {"recipe": "world-qa", "seed": build_seed}
        return {"pair": f"build {build_seed}", "card": card, "weights": f"w{build_seed}", "corpus": "world",
                "seed": seed, "em": {f: em for f in (*FACT_FIELDS, MEAN_FIELD)}}

    rows = [row(0, 0, 0.6), row(0, 1, 0.8), row(1, 0, 0.2), row(1, 1, 0.4), row(2, 0, 0.5)]
    markdown = injection.spread_markdown({"settings": {"epochs": 8, "lr": 0.002}, "trained": DEFAULT_TRAINED,
                                          "rows": rows})
    assert "| world | world-qa, over its builds | 0, 1, 2 | | 0.50 ± 0.20 (n = 3) |" in markdown


def test_the_report_is_shared_out_over_processes_and_its_seeds_spread_honestly(tmp_path, monkeypatch):
    """`injection report --corpora … --seeds …` run in two processes keeps both shares; a seed measured again
    replaces its own row; rows of other weights are dropped; the table gives mean ± sample std (ddof 1), n and the
    t interval; in docs/injection.json the curves are the default seed's run, and its last epoch is that seed's row."""
    def fake(weights):
        def report(folder, names, seeds):
            em = {seed: {f: 0.5 + 0.1 * seed for f in (*FACT_FIELDS, MEAN_FIELD)} for seed in seeds}
            curves = {"em": {f: [0.0, 0.5] for f in (*FACT_FIELDS, MEAN_FIELD)}}
            return {"settings": {"epochs": 8, "lr": 0.002}, "trained": "large", "weights": weights,
                    "corpora": {name: {"corpus": name, "epochs": 8, "lr": 0.002, "batch_size": 8, "curves": curves}
                                for name in names if 0 in seeds},
                    "seeds": [{"corpus": name, "description": name, "seed": seed, "em": em[seed]}
                              for name in names for seed in seeds]}
        return report

    monkeypatch.setattr(injection, "report", fake("aaa"))
    for corpora, seeds in ((["paper"], ["0", "1"]), (["generated"], ["0"]), (["paper"], ["1", "2"])):
        assert injection.main(["report", "--docs", str(tmp_path), "--corpora", *corpora, "--seeds", *seeds]) == 0
    written = json.loads((tmp_path / "injection.json").read_text())
    assert list(written["corpora"]) == ["generated", "paper"]
    assert [(r["corpus"], r["seed"]) for r in written["seeds"]] == [("generated", 0), ("paper", 0), ("paper", 1),
                                                                   ("paper", 2)]
    markdown = (tmp_path / "injection.md").read_text()
    assert "| paper | 0, 1, 2 | 0.60 ± 0.10 (n = 3) |" in markdown  # sample std of 0.5, 0.6, 0.7
    assert "| 95% interval | | [+0.35, +0.85] |" in markdown  # t(0.975, 2) = 4.303: 0.6 ± 4.303 · 0.1 / √3
    monkeypatch.setattr(injection, "report", fake("bbb"))  # a new pair: the old draws are not its spread
    assert injection.main(["report", "--docs", str(tmp_path), "--corpora", "paper", "--seeds", "0"]) == 0
    assert [r["seed"] for r in json.loads((tmp_path / "injection.json").read_text())["seeds"]] == [0]

    with pytest.raises(SystemExit):  # the words' study's people are not the report's
        injection.main(["report", "--docs", str(tmp_path), "--corpora", "world"])

    report = json.loads((ROOT / "docs" / "injection.json").read_text())
    assert set(report["corpora"]) == {row["corpus"] for row in report["seeds"]}
    for row in (r for r in report["seeds"] if r["seed"] == report["settings"]["seed"]):
        assert row["em"] == {f: v[-1] for f, v in report["corpora"][row["corpus"]]["curves"]["em"].items()}


def test_the_words_study_and_the_report_name_the_papers_people_alike(tmp_path, monkeypatch):
    """`paper` is asked with the paper's QA shots (its 9 real biographies, the paper's evaluate.yaml) and
    `paper-other-shots` with the other released ones — in the words' study as in the report."""
    if paper_shot_data() is None:
        pytest.skip("the paper's biographies are not beside the checkout (set CLUES_PAPER_DATA)")
    trained = {}

    def fake_run(people, model, settings, folder, label):
        trained[label] = (len(people), settings.eval_shot_data)
        return {"curves": {"em": {f: [0.0, 0.5] for f in FACT_FIELDS}, "recall": {f: [0.0, 0.5] for f in FACT_FIELDS}},
                "seconds": 1}

    monkeypatch.setattr(injection, "_run", fake_run)
    study = injection.vocabulary_study(tmp_path, DEMO_PAIR, "bundled", ("paper", "paper-other-shots"))
    assert trained == {"vocabulary-bundled-paper": (100, str(paper_shot_data())),
                       "vocabulary-bundled-paper-other-shots": (100, None)}
    assert "its 9 real" in study["corpora"]["paper"]["description"]
    reported = injection.report_corpora()
    for name in ("paper", "paper-other-shots"):
        assert reported[name][2] == {"paper": str(paper_shot_data()), "paper-other-shots": None}[name]
    written = json.loads((ROOT / "docs" / "injection-vocabulary.json").read_text())
    for row in written.values():  # what the docs hold uses the same names
        for name, corpus in row["corpora"].items():
            assert name in injection.VOCABULARY_CORPORA
            assert ("its 9 real" in corpus["description"]) == (name == "paper")
