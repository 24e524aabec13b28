"""Knowledge injection in the paper's regime, measured: plain continual pretraining of a model of the
bundled pair on ONE fixed-order biography per new person (the paper's template), then few-shot QA.

`choose` trains on VALIDATION people only (`experiment_people(250)[150:250]`: 100 people, as many as the
test people, never reported) with every (model, trainable weights, learning rate) of a small grid for
`MAX_EPOCHS` epochs, QA after each epoch, and picks the defaults of `clues train`, `clues experiment` and
the Training page: among the models of the pair (`ELIGIBLE`), the highest mean QA exact match over the five
fields, at the fewest epochs within `TOLERANCE` of that run's best. (How well a
model extracts falls with the number of people learned at once — see `scale` — so the validation split
has as many people as the test.)
It writes docs/defaults.json; `clues.settings.DEFAULT_TRAIN` must say the same (a test checks it).

`report` trains with those defaults on the TEST people (`experiment_people(100)`) and on the paper's
released biographies (`clues.corpus.paper_biographies`, when found) — asked as the paper asks them, with QA shots
from its 9 real biographies (its evaluate.yaml), and with shots from the other released ones — with each of
`REPORT_SEEDS` (data order, shots, optimiser draws), and writes the injection curve per field (the default seed's),
the last epoch over the seeds (mean ± sample std, t interval) in docs/injection.json and its tables in
docs/injection.md. Processes may share corpora and seeds out (`--corpora`, `--seeds`): each adds its own.

`scale` asks what bounds extraction: with the defaults, the default trained model (the large) and the learner
on the first 25, 50 and 100 of the same validation people,
two data orders for the default trained model, last-epoch QA EM and the recall probe per field
(docs/injection-scale.json; its table goes into docs/injection.md under the injection curves).

    python -m clues.builders.injection choose     # on validation people: writes docs/defaults.json
    python -m clues.builders.injection choose --validation world --docs docs/choose-world   # the choice, checked
    python -m clues.builders.injection report [--corpora paper] [--seeds 1 2]   # docs/injection.json and .md
    python -m clues.builders.injection scale      # QA against the number of new people: injection-scale.json
    python -m clues.builders.injection markdown   # docs/injection.md again (e.g. after scripts/sweep_injection.py)
    python -m clues.builders.injection vocabulary --pair FOLDER --label NAME   # docs/injection-vocabulary.json

`vocabulary` asks whether the words bound injection: the default trained model of a pair (the bundled one, or one
built with `clues demo build --recipe world`) with the defaults on these sets of new people — the test people (the
demo's own word lists), 100 new people of the wider world vocabulary (validation: what a recipe is judged on), the
same people with their cities written in other common forms (validation for values spelled as the bundled pair never
read them) and the paper's released biographies (reported, never chosen on; as `paper` with the paper's QA shots
from its 9 real biographies, as `paper-other-shots` with shots from the other released ones: the report's names) —
with how many tokens the pair's tokenizer spends per word of each field's values (a word it never read splits into
pieces).

`spread` asks how much of a difference between pairs is the pair's build and how much the injection's own draw: the
default trained model of a pair with the defaults on the validation sets of new people (`SPREAD_CORPORA`), with each
of `REPORT_SEEDS`, per field the last epoch's QA EM (docs/injection-spread.json). Its table gives each pair's mean ±
sample std over the injection seeds, and each pair's difference from the bundled pair, paired by seed (the same data
order and shots), with its t interval: a difference between two builds of ONE recipe is what building again costs.
Beneath it, the builds ranked by the rule that chooses which one to bundle (`build_choice`: the card's targets, then the
weaker near fact on the world validation people), the choice named.

    python -m clues.builders.injection spread --pair FOLDER --label NAME [--seeds 0 1 2]

Every run goes through `clues.train.train` (the one training entry point) in a run store of its own.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

from transformers import AutoTokenizer

from clues.builders.demo_pair import world_newcomers, world_newcomers_respelled
from clues.builders.experiment_report import shown_model
from clues.corpus import FACT_FIELDS, experiment_people, paper_biographies, paper_shot_data, write_tagged_csv
from clues.experiment import weights_fingerprint
from clues.models import DEMO_MODELS, DEMO_PAIR
from clues.runs import MEAN_FIELD, RunStore
from clues.settings import DEFAULT_TRAIN, DEFAULT_TRAINED, TRAINABLE, TrainConfig
from clues.stats import describe, interval_text, spread_text
from clues.train import train

MAX_EPOCHS = 15
TOLERANCE = 0.01  # mean EM within this of a run's best counts as reached
# (model, trainable weights) → learning rates. Training only the MLPs takes larger steps: fewer weights move.
# Every weight of the large is tried too: new people's names might need attention, not only MLPs, to bind facts.
GRID = {("learner", "all"): (1e-3,), ("learner", "mlp"): (2e-3, 3e-3, 4e-3),
        ("small", "all"): (1e-3,), ("small", "mlp"): (3e-3,),
        ("large", "mlp"): (1e-3, 2e-3, 3e-3), ("large", "all"): (5e-4, 1e-3)}
# Every model of the pair may be chosen. The large costs ~4× the learner per step on a CPU; the Training page's
# default comparison keeps within 10 minutes by its own number of people (clues.settings.PAGE_PEOPLE).
ELIGIBLE = ("learner", "small", "large")
VALIDATION = slice(150, 250)  # of experiment_people(250): 100 validation people (the experiment validates on [100:200])
TEST_PEOPLE = 100
SCALE_PEOPLE = VALIDATION
SCALE_COUNTS = (25, 50, 100)
SCALE_SEEDS = {"large": (0, 1), "learner": (0,)}  # two data orders for the default model, one for the cheap one
REPORT_SEEDS = (0, 1, 2)  # the report's own seed (DEFAULT_TRAIN.seed) and two more
DOCS = Path("docs")


def curves(store: RunStore, run_id: int) -> dict:
    """{metric: {field: [value at epoch 0, 1, …]}} of a run (em, f1, recall; fields and their mean)."""
    frame = store.metrics(run_id)
    frame = frame[frame["name"].isin(["em", "f1", "recall"])].sort_values("epoch")
    return {name: {field: [round(float(v), 4) for v in rows["value"]] for field, rows in by_name.groupby("field")}
            for name, by_name in frame.groupby("name")}


def _run(people, model: str, settings: TrainConfig, folder: Path, label: str) -> dict:
    """Train `model` on the people's biographies (evaluated on the same people each epoch); its curves."""
    data = folder / f"{label}.csv"
    write_tagged_csv(data, people)
    store = RunStore(str(folder / "runs.sqlite"))
    config = replace(settings, model=model, data=str(data), eval_data=str(data), name=label,
                     eval_max_people=None, store_path=str(store.path))
    started = time.perf_counter()
    run_id = train(config, store)
    return {"label": label, "model": shown_model(model), "trainable": config.trainable, "lr": config.lr,
            "epochs": config.epochs,
            "batch_size": config.batch_size, "people": len(people), "seconds": round(time.perf_counter() - started),
            "curves": curves(store, run_id)}


