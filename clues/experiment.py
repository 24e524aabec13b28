"""The experiment: does contrast-guided dropout help a model memorise far facts?

Continual pretraining of a copy of one model on new people's biographies under each of
`ExperimentConfig.conditions` (`DEFAULT_CONDITIONS`): plain fine-tuning step-matched (none: the
originals copied K times) and at the paper's protocol (plain: the originals once, same epochs); random
dropout; dropout ranked by position (earliest first, a control), by the model's own attention, by the
large − small contrast and by the contrast under the paper's importance (contrast:paper_mean); the
oracle (the tagged name kept first: what any ranking that finds the name could give at best); and D-AR
(replace: input tokens replaced at random, loss on the originals). After each epoch: few-shot QA EM/F1
and the name-keyed recall probe per field, all in the run store. α and β are either given (default:
the paper's settings) or chosen per condition on a validation split of people, never on the test people:
with `select`, every condition (the plain ones too) trains once per (α, β, learning rate) point on the
validation people and keeps the point AND the epoch with the best QA exact match over the far fields; its
test runs train at that point, follow the same learning-rate schedule and stop after that epoch (early
stopping chosen on validation, where the paper kept each method's best run without a validation split).

Also measured: at the word before each fact, the attention the large and the small model give
to the name, and how often a name token is in the contrast top-5 (the paper's figure 3; see
`clues.name_attention`). The people are `clues.corpus.experiment_people`, new to the bundled
demo pair. The report (docs/results.md) is written by `clues.builders.experiment_report`.

Every spread over seeds is `clues.stats.describe`: the mean, the sample standard deviation (ddof 1),
n, and for paired differences the 95% t interval of the mean; with one seed the last two are undefined.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from clues.augment import DEFAULT_AUGMENT, AugmentSettings, parse_condition, rank_corpus_conditions
from clues.capture import check_batching
from clues.corpus import FACT_FIELDS, experiment_people, generate_biographies, write_tagged_csv
from clues.errors import InputError
from clues.importance import DEFAULT_IMPORTANCE
from clues.launch import condition_config, condition_slug, condition_with_importance
from clues.models import DEMO_LARGE, DEMO_SMALL, default_trained, load_model
from clues.name_attention import measure_name_attention
from clues.runs import RunStore
from clues.settings import (
    DEFAULT_CONDITIONS,
    DEFAULT_TRAIN,
    SELECTION_ALPHAS,
    SELECTION_BETAS,
    SELECTION_LRS,
    TRAINABLE,
)
from clues.shard import process_device, rank_sharded_conditions, ranking_processes
from clues.stats import describe
from clues.train import TrainConfig, train

FAR_FIELDS = ("university", "major", "company")
# The experiment the repository reports (written by `clues experiment`: docs/results.json); an installed wheel
# has none. The How it works page draws it, the Training page offers its choices per condition.
REPORTED_EXPERIMENT = Path(__file__).resolve().parents[1] / "docs" / "results.json"


@dataclass
class ExperimentConfig:
    model: str | None = None  # the model trained (default: the pair's small model)
    large: str | None = None  # default: the bundled demo pair
    small: str | None = None
    people: int = 100  # test people, new to the model
    validation_people: int = 100  # for choosing α, β and the epoch (only with select)
    conditions: tuple[str, ...] = DEFAULT_CONDITIONS
    importance: str = DEFAULT_IMPORTANCE  # for conditions that name none (e.g. "contrast")
    augment: AugmentSettings = DEFAULT_AUGMENT  # α, β, copies, style; its seed is each run's seed
    select: bool = False
    # α/β and epoch per condition already chosen on these validation people (e.g. by another process of the
    # same experiment: `selection_from_store`); skips the choosing.
    selection: dict | None = None
    alphas: tuple[float, ...] = SELECTION_ALPHAS  # tried per condition with select
    betas: tuple[float, ...] = SELECTION_BETAS
    lrs: tuple[float, ...] = SELECTION_LRS  # learning rates tried per condition with select
    epochs: int = DEFAULT_TRAIN.epochs
    lr: float = DEFAULT_TRAIN.lr
    batch_size: int = DEFAULT_TRAIN.batch_size
    trainable: str = DEFAULT_TRAIN.trainable  # which weights learn (TrainConfig.trainable)
    seeds: tuple[int, ...] = (0,)
    shots: int = DEFAULT_TRAIN.eval_shots
    out: str = "out/experiment"
    store_path: str | None = None
    data_seed: int | None = None  # people generator seed (default: clues.corpus.EXPERIMENT_SEED)
    max_active: int = 1  # training runs at once on one device (raise it to run seeds side by side)
    rank_batch_size: int | None = None  # texts per forward pass when ranking (None: from the memory budget)
    rank_memory_budget_bytes: float | None = None  # memory a ranking forward pass may use (None: the device's)

    def validate(self) -> None:
        for condition in self.conditions:
            parse_condition(condition, self.importance)
        self.augment.check()
        if self.people < 4:
            raise InputError(f"people = {self.people}: give at least 4 people (the QA shots come from the others).")
        if self.epochs < 1:
            raise InputError(f"epochs = {self.epochs}: train for at least 1 epoch.")
        if not self.seeds:
            raise InputError("Give at least one seed.")
        if self.trainable not in TRAINABLE:
            raise InputError(f"trainable = {self.trainable!r}: choose one of {', '.join(TRAINABLE)}.")
        check_batching(self.rank_batch_size, self.rank_memory_budget_bytes)


def split_experiment_people(config: ExperimentConfig):
    """(test people, validation people): new biographies in the paper's standard template."""
    total = config.people + config.validation_people
    if config.data_seed is None:
        people = experiment_people(total, varied=False)
    else:
        people = generate_biographies(total, seed=config.data_seed, varied=False)
    return list(people[:config.people]), list(people[config.people:])


def attention_to_name(large, small, people, *, top_k: int = 5) -> dict:
    """Per fact field: mean attention to the name from the word before the fact (both models),
    and how often a name token is among the contrast top-k of the text."""
    measured = measure_name_attention(large, small, people, fields=FACT_FIELDS, top_k=top_k)
    table = {f: {m: measured.mean(f, m) for m in ("large", "small")} for f in FACT_FIELDS}
    return {"to_name": table, "name_in_top_k": measured.top_k_share(), "top_k": top_k, "texts": measured.texts}


def weights_fingerprint(ref: str) -> str:
    """First 12 hex digits of the sha256 of a model folder's safetensors (which pair a result is from)."""
    stats = ((path, path.stat()) for path in sorted(Path(ref).glob("*.safetensors")))
    return _fingerprint(tuple((str(path), stat.st_mtime_ns, stat.st_size) for path, stat in stats))


@functools.lru_cache(maxsize=16)
def _fingerprint(files: tuple) -> str:
    # Keyed by path, mtime and size: the Training page asks on every rerun; the bytes are read once per change.
    digest = hashlib.sha256()
    for path, _, _ in files:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:12]


def _write_people(path: Path, people, state=None) -> str:
    if _writes(state):
        write_tagged_csv(path, people)
    return str(path)


def _writes(state) -> bool:
    """Whether this process writes the experiment's files: the only one, or process 0 of a launch
    (the others would write the same bytes at the same time, while process 0 may be reading them)."""
    return state is None or state.is_main_process


# many parameters: private: one run of the experiment, every input a different thing
def _train_condition(config: ExperimentConfig, eval_csv: str, ranked, condition: str, augment: AugmentSettings,
                     seed: int, where: tuple[Path, str], state=None, chosen: dict | None = None) -> int:
    """Train one condition in-process; built as the app builds a comparison's runs. Under a launch
    every process trains (together) on the corpus process 0 wrote. where: (folder, the run's label);
    chosen: the learning rate ("lr", default config.lr) and early stop ("epoch") chosen on validation people."""
    folder, label = where
    chosen = chosen or {}
    base = TrainConfig(model=config.model, data="", eval_data=eval_csv, epochs=config.epochs,
                       stop_after_epoch=chosen.get("epoch"), lr=chosen.get("lr", config.lr),
                       batch_size=config.batch_size, trainable=config.trainable, seed=seed, eval_shots=config.shots,
                       eval_max_people=None,
                       store_path=config.store_path, max_active=config.max_active,
                       extra={"experiment": str(folder)})
    settings = condition_config(base, condition, folder / f"{label}.csv", ranked, name=label, augment=augment,
                                importance=config.importance, write=_writes(state))
    if state is not None:
        state.wait_for_everyone()  # the corpus and the people are on disk before anyone reads them
    return train(settings)