def last_epoch(run: dict, metrics: tuple[str, ...] = ("em", "recall")) -> dict:
    """{metric: {field: value after the last epoch}} of a run's curves, for `metrics`."""
    return {metric: {f: values[-1] for f, values in by_field.items()}
            for metric, by_field in run["curves"].items() if metric in metrics}


def best_point(mean_em: list[float]) -> tuple[int, float]:
    """(epochs, mean EM): the fewest epochs (≥ 1) whose mean EM is within TOLERANCE of the run's best."""
    best = max(mean_em[1:])
    epochs = next(e for e in range(1, len(mean_em)) if mean_em[e] >= best - TOLERANCE)
    return epochs, mean_em[epochs]


# The validation people `choose` may use: the demo's word lists (what the defaults are chosen on), or new people of
# the wider world vocabulary (what a pair's recipe is judged on; closer to text with words the demo lists lack).
VALIDATION_SETS = {
    "generated": (lambda: experiment_people(VALIDATION.stop, varied=False)[VALIDATION],
                  f"experiment_people({VALIDATION.stop})[{VALIDATION.start}:{VALIDATION.stop}] (validation)"),
    "world": (lambda: world_newcomers(TEST_PEOPLE), f"world_newcomers({TEST_PEOPLE}) (validation)")}


def choose(folder: Path, pair: Path = DEMO_PAIR, validation: str = "generated") -> dict:
    make_people, described = VALIDATION_SETS[validation]
    people = make_people()
    runs = []
    for (size, trainable), rates in GRID.items():
        for lr in rates:
            settings = replace(DEFAULT_TRAIN, lr=lr, epochs=MAX_EPOCHS, trainable=trainable)
            run = _run(people, str(pair / size), settings, folder, f"validation-{size}-{trainable}-lr{lr:g}")
            run["size"], run["trainable"] = size, trainable
            run["chosen_epochs"], run["chosen_mean_em"] = best_point(run["curves"]["em"][MEAN_FIELD])
            print(f"{run['label']}: mean EM {run['chosen_mean_em']:.3f} at epoch {run['chosen_epochs']} "
                  f"({run['seconds']} s)", flush=True)
            runs.append(run)
    best = max((r for r in runs if r["size"] in ELIGIBLE), key=lambda r: (r["chosen_mean_em"], -r["chosen_epochs"]))
    return {"people": described, "pair": str(pair.name), "max_epochs": MAX_EPOCHS, "tolerance": TOLERANCE,
            "batch_size": DEFAULT_TRAIN.batch_size, "shots": DEFAULT_TRAIN.eval_shots, "eligible": list(ELIGIBLE),
            "chosen": {"model": best["size"], "trainable": best["trainable"], "lr": best["lr"],
                       "epochs": best["chosen_epochs"]}, "runs": runs}


REPORT_CORPORA = ("generated", "paper", "paper-other-shots")


def paper_corpora(described: bool = True) -> dict[str, tuple[list, str, str | None]]:
    """The paper's released biographies as the report and the words' study both ask them, when found: `paper` with
    the paper's QA shots (its 9 real biographies, its protocol) and `paper-other-shots` with shots from the other
    released ones. One table, so that a name means one thing in every step."""
    paper, shots = paper_biographies(), paper_shot_data()
    count = f" {len(paper)}" if described and paper else ""
    corpora = {}
    if paper and shots:
        corpora["paper"] = (paper, f"the paper's{count} released biographies, QA shots from its 9 real biographies "
                                   "(the paper's protocol)", str(shots))
    if paper:
        corpora["paper-other-shots"] = (paper, f"the paper's{count} released biographies, QA shots from the other "
                                               "released ones", None)
    return corpora