def _final(metrics, name: str, fields=FACT_FIELDS) -> dict:
    """{field: value} of metric `name` at its last evaluated epoch (the mean-over-fields rows left out)."""
    rows = metrics[(metrics["name"] == name) & metrics["field"].notna()]
    if rows.empty:
        return {}
    last = rows[rows["epoch"] == rows["epoch"].max()]
    return {f: float(last[last["field"] == f]["value"].iloc[0]) for f in fields if (last["field"] == f).any()}


def epoch_scores(metrics) -> dict[int, float]:
    """What selection maximises, per evaluated epoch after training began: QA exact match (the paper's
    measure) averaged over the far fields. EM alone: the recall probe stays high while a run forgets how to
    answer, so a score that mixes them would keep runs that no longer answer."""
    rows = metrics[(metrics["name"] == "em") & metrics["field"].isin(FAR_FIELDS) & (metrics["epoch"] >= 1)]
    return {int(round(epoch)): round(float(group["value"].mean()), 4) for epoch, group in rows.groupby("epoch")}


def scored_points(alpha: float, beta: float, lr: float, metrics) -> list[dict]:
    """One grid entry per evaluated epoch of the validation run trained at (α, β, lr); none for a run with none."""
    return [{"alpha": alpha, "beta": beta, "lr": lr, "epoch": epoch, "score": score}
            for epoch, score in sorted(epoch_scores(metrics).items())]


def run_experiment(config: ExperimentConfig, *, progress: bool = True) -> dict:
    """Run every condition and seed; return (and write to out/results.json) the results.

    Under `accelerate launch` every process ranks a share of each corpus on its own device and
    trains with the others; process 0 alone writes the files and reports progress."""
    config.validate()
    with ranking_processes() as state:
        return _run(config, state, progress=progress and _writes(state))


def _run(config: ExperimentConfig, state, *, progress: bool) -> dict:
    config.large, config.small = config.large or DEMO_LARGE, config.small or DEMO_SMALL
    config.model = config.model or default_trained(config.large, config.small)
    folder = Path(config.out)
    folder.mkdir(parents=True, exist_ok=True)
    store = RunStore(config.store_path)
    config.store_path = str(store.path)
    started = time.time()
    device = process_device(None, state) or "cpu"
    large, small = load_model(config.large, device=device), load_model(config.small, device=device)
    test, validation = split_experiment_people(config)
    test_csv = _write_people(folder / "test-people.csv", test, state)
    attention = attention_to_name(large, small, test)
    _log(progress, f"attention to the name measured on {len(test)} biographies")
    ranked_test = _rank(test, config.conditions, config, large, small, state)
    augments = {m: config.augment for m in config.conditions}
    selection = dict(config.selection or {})
    if config.select and validation and not selection:
        selection = _select(config, large, small, validation, folder, progress, state)
    if selection:
        augments.update({m: replace(config.augment, alpha=s["alpha"], beta=s["beta"]) for m, s in selection.items()
                         if m not in UNTUNED})

    runs = []
    for seed in config.seeds:
        for mode in config.conditions:
            augment = augments[mode]
            label = f"experiment-{condition_slug(mode)}-seed{seed}"
            chosen = {k: v for k, v in selection.get(mode, {}).items() if k in ("lr", "epoch")}
            lr, stop = chosen.get("lr", config.lr), chosen.get("epoch")
            _log(progress, f"training {label} (α={augment.alpha}, β={augment.beta}, lr={lr:g}, style={augment.style}"
                           + (f", stops after epoch {stop})" if stop else ")"))
            run_id = _train_condition(config, test_csv, ranked_test[mode], mode, augment, seed, (folder, label),
                                      state, chosen)
            runs.append({"condition": mode, "seed": seed, "run_id": run_id, "alpha": augment.alpha,
                         "beta": augment.beta, "lr": lr, "epoch": stop or config.epochs})
    fingerprints = {"large": weights_fingerprint(config.large), "small": weights_fingerprint(config.small),
                    "model": weights_fingerprint(config.model)}
    results = {"config": asdict(config), "fingerprints": fingerprints, "attention": attention,
               "selection": selection, "runs": runs,
               "summary": summarise(store, runs), "paired": paired_table(store, runs),
               "seconds": time.time() - started}
    if _writes(state):
        (folder / "results.json").write_text(json.dumps(results, indent=2))
    return results