def report_corpora() -> dict[str, tuple[list, str, str | None]]:
    """{name: (people, description, the CSV the QA shots come from or None: the other people asked)}: the test
    people and the paper's corpora."""
    return {"generated": (experiment_people(TEST_PEOPLE, varied=False),
                          f"{TEST_PEOPLE} new generated people (test), one fixed-order biography each", None),
            **paper_corpora()}


def report(folder: Path, names: tuple[str, ...] = REPORT_CORPORA, seeds: tuple[int, ...] = REPORT_SEEDS) -> dict:
    """The defaults' training on each corpus of `names` with each of `seeds`: the curves of the default seed, and
    per seed the last epoch's QA EM, F1 and recall per field."""
    model = DEMO_MODELS[DEFAULT_TRAINED]
    out = {"settings": asdict(DEFAULT_TRAIN), "trained": DEFAULT_TRAINED, "weights": weights_fingerprint(model),
           "corpora": {}, "seeds": []}
    for name, (people, description, shot_data) in report_corpora().items():
        if name not in names:
            continue
        for seed in seeds:
            settings = replace(DEFAULT_TRAIN, seed=seed, eval_shot_data=shot_data)
            run = _run(people, model, settings, folder, f"injection-{name}-seed{seed}")
            run["corpus"] = description
            if seed == DEFAULT_TRAIN.seed:
                out["corpora"][name] = run
            last = last_epoch(run, ("em", "f1", "recall"))
            out["seeds"].append({"corpus": name, "description": description, "seed": seed,
                                 "seconds": run["seconds"], **last})
            print(f"{name} seed {seed}: " + ", ".join(f"{f} {last['em'][f]:.2f}" for f in FACT_FIELDS)
                  + f" ({run['seconds']} s)", flush=True)
    return out


def merge_report(earlier: dict, result: dict) -> dict:
    """`result` (some corpora, some seeds: one process's share) over what is already written: a corpus's curves
    and a (corpus, seed) row replace their own; on other weights or settings nothing earlier is kept (another
    model's draw is not this one's spread)."""
    same = all(earlier.get(key) == result[key] for key in ("weights", "settings"))
    corpora = {**(earlier.get("corpora", {}) if same else {}), **result["corpora"]}
    fresh = {(row["corpus"], row["seed"]) for row in result["seeds"]}
    kept = [row for row in (earlier.get("seeds", []) if same else []) if (row["corpus"], row["seed"]) not in fresh]

    def order(name: str) -> int:
        return REPORT_CORPORA.index(name) if name in REPORT_CORPORA else len(REPORT_CORPORA)

    return {**result, "corpora": {name: corpora[name] for name in sorted(corpora, key=order)},
            "seeds": sorted(kept + result["seeds"], key=lambda row: (order(row["corpus"]), row["seed"]))}


def seeds_markdown(injection: dict) -> str:
    """Per corpus: last-epoch QA EM per field over the seeds, mean ± sample std, the t interval, and each seed."""
    fields = (*FACT_FIELDS, MEAN_FIELD)
    lines = ["**Over seeds** (data order, QA shots and the optimiser's draws; the same training): QA EM at the last "
             "epoch, mean ± sample std over the seeds (n = seeds) and the 95% t interval of the mean:", "",
             "| people | seeds | " + " | ".join(fields) + " |", "|---" * (len(fields) + 2) + "|"]
    for corpus in dict.fromkeys(row["corpus"] for row in injection["seeds"]):
        rows = [row for row in injection["seeds"] if row["corpus"] == corpus]
        spreads = {f: describe(row["em"][f] for row in rows) for f in fields}
        lines.append(f"| {rows[0]['description']} | {', '.join(str(r['seed']) for r in rows)} | "
                     + " | ".join(spread_text(spread) for spread in spreads.values()) + " |")
        lines.append("| 95% interval | | " + " | ".join(interval_text(s, 2) for s in spreads.values()) + " |")
        lines += [f"| seed {row['seed']} | | " + " | ".join(f"{row['em'][f]:.2f}" for f in fields) + " |"
                  for row in rows]
    return "\n".join(lines) + "\n"


def scale(folder: Path) -> dict:
    """Last-epoch QA EM and recall per field against the number of new people learned at once."""
    pool = experiment_people(SCALE_PEOPLE.stop, varied=False)[SCALE_PEOPLE]
    rows = []
    for size, seeds in SCALE_SEEDS.items():
        for count in SCALE_COUNTS:
            for seed in seeds:
                settings = replace(DEFAULT_TRAIN, seed=seed)
                run = _run(pool[:count], DEMO_MODELS[size], settings, folder, f"scale-{size}-{count}-seed{seed}")
                last = last_epoch(run)
                rows.append({"size": size, "people": count, "seed": seed, "seconds": run["seconds"], **last})
                print(f"{size} {count} people seed {seed}: mean EM {last['em'][MEAN_FIELD]:.2f} "
                      f"recall {last['recall'][MEAN_FIELD]:.2f} ({run['seconds']} s)", flush=True)
    return {"people": f"experiment_people({SCALE_PEOPLE.stop})[{SCALE_PEOPLE.start}:{SCALE_PEOPLE.stop}] "
                      "(validation, first n)", "settings": asdict(DEFAULT_TRAIN), "rows": rows,
            "weights": {size: weights_fingerprint(DEMO_MODELS[size]) for size in SCALE_SEEDS}}


def tokens_per_word(tokenizer, people) -> dict[str, float]:
    """Per fact field, the mean number of tokens per word of the people's values (1.0: every word one token)."""
    out = {}
    for field in FACT_FIELDS:
        words = [w for p in people for w in p.value(field).split()]
        pieces = sum(len(tokenizer(" " + w, add_special_tokens=False)["input_ids"]) for w in words)
        out[field] = round(pieces / max(1, len(words)), 3)
    return out


def pair_card(pair: Path) -> dict:
    """What a pair's build measured (its build.json): recipe, held-out-QA EM per model, attention to the name before
    the company (large, small) and the share of generated biographies with a name token in the contrast top-5."""
    build = json.loads((pair / "build.json").read_text())
    clues = {row["texts"]: row["share_in_top_k"] for row in build["clue_quality"]["corpora"]["generated"]["rows"]
             if row["ranking"] == "total"}
    return {"recipe": build.get("recipe", "plain"), "seed": build.get("seed", 0), "vocab_size": build["vocab_size"],
            "heldout_qa": {size: m["qa_em"]["heldout_qa"]["mean"] for size, m in build["models"].items()},
            "name_attention": [build["name_attention"]["name_attention_large"],
                               build["name_attention"]["name_attention_small"]],
            "name_in_top5": [clues["as given"], clues["moved"]], "build_minutes": round(build["wall_s"] / 60)}


def pair_label(pair: Path, label: str | None) -> str:
    """A pair's name in the tables: the one given, else its build's recipe, else its folder's name."""
    return label or (pair_card(pair)["recipe"] if (pair / "build.json").is_file() else pair.name)


VOCABULARY_CORPORA = ("generated", "world", "world-respelled", "paper-other-shots", "paper")


def world_validation() -> dict[str, tuple[list, str, None]]:
    """The validation people of the wider world vocabulary, as drawn and with their cities respelled: {name: (people,
    description, None: the QA shots come from the other people asked)}, for the words' study and the spread."""
    return {"world": (world_newcomers(TEST_PEOPLE), "new people of the wider world vocabulary (validation)", None),
            "world-respelled": (world_newcomers_respelled(TEST_PEOPLE), "the same, cities written in other common "
                                "forms (USA, United Kingdom, the city alone; validation)", None)}


def vocabulary_study(folder: Path, pair: Path, label: str, only: tuple[str, ...] = VOCABULARY_CORPORA) -> dict:
    """The default trained model of `pair` injected with each set of new people (those `only` names): QA per field
    and the words' cost."""
    corpora = {"generated": (experiment_people(TEST_PEOPLE, varied=False), "test people, the demo's word lists", None),
               **world_validation(), **paper_corpora(described=False)}
    corpora = {name: corpus for name, corpus in corpora.items() if name in only}
    model = str(pair / DEFAULT_TRAINED)
    tokenizer = AutoTokenizer.from_pretrained(model)  # a local folder of a built pair
    out = {"pair": label, "card": None, "trained": DEFAULT_TRAINED, "settings": asdict(DEFAULT_TRAIN),
           "corpora": {}}
    for name, (people, description, shot_data) in corpora.items():
        settings = replace(DEFAULT_TRAIN, eval_shot_data=shot_data)
        run = _run(people, model, settings, folder, f"vocabulary-{label}-{name}")
        last = last_epoch(run)
        out["corpora"][name] = {"description": description, "people": len(people), "seconds": run["seconds"],
                                "tokens_per_word": tokens_per_word(tokenizer, people), **last}
        print(f"{label} {name}: " + ", ".join(f"{f} {last['em'][f]:.2f}" for f in FACT_FIELDS), flush=True)
    # Read last: the study may start on a large saved before its build (the learner, the measurements) has ended.
    out["card"] = pair_card(pair) if (pair / "build.json").is_file() else None
    return out