def _rank(people, conditions, config: ExperimentConfig, large, small, state=None) -> dict:
    """{condition: the ranking it trains on}, each text captured once per model for all of them;
    sharded between launched processes (`state`), each getting the whole ranking."""
    parsed = [condition_with_importance(condition, config.importance) for condition in conditions]
    options = dict(large=large, small=small, batching=dict(batch_size=config.rank_batch_size,
                                                           memory_budget_bytes=config.rank_memory_budget_bytes))
    if state is None:
        rankings = rank_corpus_conditions(people, parsed, **options)
    else:
        rankings = rank_sharded_conditions(people, parsed, state, **options)
    return dict(zip(conditions, rankings))


def merge_results(paths) -> dict:
    """One result from several runs of the experiment (e.g. one process per seed). Runs kept in other
    stores than the first part's are copied into it (settings and every metric row), so one store
    holds the whole experiment."""
    parts = [json.loads(Path(p, "results.json").read_text()) for p in paths]
    for path, part in zip(paths, parts):  # a store path is relative to where the part ran: elsewhere, an empty one
        if not Path(part["config"]["store_path"]).is_file():
            raise InputError(f"{path}'s run store {part['config']['store_path']} is not here: merge from the folder "
                             "the experiment ran in")
    merged = dict(parts[0])
    home = RunStore(parts[0]["config"]["store_path"])
    for part in parts[1:]:
        if Path(part["config"]["store_path"]).resolve() != Path(home.path).resolve():
            part["runs"] = [dict(run, run_id=copy_run(RunStore(part["config"]["store_path"]), run["run_id"], home))
                            for run in part["runs"]]
    order = in_usual_order(c for part in parts for c in part["config"]["conditions"])
    runs = [run for part in parts for run in part["runs"]]  # conditions run apart come back in the usual order
    merged["runs"] = sorted(runs, key=lambda run: order.index(run["condition"]))
    chosen = {mode: choice for part in parts for mode, choice in (part.get("selection") or {}).items()}
    merged["selection"] = {mode: chosen[mode] for mode in order if mode in chosen}
    merged["config"] = dict(parts[0]["config"], seeds=sorted({r["seed"] for r in merged["runs"]}),
                            conditions=order)
    kept = [part.get("fingerprints") or {} for part in parts]
    fingerprints = [{k: v for k, v in f.items() if k in kept[0]} for f in kept]
    if any(f != fingerprints[0] for f in fingerprints):
        raise InputError(f"the parts of {', '.join(map(str, paths))} ran on different weights ({fingerprints}): "
                         "merge only the parts of one experiment")
    merged["fingerprints"] = dict(kept[0])
    if "model" not in merged["fingerprints"]:  # parts written before the trained model's own was kept: its folder's
        merged["fingerprints"]["model"] = weights_fingerprint(_in_repository(parts[0]["config"]["model"]))
    merged["seconds"] = max(part["seconds"] for part in parts)
    merged["summary"] = summarise(RunStore(merged["config"]["store_path"]), merged["runs"])
    merged["paired"] = paired_table(RunStore(merged["config"]["store_path"]), merged["runs"])
    return merged


def in_usual_order(conditions) -> list[str]:
    """Each condition once, in DEFAULT_CONDITIONS' order (others after, as they came), whichever part or
    experiment named it first."""
    conditions = list(dict.fromkeys(conditions))
    return sorted(conditions, key=lambda c: DEFAULT_CONDITIONS.index(c) if c in DEFAULT_CONDITIONS else len(conditions))


def copy_run(source, run_id: int, target) -> int:
    """Run `run_id` of store `source` (its settings, metric rows and final status) as a new run of
    `target`; its id there."""
    run = source.get_run(run_id)
    new_id = target.create_run(run["name"], run.get("config") or {}, "running")
    rows = source.metrics(run_id)
    target.log_metrics(new_id, [{k: (None if v != v else v) for k, v in row.items()}  # NaN field → None
                                for row in rows[["epoch", "step", "field", "name", "value"]].to_dict("records")])
    target.finish(new_id, run["status"], run.get("error"))
    return new_id


UNTUNED = ("none", "plain")  # no α or β to choose


def selection_grid(mode: str, alphas, betas) -> list[tuple[float, float]]:
    """The (α, β) pairs tried for `mode` on the validation people: every α × β; random dropout and
    replace (a flat rate α) have no ranking for β to act on, so they try each α once with β = 0; the plain
    conditions drop nothing, so they train once (α = β = 0) and choose only their epoch."""
    if mode in UNTUNED:
        return [(0.0, 0.0)]
    if mode in ("random", "replace"):
        return [(a, 0.0) for a in alphas]
    return [(a, b) for a in alphas for b in betas]


def selection_points(mode: str, config: ExperimentConfig) -> list[tuple[float, float, float]]:
    """(α, β, lr) of every validation run of `mode`: `selection_grid` at each learning rate tried."""
    return [(alpha, beta, lr) for lr in config.lrs or (config.lr,)
            for alpha, beta in selection_grid(mode, config.alphas, config.betas)]


def selection_label(mode: str, alpha: float, beta: float, lr: float) -> str:
    return f"select-{condition_slug(mode)}-a{alpha}-b{beta}-lr{lr:g}"


def choose_best(grid: list[dict]) -> dict:
    """The best of `grid` ({"alpha", "beta", "lr", "epoch", "score"} per point and epoch tried): the highest
    score; a tie goes to the earlier epoch (less training), then the larger α, β and learning rate.
    {"alpha", "beta", "lr", "epoch", "score", "grid"}."""
    if not grid:
        raise ValueError("choose_best needs at least one scored point")
    best = max(grid, key=lambda g: (g["score"], -g["epoch"], g["alpha"], g["beta"], g["lr"]))
    return {"alpha": best["alpha"], "beta": best["beta"], "lr": best["lr"], "epoch": best["epoch"],
            "score": best["score"], "grid": list(grid)}


def selection_from_store(store, config: ExperimentConfig) -> dict:
    """The α/β and epoch choice per condition from the validation runs already in `store` (the runs `_select`
    trains, by their names), as `_select` returns it; a condition whose grid is incomplete is left out."""
    runs = {run["name"]: run for run in store.list_runs() if run["status"] == "finished"}
    chosen = {}
    for mode in config.conditions:
        grid = []
        for alpha, beta, lr in selection_points(mode, config):
            run = runs.get(selection_label(mode, alpha, beta, lr))
            if run is None:
                break
            grid += scored_points(alpha, beta, lr, store.metrics(run["id"]))
        else:
            chosen[mode] = choose_best(grid)
    return chosen


def _select(config, large, small, validation, folder: Path, progress: bool, state=None) -> dict:
    """Choose α, β, the learning rate and the epoch per condition on the validation people, one seed: train
    every point of `selection_points`, score each epoch (`epoch_scores`) and keep `choose_best`."""
    store = RunStore(config.store_path)
    eval_csv = _write_people(folder / "validation-people.csv", validation, state)
    chosen = {}
    rankings = _rank(validation, config.conditions, config, large, small, state)
    for mode in config.conditions:
        grid = []
        for alpha, beta, lr in selection_points(mode, config):
            label = selection_label(mode, alpha, beta, lr)
            _log(progress, f"validation: {label}")
            augment = replace(config.augment, alpha=alpha, beta=beta)
            run_id = _train_condition(config, eval_csv, rankings[mode], mode, augment, 0, (folder, label), state,
                                      {"lr": lr})
            grid += scored_points(alpha, beta, lr, store.metrics(run_id))
        chosen[mode] = choose_best(grid)
    return chosen