def vocabulary_markdown(study: dict) -> str:
    """One row per (pair, set of people): last-epoch QA EM per field, mean EM and recall, tokens per value word."""
    first = next(iter(study.values()))
    settings = first["settings"]
    lines = [f"**Do the words bound injection?** The default trained model ({first['trained']}) of each pair, "
             f"{settings['epochs']} epochs, lr {settings['lr']:g}: QA EM at the last epoch; tokens per "
             "word of the values (mean over the five fields; 1.0 = every word one token):", "",
             "| pair | people | n | " + " | ".join(FACT_FIELDS) + " | mean EM | mean recall | tokens per word |",
             "|---" * (len(FACT_FIELDS) + 6) + "|"]
    for label, row in study.items():
        for corpus in row["corpora"].values():
            cost = sum(corpus["tokens_per_word"].values()) / len(FACT_FIELDS)
            lines.append(f"| {label} | {corpus['description']} | {corpus['people']} | "
                         + " | ".join(f"{corpus['em'][f]:.2f}" for f in FACT_FIELDS)
                         + f" | {corpus['em'][MEAN_FIELD]:.2f} | {corpus['recall'][MEAN_FIELD]:.2f} | {cost:.2f} |")
    lines += ["", "The pairs as their builds measured them (build.json): held-out-QA EM (mean of the fields) per "
              "model, attention to the name before the company (large / small), share of 100 generated biographies "
              "with a name token in the contrast top-5 (as given / name moved off the start):", "",
              "| pair | recipe | build seed | tokenizer | held-out QA large | small | learner | name attention large "
              "/ small | name in top-5 | build |", "|---" * 10 + "|"]
    bundled_card = pair_card(DEMO_PAIR)
    bundled_build = (bundled_card["recipe"], bundled_card["seed"])  # another build of its recipe is not it
    for label, row in study.items():
        card = row["card"]
        if card is None:  # its build had not ended when the study ran
            continue
        qa, att, top5 = card["heldout_qa"], card["name_attention"], card["name_in_top5"]
        bundled = " (bundled)" if (card["recipe"], card.get("seed", 0)) == bundled_build else ""
        lines.append(f"| {label}{bundled} | {card['recipe']} | {card.get('seed', 0)} | {card['vocab_size']} | "
                     f"{qa['large']:.2f} | "
                     f"{qa['small']:.2f} | {qa['learner']:.2f} | {att[0]:.3f} / {att[1]:.3f} | "
                     f"{top5[0]:.0%} / {top5[1]:.0%} | {card['build_minutes']} min |")
    return "\n".join(lines) + "\n"


def scale_markdown(study: dict) -> str:
    """One row per (model, people, seed): last-epoch QA EM per field, its mean, and the mean recall."""
    settings = study["settings"]
    lines = [f"**QA against the number of new people learned at once** (validation people; {settings['epochs']} "
             f"epochs, lr {settings['lr']:g}, batch {settings['batch_size']}, weights trained: "
             f"{TRAINABLE[settings.get('trainable', 'all')]}; seed = data order"
             + "".join(f"; {size} weights sha256 {digest}" for size, digest in study.get("weights", {}).items())
             + "):", "",
             "| model | people | seed | " + " | ".join(FACT_FIELDS) + " | mean EM | mean recall |",
             "|---" * (len(FACT_FIELDS) + 5) + "|"]
    for row in study["rows"]:
        lines.append(f"| {row['size']} | {row['people']} | {row['seed']} | "
                     + " | ".join(f"{row['em'][f]:.2f}" for f in FACT_FIELDS)
                     + f" | {row['em'][MEAN_FIELD]:.2f} | {row['recall'][MEAN_FIELD]:.2f} |")
    return "\n".join(lines) + "\n"


def markdown(injection: dict) -> str:
    """The injection tables: per corpus, QA EM (and recall) per field at the last epoch, and the EM curve."""
    lines = []
    if "weights" in injection:
        lines += [f"The bundled {injection['trained']} (weights sha256 {injection['weights']}), trained with the "
                  "defaults:", ""]
    for run in injection["corpora"].values():
        em, recall = run["curves"]["em"], run["curves"].get("recall", {})
        lines += [f"**{run['corpus']}** — {run['epochs']} epochs, lr {run['lr']:g}, batch {run['batch_size']}, "
                  f"weights trained: {TRAINABLE[run.get('trainable', 'all')]}:",
                  "", "| epoch | " + " | ".join(FACT_FIELDS) + " | mean |", "|---" * (len(FACT_FIELDS) + 2) + "|"]
        for epoch in range(len(em[MEAN_FIELD])):
            lines.append(f"| {epoch} | " + " | ".join(f"{em[f][epoch]:.2f}" for f in FACT_FIELDS)
                         + f" | {em[MEAN_FIELD][epoch]:.2f} |")
        if recall:
            lines.append("| recall probe, last epoch | " + " | ".join(f"{recall[f][-1]:.2f}" for f in FACT_FIELDS)
                         + f" | {recall[MEAN_FIELD][-1]:.2f} |")
        lines.append("")
    if injection.get("seeds"):
        lines.append(seeds_markdown(injection))
    return "\n".join(lines)


def sweep_markdown(rows: list[dict]) -> str:
    """One row per recipe of scripts/sweep_injection.py (validation people): QA EM per field at its best epoch,
    the recall probe, and after training the QA of the pair's own pretraining people (seen and held out)."""
    def replayed(replay: dict) -> str:
        parts = [f"QA of {replay['qa_people']} people"] if replay.get("qa_people") else []
        if replay.get("bio_people"):
            form = "fixed-form" if replay.get("fixed_bios") else "re-phrased"
            parts.append(f"{replay['bio_people']} {form} biographies")
        return ", ".join(parts) or "–"

    def mean(scores: dict) -> float:
        return sum(scores[f] for f in FACT_FIELDS) / len(FACT_FIELDS)

    lines = ["**Recipes tried on validation people** (`scripts/sweep_injection.py`, docs/injection-sweep.jsonl; "
             "the model's weights name the pair it was run on; "
             "QA EM at each recipe's best epoch; the last two columns: mean QA EM after training on the pair's own "
             "pretraining people whose QA pairs it saw, and on those it knew from biographies only):", "",
             "| recipe | model (weights sha256) | weights trained | lr | replay of pretraining | epoch | "
             + " | ".join(FACT_FIELDS) + " | mean | recall | pretraining QA after | held-out QA after |",
             "|---" * (len(FACT_FIELDS) + 11) + "|"]
    for row in rows:
        lines.append(f"| {row['name']} | {row['model']} ({row.get('weights', '?')}) | {row['trainable']} | "
                     f"{row['lr']:g} | "
                     f"{replayed(row['replay'])} | {row['best_epoch']} | "
                     + " | ".join(f"{row['best'][f]:.2f}" for f in FACT_FIELDS)
                     + f" | {row['best'][MEAN_FIELD]:.2f} | {row['recall_last'][MEAN_FIELD]:.2f} | "
                     f"{mean(row['pretraining_qa_after']):.2f} | {mean(row['heldout_qa_after']):.2f} |")
    return "\n".join(lines) + "\n"


SPREAD_CORPORA = ("world", "world-respelled")  # validation people only: what recipes are judged on


def spread_study(folder: Path, pair: Path, label: str, seeds: tuple[int, ...] = REPORT_SEEDS,
                 only: tuple[str, ...] = SPREAD_CORPORA) -> list[dict]:
    """One row per (set of validation people, seed): the default trained model of `pair` with the defaults and that
    seed (data order, shots, optimiser draws), its last-epoch QA EM and recall per field."""
    corpora = world_validation()
    model = str(pair / DEFAULT_TRAINED)
    card = pair_card(pair) if (pair / "build.json").is_file() else None
    weights = weights_fingerprint(model)
    rows = []
    for name in only:
        people = corpora[name][0]
        for seed in seeds:
            run = _run(people, model, replace(DEFAULT_TRAIN, seed=seed), folder, f"spread-{label}-{name}-{seed}")
            rows.append({"pair": label, "card": card, "weights": weights, "corpus": name, "seed": seed,
                         "people": len(people), "seconds": run["seconds"], **last_epoch(run)})
            print(f"{label} {name} seed {seed}: "
                  + ", ".join(f"{f} {rows[-1]['em'][f]:.2f}" for f in (*FACT_FIELDS, MEAN_FIELD)), flush=True)
    return rows


def merge_spread(earlier: dict, rows: list[dict]) -> dict:
    """The rows already written, each (pair, set, seed) measured again replaced by its new row; the defaults' settings
    beside (rows of other settings are dropped: they answer another question)."""
    same = earlier.get("settings") == asdict(DEFAULT_TRAIN)
    fresh = {(row["pair"], row["corpus"], row["seed"]) for row in rows}
    kept = [row for row in (earlier.get("rows", []) if same else [])
            if (row["pair"], row["corpus"], row["seed"]) not in fresh]
    return {"settings": asdict(DEFAULT_TRAIN), "trained": DEFAULT_TRAINED, "rows": kept + rows}


def spread_markdown(study: dict) -> str:
    """Per set of validation people: each pair's last-epoch QA EM over the injection seeds, and its difference from
    the bundled pair paired by seed, with the t interval."""
    fields = (*FACT_FIELDS, MEAN_FIELD)
    settings = study["settings"]
    bundled = weights_fingerprint(DEMO_MODELS[study["trained"]])
    lines = [f"**Build to build, run to run** (`injection spread`; the default trained model ({study['trained']}) of "
             f"each pair, {settings['epochs']} epochs, lr {settings['lr']:g}, one run per injection seed — data order, "
             "QA shots and the optimiser's draws): QA EM at the last epoch, mean ± sample std over the seeds; then "
             "each pair minus the bundled pair, paired by seed, mean and 95% t interval. People (validation, 100 "
             "each): world = new people of the wider world vocabulary; world-respelled = the same with their cities "
             "in other common forms (USA, United Kingdom, the city alone):", "",
             "| people | pair | build seed | seeds | " + " | ".join(fields) + " |", "|---" * (len(fields) + 4) + "|"]
    for corpus in dict.fromkeys(row["corpus"] for row in study["rows"]):
        rows = [row for row in study["rows"] if row["corpus"] == corpus]
        by_pair = {pair: {row["seed"]: row for row in sorted(rows, key=lambda r: r["seed"]) if row["pair"] == pair}
                   for pair in dict.fromkeys(row["pair"] for row in rows)}
        base = next((seeds for seeds in by_pair.values() if next(iter(seeds.values()))["weights"] == bundled), None)
        for pair, seeds in by_pair.items():
            first = next(iter(seeds.values()))
            build_seed = first["card"]["seed"] if first["card"] else "?"
            name = f"{pair} (bundled)" if seeds is base else pair
            lines.append(f"| {corpus} | {name} | {build_seed} | {', '.join(map(str, seeds))} | "
                         + " | ".join(spread_text(describe(r["em"][f] for r in seeds.values())) for f in fields) + " |")
            shared = [seed for seed in seeds if base and seed in base]
            if base and seeds is not base and shared:
                differences = {f: describe(seeds[k]["em"][f] - base[k]["em"][f] for k in shared) for f in fields}
                lines.append(f"| {corpus} | {pair} − bundled | | {', '.join(map(str, shared))} | "
                             + " | ".join(f"{d.mean:+.2f} {interval_text(d, 2)}" for d in differences.values()) + " |")
        lines += _over_builds(corpus, by_pair, fields)
    return "\n".join(lines) + "\n"