def summarise(store, runs: list[dict]) -> dict:
    """Per condition, metric (em, f1, recall) and field: `clues.stats.describe` over seeds of the value
    at the last epoch — {"mean", "std" (sample, ddof 1; None with one seed), "n" (seeds with the field),
    "low", "high" (95% t interval of the mean; None with one seed), "confidence"}."""
    summary = {}
    for condition in dict.fromkeys(r["condition"] for r in runs):
        finals = [store.metrics(r["run_id"]) for r in runs if r["condition"] == condition]
        entry = {}
        for name in ("em", "f1", "recall"):
            values = [_final(m, name) for m in finals]
            entry[name] = {f: describe([v[f] for v in values if f in v]).as_dict()
                           for f in FACT_FIELDS if any(f in v for v in values)}
        summary[condition] = entry
    return summary


PAIRED_COMPARISONS = (("contrast", "none"), ("contrast", "position"), ("contrast", "oracle"), ("contrast", "replace"),
                      ("contrast", "plain"), ("contrast", "contrast:paper_mean"), ("contrast", "random"),
                      ("contrast", "attention"), ("oracle", "none"))


def paired_differences(store, runs: list[dict], a: str, b: str, name: str, fields=FAR_FIELDS) -> dict:
    """Condition a − condition b paired by seed (same seed, same people, same optimizer steps): per
    seed, the mean over `fields` (those both runs have) of a − b for metric `name` at the last epoch.
    {"per_seed": {seed: difference}, "wins": seeds where a > b (the one count of seeds the report
    gives: "wins of n seeds favour a", `favour_text`), and `clues.stats.describe` of the differences:
    "mean", "std" (ddof 1), "n", "low", "high" (95% t interval)}; {} when no seed has both."""
    by_seed: dict[int, dict[str, dict]] = {}
    for run in runs:
        if run["condition"] in (a, b):
            values = _final(store.metrics(run["run_id"]), name, fields)
            if values:
                by_seed.setdefault(run["seed"], {})[run["condition"]] = values
    per_seed = {}
    for seed, both in sorted(by_seed.items()):
        common = [f for f in fields if a in both and b in both and f in both[a] and f in both[b]]
        if common:
            per_seed[seed] = float(np.mean([both[a][f] - both[b][f] for f in common]))
    if not per_seed:
        return {}
    spread = describe(per_seed.values())
    return {"per_seed": per_seed, "wins": sum(d > 0 for d in per_seed.values()), **spread.as_dict()}


def favour_text(row: dict) -> str:
    """How a paired difference counts its seeds, everywhere: "2 of 3 seeds favour contrast" (a > b)."""
    seeds = "1 seed favours" if row["n"] == 1 else f"{row['n']} seeds favour"
    return f"{row['wins']} of {seeds} {row['a']}"


def paired_table(store, runs: list[dict], comparisons=PAIRED_COMPARISONS) -> list[dict]:
    """paired_differences for every comparison whose two conditions ran, for EM, F1 and recall."""
    present = {r["condition"] for r in runs}
    rows = []
    for a, b in comparisons:
        if a in present and b in present:
            for name in ("em", "f1", "recall"):
                result = paired_differences(store, runs, a, b, name)
                if result:
                    rows.append({"a": a, "b": b, "metric": name, **result})
    return rows


def _log(enabled: bool, message: str) -> None:
    if enabled:
        print(f"[experiment] {message}", file=sys.stderr, flush=True)


def reported_experiment_paths(docs: Path | None = None) -> list[Path]:
    """The results files of every experiment the repository reports: docs/results.json first, then any other
    docs/results-*.json (e.g. the same protocol on another model of the pair, or with a wider grid)."""
    docs = Path(docs) if docs else REPORTED_EXPERIMENT.parent
    return [path for path in [docs / REPORTED_EXPERIMENT.name, *sorted(docs.glob("results-*.json"))]
            if path.is_file()]


def reported_experiments(docs: Path | None = None) -> list[dict]:
    """Every experiment the repository reports, in `reported_experiment_paths` order."""
    return [json.loads(path.read_text(encoding="utf-8")) for path in reported_experiment_paths(docs)]