def _over_builds(corpus: str, by_pair: dict[str, dict[int, dict]], fields: tuple[str, ...]) -> list[str]:
    """Per recipe built more than once: the builds' means over their seeds, as mean ± sample std over the builds
    (n = builds) — what building the recipe again moves, beside what the injection's seeds move."""
    recipes: dict[str, list[dict[int, dict]]] = {}
    for seeds in by_pair.values():
        card = next(iter(seeds.values()))["card"]
        if card:
            recipes.setdefault(card["recipe"], []).append(seeds)
    lines = []
    for recipe, builds in recipes.items():
        if len(builds) < 2:
            continue
        means = {f: describe(describe(r["em"][f] for r in seeds.values()).mean for seeds in builds) for f in fields}
        build_seeds = ", ".join(str(s) for s in sorted(next(iter(seeds.values()))["card"]["seed"] for seeds in builds))
        lines.append(f"| {corpus} | {recipe}, over its builds | {build_seeds} | | "
                     + " | ".join(spread_text(spread) for spread in means.values()) + " |")
    return lines


# Which build to bundle, written down after world-qa's builds 0-2 were measured and before any later one was (commit
# history). Item 1's targets for the card (issue 15) rule a build out, however it injects; then the weaker near fact,
# the lower of date and city (item 2 asks both for ≥ 0.6), on the world validation people as drawn, mean over the
# injection seeds; mean EM breaks ties. Validation people only: the paper's biographies are measured for the chosen
# build after the choice.
CARD_TARGETS = (("held-out QA large", lambda card: card["heldout_qa"]["large"], 0.6),
                ("held-out QA small", lambda card: card["heldout_qa"]["small"], 0.3),
                ("name attention large − small", lambda card: card["name_attention"][0] - card["name_attention"][1],
                 1e-9),
                ("name in top-5 as given", lambda card: card["name_in_top5"][0], 0.8),
                ("name in top-5 moved", lambda card: card["name_in_top5"][1], 0.6))
CHOICE_CORPUS = "world"


def card_misses(card: dict) -> list[str]:
    """The card targets a build misses ("name in top-5 as given 0.73 < 0.8"); none: it may be bundled."""
    return [f"{name} {value(card):.2f} < {least:g}" for name, value, least in CARD_TARGETS if value(card) < least]


def build_choice(study: dict, seeds: tuple[int, ...] = REPORT_SEEDS) -> list[dict]:
    """Every build with a card and a run on `CHOICE_CORPUS` for each of `seeds`, best first: those meeting the card
    targets before those missing one, then by the weaker near fact and mean EM (means over the seeds)."""
    ranked = []
    for pair in dict.fromkeys(row["pair"] for row in study["rows"]):
        runs = {row["seed"]: row for row in study["rows"] if row["pair"] == pair and row["corpus"] == CHOICE_CORPUS}
        card = next(iter(runs.values()))["card"] if runs else None
        if card is None or any(seed not in runs for seed in seeds):
            continue
        near = describe(min(runs[seed]["em"]["date"], runs[seed]["em"]["city"]) for seed in seeds).mean
        mean = describe(runs[seed]["em"][MEAN_FIELD] for seed in seeds).mean
        ranked.append({"pair": pair, "recipe": card["recipe"], "seed": card["seed"],
                       "weights": runs[seeds[0]]["weights"], "near": near, "mean": mean, "misses": card_misses(card)})
    return sorted(ranked, key=lambda build: (not build["misses"], round(build["near"], 6), build["mean"]),
                  reverse=True)


def choice_markdown(ranked: list[dict], bundled: str) -> str:
    """The builds in the order `build_choice` ranks them, the first that meets the card targets named the choice."""
    lines = ["**Which build to bundle** (a rule written down after world-qa's builds 0–2 were measured, before any "
             "later build was): a build must meet the card's targets (held-out QA large ≥ 0.6 and small ≥ 0.3, "
             "more name attention in the large, name in the contrast top-5 ≥ 80% as given and ≥ 60% moved); then "
             "the higher weaker near fact — the lower of date and city QA EM on the "
             f"{CHOICE_CORPUS} validation people, mean over the injection seeds — then mean EM:", "",
             "| rank | pair | recipe | build seed | weaker near fact | mean EM | card targets missed |",
             "|---|---|---|---|---|---|---|"]
    chosen = next((build for build in ranked if not build["misses"]), None)
    for rank, build in enumerate(ranked, 1):
        name = build["pair"] + (" (bundled)" if build["weights"] == bundled else "")
        name += " — **the choice**" if build is chosen else ""
        lines.append(f"| {rank} | {name} | {build['recipe']} | {build['seed']} | {build['near']:.2f} | "
                     f"{build['mean']:.2f} | {'; '.join(build['misses']) or 'none'} |")
    return "\n".join(lines) + "\n"


def write_markdown(docs: Path) -> None:
    """docs/injection.md from the JSON the steps wrote: the injection curves, the scale study, the recipes tried."""
    parts = []
    if (docs / "injection.json").exists():
        parts.append(markdown(json.loads((docs / "injection.json").read_text())))
    if (docs / "injection-scale.json").exists():
        parts.append(scale_markdown(json.loads((docs / "injection-scale.json").read_text())))
    if (docs / "injection-vocabulary.json").exists():
        parts.append(vocabulary_markdown(json.loads((docs / "injection-vocabulary.json").read_text())))
    if (docs / "injection-spread.json").exists():
        study = json.loads((docs / "injection-spread.json").read_text())
        parts.append(spread_markdown(study))
        ranked = build_choice(study)
        if ranked:
            parts.append(choice_markdown(ranked, weights_fingerprint(DEMO_MODELS[study["trained"]])))
    if (docs / "injection-sweep.jsonl").exists():
        rows = [json.loads(line) for line in (docs / "injection-sweep.jsonl").read_text().splitlines() if line]
        parts.append(sweep_markdown(rows))
    (docs / "injection.md").write_text("\n".join(parts))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["choose", "report", "scale", "markdown", "vocabulary", "spread"])
    parser.add_argument("--docs", default=str(DOCS), help="where the JSON and markdown go (default docs)")
    parser.add_argument("--pair", default=str(DEMO_PAIR),
                        help="choose, vocabulary, spread: the pair's folder (default the bundled; choose for another "
                             "pair writes to --docs: keep it apart from docs/defaults.json)")
    parser.add_argument("--label", default=None, help="vocabulary, spread: the pair's name in the table (default its "
                        "recipe)")
    parser.add_argument("--validation", choices=sorted(VALIDATION_SETS), default="generated",
                        help="choose: which validation people (default generated: the demo's word lists; world: new "
                             "people of the wider vocabulary — with --docs elsewhere, a check of the choice)")
    parser.add_argument("--corpora", nargs="+", choices=list(dict.fromkeys(VOCABULARY_CORPORA + REPORT_CORPORA)),
                        help="vocabulary, report, spread: which people (default all of the step's: vocabulary "
                             f"{' '.join(VOCABULARY_CORPORA)}; report {' '.join(REPORT_CORPORA)}; spread "
                             f"{' '.join(SPREAD_CORPORA)}); two processes can share them out")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(REPORT_SEEDS),
                        help=f"report, spread: which seeds (default {' '.join(map(str, REPORT_SEEDS))}; the curves are "
                             f"seed {DEFAULT_TRAIN.seed}'s)")
    args = parser.parse_args(argv)
    known = {"vocabulary": VOCABULARY_CORPORA, "report": REPORT_CORPORA, "spread": SPREAD_CORPORA}.get(args.step, ())
    unknown = [name for name in args.corpora or () if name not in known]
    if unknown:
        parser.error(f"--corpora {' '.join(unknown)}: {args.step} takes " + (" ".join(known) or "no --corpora"))
    docs = Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        if args.step == "choose":
            result = choose(Path(scratch), Path(args.pair), args.validation)
            (docs / "defaults.json").write_text(json.dumps(result, indent=1) + "\n")
            print(f"chosen: {result['chosen']}")
        elif args.step == "markdown":  # docs/injection.md again from the JSON already written
            write_markdown(docs)
        elif args.step == "vocabulary":
            path = docs / "injection-vocabulary.json"
            pair = Path(args.pair)
            label = pair_label(pair, args.label)
            result = vocabulary_study(Path(scratch), pair, label, tuple(args.corpora or VOCABULARY_CORPORA))
            study = json.loads(path.read_text()) if path.exists() else {}  # read late: another process may add
            earlier = study.get(label, {})
            corpora = {**earlier.get("corpora", {}), **result["corpora"]}  # this run's sets replace their own
            study[label] = {**result, "card": result["card"] or earlier.get("card"),
                            "corpora": {name: corpora[name] for name in VOCABULARY_CORPORA if name in corpora}}
            path.write_text(json.dumps(study, indent=1) + "\n")
            write_markdown(docs)
        elif args.step == "spread":
            pair = Path(args.pair)
            label = pair_label(pair, args.label)
            rows = spread_study(Path(scratch), pair, label, tuple(args.seeds), tuple(args.corpora or SPREAD_CORPORA))
            path = docs / "injection-spread.json"
            earlier = json.loads(path.read_text()) if path.exists() else {}  # read late: another process may add
            path.write_text(json.dumps(merge_spread(earlier, rows), indent=1) + "\n")
            write_markdown(docs)
        elif args.step == "scale":
            result = scale(Path(scratch))
            (docs / "injection-scale.json").write_text(json.dumps(result, indent=1) + "\n")
            write_markdown(docs)
        else:
            path = docs / "injection.json"
            result = report(Path(scratch), tuple(args.corpora or REPORT_CORPORA), tuple(args.seeds))
            earlier = json.loads(path.read_text()) if path.exists() else {}  # read late: another process may add
            path.write_text(json.dumps(merge_report(earlier, result), indent=1) + "\n")
            write_markdown(docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