def on_bundled_pair(results: dict) -> bool:
    """Whether an experiment ran on the bundled pair's weights: the large and small fingerprints it names are the
    weights now in assets/demo-models (one that names none, or a pair not bundled, is taken as it is). A pair
    rebuilt since is told apart from the experiments of the one before it."""
    named = results.get("fingerprints") or {}
    return all(named.get(size) in (None, weights_fingerprint(ref))
               for size, ref in (("large", DEMO_LARGE), ("small", DEMO_SMALL)) if Path(ref).is_dir())


def settings_tried(results: dict) -> int:
    """How many settings (α, β, lr) an experiment tried on validation people, summed over its conditions."""
    return sum(_points_tried(choice) for choice in (results.get("selection") or {}).values())


def _points_tried(choice: dict) -> int:
    """The (α, β, lr) settings one condition's choice tried; its epochs are not settings."""
    return len({(p["alpha"], p["beta"], p["lr"]) for p in choice.get("grid") or []})


def headline_index(experiments: list[dict], model: str | None = None) -> int:
    """Which of `experiments` the README and How it works tell: of those that chose their settings on validation
    people for `model` (default: the model the demo trains by default; these weights), the one that tried the most
    settings — its choices are the least likely to sit at a grid's edge — the earlier on a tie; the first when
    none did."""
    model = model or default_trained(DEMO_LARGE, DEMO_SMALL)
    trained = [i for i, results in enumerate(experiments) if Path(model).is_dir() and _trained(results, model)]
    return max(trained, key=lambda i: (settings_tried(experiments[i]), -i)) if trained else 0


def reported_headline() -> tuple[Path, dict] | None:
    """(results file, results) of the experiment the README and How it works tell, `headline_index` of the
    reported ones; None where the repository reports none."""
    paths = reported_experiment_paths()
    experiments = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
    head = headline_index(experiments) if experiments else None
    return (paths[head], experiments[head]) if experiments else None


def reported_experiment_file() -> Path | None:
    """The results file (docs/results*.json; its report is the .md beside it) of the experiment told, or None."""
    headline = reported_headline()
    return headline[0] if headline else None


def reported_experiment() -> dict | None:
    """The experiment the README and How it works tell, or None."""
    headline = reported_headline()
    return headline[1] if headline else None


def _in_repository(ref) -> Path:
    """A model path as an experiment's config names it: relative ones are of the repository."""
    path = Path(str(ref))
    return path if path.is_absolute() else REPORTED_EXPERIMENT.parents[1] / path


def chosen_per_condition(experiments, model: str) -> dict[str, dict]:
    """{condition: {alpha, beta, lr, epoch, epochs}}: what the experiments (results dicts, or one) that trained
    `model` chose per condition on validation people (a relative path in its config is of the repository); {} if
    none did — a choice made for one model says nothing about another. Where several chose for a condition, the
    one that tried the most settings (α, β, lr) for it wins, the earlier on a tie: a wider grid's choice is not at
    a narrower one's edge. `epochs` is the schedule the choice was made on: `epoch` is where to stop within it."""
    chosen: dict[str, dict] = {}
    tried: dict[str, int] = {}
    for results in [experiments] if isinstance(experiments, dict) else list(experiments or []):
        if not _trained(results, model):
            continue
        for condition, choice in results["selection"].items():
            points = _points_tried(choice)
            if condition not in chosen or points > tried[condition]:
                keys = ("alpha", "beta", "lr", "epoch")
                chosen[condition] = {**{k: choice[k] for k in keys}, "epochs": results["config"]["epochs"]}
                tried[condition] = points
    return chosen


def _trained(results: dict, model: str) -> bool:
    """Whether an experiment's results chose settings on validation people for `model` (these weights)."""
    config = results.get("config") or {}
    if not config.get("model") or not results.get("selection"):
        return False
    weights = (results.get("fingerprints") or {}).get("model")  # other weights at the same path: not its choice
    return (_in_repository(config["model"]).resolve() == Path(model).resolve()
            and (weights is None or weights == weights_fingerprint(model)))
