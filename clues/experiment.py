"""The experiment: does contrast-guided dropout help a model memorise far facts?

Continual pretraining of a copy of one model on new people's biographies under the conditions
plain (none), random dropout, dropout ranked by the model's own attention, and dropout ranked
by the large − small contrast; the same number of optimizer steps for all (every condition
trains on K copies plus the original). After each epoch: few-shot QA EM/F1 and the name-keyed
recall probe per field, all in the run store. α and β are either given (default: the paper's
settings) or chosen on a validation split of people, never on the test people.

Also measured: at the word before each fact, the attention the large and the small model give
to the name, and how often a name token is in the contrast top-5 (the paper's figure 3).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from clues import FIELDS
from clues.errors import InputError

FACT_FIELDS = FIELDS[1:]
FAR_FIELDS = ("university", "major", "company")


@dataclass
class ExperimentConfig:
    model: str | None = None  # the model trained (default: the pair's small model)
    large: str | None = None  # default: the bundled demo pair
    small: str | None = None
    people: int = 100  # test people, new to the model
    validation_people: int = 50  # for choosing α and β (only with select)
    conditions: tuple[str, ...] = ("none", "random", "attention", "contrast")
    alpha: float = 0.7
    beta: float = 0.05
    select: bool = False
    alphas: tuple[float, ...] = (0.6, 0.7)
    betas: tuple[float, ...] = (0.01, 0.05)
    copies: int = 10
    style: str = "mask"
    epochs: int = 4
    lr: float = 1e-3
    batch_size: int = 16
    seeds: tuple[int, ...] = (0,)
    shots: int = 3
    out: str = "out/experiment"
    store_path: str | None = None
    data_seed: int | None = None  # people generator seed (default: clues.demo's experiment seed)
    max_active: int = 1  # training runs at once on one device (raise it to run seeds side by side)

    def validate(self) -> None:
        from clues.augment import MODES, validate

        unknown = [c for c in self.conditions if c not in MODES]
        if unknown:
            raise InputError(f"Unknown condition(s) {', '.join(unknown)}; use some of {', '.join(MODES)}.")
        validate(self.alpha, self.beta, self.copies, self.style)
        if self.people < 4:
            raise InputError(f"people = {self.people}: give at least 4 people (the QA shots come from the others).")
        if self.epochs < 1:
            raise InputError(f"epochs = {self.epochs}: train for at least 1 epoch.")
        if not self.seeds:
            raise InputError("Give at least one seed.")


def split_people(config: ExperimentConfig):
    """(test people, validation people): new biographies in the paper's standard template."""
    try:
        from clues.demo import experiment_people
    except ImportError:  # no demo builder: any seeded corpus will do
        experiment_people = None
    total = config.people + config.validation_people
    if experiment_people is not None and config.data_seed is None:
        people = experiment_people(total, varied=False)
    else:
        from clues.corpus import generate_biographies

        people = generate_biographies(total, seed=config.data_seed or 0, varied=False)
    return list(people[:config.people]), list(people[config.people:])


def attention_to_name(large, small, people, *, top_k: int = 5) -> dict:
    """Per fact field: mean attention to the name from the word before the fact (both models),
    and how often a name token is among the contrast top-k of the text."""
    from clues.contrast import contrast_text, query_rows, unit_before

    per_field = {f: {"large": [], "small": []} for f in FACT_FIELDS}
    top_hits = []
    for person in people:
        result = contrast_text(large, small, person.text, spans=person.spans)
        names = np.array([c.field == "name" for c in result.clues])
        top_hits.append(any(c.field == "name" for c in result.top(top_k)))
        for field_name in FACT_FIELDS:
            span = person.span(field_name)
            query = unit_before(result, span.start) if span else None
            if query is None:
                continue
            rows = query_rows(result, query)
            per_field[field_name]["large"].append(float(rows["large"][names].sum()))
            per_field[field_name]["small"].append(float(rows["small"][names].sum()))
    table = {f: {m: float(np.mean(v)) if v else float("nan") for m, v in d.items()} for f, d in per_field.items()}
    return {"to_name": table, "name_in_top_k": float(np.mean(top_hits)) if top_hits else float("nan"),
            "top_k": top_k, "texts": len(people)}


def weights_fingerprint(ref: str) -> str:
    """First 12 hex digits of the sha256 of a model folder's safetensors (which pair a result is from)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(Path(ref).glob("*.safetensors")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _write_people(path: Path, people) -> str:
    from clues.corpus import write_tagged_csv

    write_tagged_csv(path, people)
    return str(path)


def _train_condition(config: ExperimentConfig, corpus, eval_csv: str, ranked, mode: str, alpha: float,
                     beta: float, seed: int, folder: Path, label: str) -> int:
    """Train one condition in-process; built as the app builds a comparison's runs."""
    from clues.launch import condition_config
    from clues.train import TrainConfig, train

    base = TrainConfig(model=config.model, data="", eval_data=eval_csv, epochs=config.epochs, lr=config.lr,
                       batch_size=config.batch_size, seed=seed, eval_shots=config.shots, eval_max_people=None,
                       store_path=config.store_path, max_active=config.max_active,
                       extra={"experiment": str(folder)})
    settings = condition_config(base, corpus, mode, folder / f"{label}.csv", name=label, alpha=alpha, beta=beta,
                                copies=config.copies, style=config.style, ranked=ranked)
    return train(settings)


def _final(metrics, name: str, fields=FACT_FIELDS) -> dict:
    """{field: value} of metric `name` at the last evaluated epoch."""
    rows = metrics[(metrics["name"] == name) & metrics["field"].notna()]
    if rows.empty:
        return {}
    last = rows[rows["epoch"] == rows["epoch"].max()]
    return {f: float(last[last["field"] == f]["value"].iloc[0]) for f in fields if (last["field"] == f).any()}


def _score(metrics) -> float:
    """What α/β selection maximises: mean EM + recall over the far fields."""
    em, recall = _final(metrics, "em", FAR_FIELDS), _final(metrics, "recall", FAR_FIELDS)
    values = list(em.values()) + list(recall.values())
    return float(np.mean(values)) if values else 0.0


def run_experiment(config: ExperimentConfig, *, progress: bool = True) -> dict:
    """Run every condition and seed; return (and write to out/results.json) the results."""
    from clues.augment import rank_corpus
    from clues.models import DEMO_LARGE, DEMO_SMALL, load_model
    from clues.runs import RunStore

    config.validate()
    config.large, config.small = config.large or DEMO_LARGE, config.small or DEMO_SMALL
    config.model = config.model or config.small
    folder = Path(config.out)
    folder.mkdir(parents=True, exist_ok=True)
    store = RunStore(config.store_path)
    config.store_path = str(store.path)
    started = time.time()
    large, small = load_model(config.large, device="cpu"), load_model(config.small, device="cpu")
    test, validation = split_people(config)
    test_csv = _write_people(folder / "test-people.csv", test)
    attention = attention_to_name(large, small, test)
    _log(progress, f"attention to the name measured on {len(test)} biographies")
    ranked_test = {m: rank_corpus(test, m, large=large, small=small) for m in config.conditions}
    settings = {m: (config.alpha, config.beta) for m in config.conditions}
    selection = {}
    if config.select and validation:
        selection = _select(config, large, small, validation, folder, progress)
        settings.update({m: (s["alpha"], s["beta"]) for m, s in selection.items()})
    runs = []
    for seed in config.seeds:
        for mode in config.conditions:
            alpha, beta = settings[mode]
            label = f"experiment-{mode}-seed{seed}"
            _log(progress, f"training {label} (α={alpha}, β={beta}, style={config.style})")
            run_id = _train_condition(config, test, test_csv, ranked_test[mode], mode, alpha, beta, seed,
                                      folder, label)
            runs.append({"condition": mode, "seed": seed, "run_id": run_id, "alpha": alpha, "beta": beta})
    fingerprints = {"large": weights_fingerprint(config.large), "small": weights_fingerprint(config.small)}
    results = {"config": asdict(config), "fingerprints": fingerprints, "attention": attention, "selection": selection, "runs": runs,
               "summary": summarise(store, runs), "seconds": time.time() - started}
    (folder / "results.json").write_text(json.dumps(results, indent=2))
    return results


def merge_results(paths) -> dict:
    """One result from several runs of the experiment (e.g. one process per seed, one store)."""
    from clues.runs import RunStore

    parts = [json.loads(Path(p, "results.json").read_text()) for p in paths]
    merged = dict(parts[0])
    merged["runs"] = [run for part in parts for run in part["runs"]]
    merged["config"] = dict(parts[0]["config"], seeds=sorted({r["seed"] for r in merged["runs"]}))
    merged["seconds"] = max(part["seconds"] for part in parts)
    merged["summary"] = summarise(RunStore(merged["config"]["store_path"]), merged["runs"])
    return merged


def _select(config, large, small, validation, folder: Path, progress: bool) -> dict:
    """Choose α (and β) per condition on the validation people, one seed."""
    from clues.augment import rank_corpus
    from clues.runs import RunStore

    store = RunStore(config.store_path)
    eval_csv = _write_people(folder / "validation-people.csv", validation)
    chosen = {}
    for mode in config.conditions:
        if mode == "none":
            continue
        ranked = rank_corpus(validation, mode, large=large, small=small)
        grid = [(a, 0.0) for a in config.alphas] if mode == "random" else \
            [(a, b) for a in config.alphas for b in config.betas]
        scores = []
        for alpha, beta in grid:
            label = f"select-{mode}-a{alpha}-b{beta}"
            _log(progress, f"validation: {label}")
            run_id = _train_condition(config, validation, eval_csv, ranked, mode, alpha, beta, 0, folder, label)
            scores.append((_score(store.metrics(run_id)), alpha, beta))
        best = max(scores)
        chosen[mode] = {"alpha": best[1], "beta": best[2], "score": best[0],
                        "grid": [{"alpha": a, "beta": b, "score": s} for s, a, b in scores]}
    return chosen


def summarise(store, runs: list[dict]) -> dict:
    """Per condition and field: mean and std over seeds of the final EM, F1 and recall."""
    summary = {}
    for condition in dict.fromkeys(r["condition"] for r in runs):
        finals = [store.metrics(r["run_id"]) for r in runs if r["condition"] == condition]
        entry = {}
        for name in ("em", "f1", "recall"):
            values = [_final(m, name) for m in finals]
            entry[name] = {f: {"mean": float(np.mean([v[f] for v in values if f in v])),
                               "std": float(np.std([v[f] for v in values if f in v])),
                               "n": sum(f in v for v in values)}
                           for f in FACT_FIELDS if any(f in v for v in values)}
        summary[condition] = entry
    return summary


def _log(enabled: bool, message: str) -> None:
    if enabled:
        import sys

        print(f"[experiment] {message}", file=sys.stderr, flush=True)


# ---- the report -------------------------------------------------------------------------

PAPER_TABLE_2 = """| LLaMA 3 8B (paper, Table 2) | date | city | university | major | company |
|---|---|---|---|---|---|
| plain fine-tuning EM | — | — | — | — | 0.17 |
| contrast dropout EM | — | — | — | — | 0.42 |"""


def curves(store, runs: list[dict], name: str):
    """DataFrame condition, epoch, field, mean, std of metric `name` over seeds."""
    import pandas as pd

    frames = []
    for run in runs:
        metrics = store.metrics(run["run_id"])
        rows = metrics[(metrics["name"] == name) & metrics["field"].notna()].copy()
        rows["condition"], rows["seed"] = run["condition"], run["seed"]
        frames.append(rows[["condition", "seed", "epoch", "field", "value"]])
    if not frames:
        return pd.DataFrame(columns=["condition", "epoch", "field", "mean", "std"])
    both = pd.concat(frames)
    return both.groupby(["condition", "epoch", "field"])["value"].agg(mean="mean", std="std").reset_index()


def curve_figure(table, fields, title: str):
    """One panel per field, one line per condition (mean over seeds, band = std)."""
    from plotly.subplots import make_subplots
    import plotly.graph_objects as go

    figure = make_subplots(rows=1, cols=len(fields), subplot_titles=list(fields), shared_yaxes=True)
    colours = {"none": "#636363", "random": "#1f77b4", "attention": "#ff7f0e", "contrast": "#d62728"}
    for column, field_name in enumerate(fields, start=1):
        for condition, rows in table[table["field"] == field_name].groupby("condition", sort=False):
            figure.add_trace(go.Scatter(x=rows["epoch"], y=rows["mean"], name=condition, mode="lines+markers",
                                        line={"color": colours.get(condition)}, legendgroup=condition,
                                        showlegend=column == 1,
                                        error_y={"type": "data", "array": rows["std"].fillna(0), "visible": True}),
                             row=1, col=column)
    figure.update_layout(title=title, height=330, width=260 * len(fields) + 120, template="plotly_white")
    figure.update_yaxes(range=[-0.02, 1.02])
    figure.update_xaxes(title_text="epoch")
    return figure


def _markdown_table(summary: dict, name: str) -> str:
    header = "| condition | " + " | ".join(FACT_FIELDS) + " | far mean |\n|---|" + "---|" * (len(FACT_FIELDS) + 1)
    lines = [header]
    for condition, entry in summary.items():
        cells, far = [], []
        for f in FACT_FIELDS:
            value = entry.get(name, {}).get(f)
            if value is None:
                cells.append("—")
                continue
            cells.append(f"{value['mean']:.2f} ± {value['std']:.2f}")
            if f in FAR_FIELDS:
                far.append(value["mean"])
        lines.append(f"| {condition} | " + " | ".join(cells) + f" | {np.mean(far) if far else float('nan'):.2f} |")
    return "\n".join(lines)


def write_report(results: dict, path: str = "docs/results.md", figures: str | None = None) -> str:
    """docs/results.md with the set-up, tables, curve PNGs and a plain verdict."""
    from clues.runs import RunStore

    store = RunStore(results["config"]["store_path"])
    figures = figures or str(Path(path).parent / "figures")
    Path(figures).mkdir(parents=True, exist_ok=True)
    images = []
    for name, title in (("em", "Few-shot QA exact match"), ("recall", "Name-keyed recall probe")):
        table = curves(store, results["runs"], name)
        if table.empty:
            continue
        image = Path(figures) / f"experiment-{name}.png"
        curve_figure(table, FACT_FIELDS, title).write_image(str(image), scale=1.5)
        images.append((title, image))
    text = _report_text(results, images, Path(path).parent)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)
    return path


def _report_text(results: dict, images, base: Path) -> str:
    c, a, s = results["config"], results["attention"], results["summary"]
    attention_rows = "\n".join(f"| {f} | {v['large']:.3f} | {v['small']:.3f} | {v['large'] / max(v['small'], 1e-9):.2f}× |"
                               for f, v in a["to_name"].items())
    settings = "; ".join(f"{r['condition']}: α={r['alpha']}, β={r['beta']}" for r in results["runs"]
                         if r["seed"] == c["seeds"][0])
    figures = "\n\n".join(f"![{title}]({image.relative_to(base) if image.is_relative_to(base) else image})"
                          for title, image in images)
    verdict = _verdict(results)
    return f"""# Results on the bundled demo pair

Written by `python -m clues experiment` ({results['seconds'] / 60:.1f} min on this machine). Every number
here comes from the run store; rerun the command to reproduce it.

## Set-up
- Trained model: `{c['model']}` (full fine-tuning), contrast from `{c['large']}` − `{c['small']}`
  (weights sha256 {results.get('fingerprints', {}).get('large', '?')} / {results.get('fingerprints', {}).get('small', '?')}).
- {c['people']} new people (never in the demo pair's pretraining), the paper's standard biography template.
- Conditions: {', '.join(c['conditions'])}; {c['copies']} augmented copies + the original for every condition
  (plain repeats the original), so all conditions take the same optimizer steps.
- Drop style: `{c['style']}`. Settings: {settings}. {"α/β chosen on " + str(c['validation_people']) + " validation people." if c['select'] else "α/β fixed at the paper's settings (not tuned on the test people)."}
- {c['epochs']} epochs, lr {c['lr']}, batch {c['batch_size']}, seeds {list(c['seeds'])}; {c['shots']}-shot QA.

## Attention to the name (the paper's figure 3, in numbers)
Attention from the word right before each fact to the name tokens, mean over {a['texts']} biographies:

| fact | large | small | large / small |
|---|---|---|---|
{attention_rows}

A name token is among the contrast top-{a['top_k']} in {a['name_in_top_k']:.0%} of the biographies.

## Final-epoch few-shot QA exact match (mean ± std over seeds)
{_markdown_table(s, 'em')}

## Final-epoch name-keyed recall probe (mean ± std over seeds)
The probe fills the template with the person's true name and every earlier fact taken from someone else, so
it can only succeed through the name.

{_markdown_table(s, 'recall')}

## Curves
{figures}

## For reference: the paper
{PAPER_TABLE_2}

## What holds on the demo, and what does not
{verdict}
"""


def _verdict(results: dict) -> str:
    a, s = results["attention"], results["summary"]
    lines = []
    far_large = np.mean([a["to_name"][f]["large"] for f in FAR_FIELDS])
    far_small = np.mean([a["to_name"][f]["small"] for f in FAR_FIELDS])
    lines.append(f"- The large model attends to the name from before far facts "
                 f"{'more' if far_large > far_small else 'less'} than the small one "
                 f"({far_large:.3f} vs {far_small:.3f}): the paper's claim "
                 f"{'holds' if far_large > far_small else 'does not hold'} here.")

    def far(condition, name):
        entry = s.get(condition, {}).get(name, {})
        values = [entry[f]["mean"] for f in FAR_FIELDS if f in entry]
        return float(np.mean(values)) if values else float("nan")

    def near(condition, name):
        entry = s.get(condition, {}).get(name, {})
        values = [entry[f]["mean"] for f in ("date", "city") if f in entry]
        return float(np.mean(values)) if values else float("nan")

    if "none" in s:
        for name, label in (("em", "QA exact match"), ("recall", "recall probe")):
            lines.append(f"- Plain training, {label}: near facts {near('none', name):.2f}, far facts "
                         f"{far('none', name):.2f} — far facts are learned "
                         f"{'worse' if far('none', name) < near('none', name) else 'no worse'}.")
    if "contrast" in s:
        for name, label in (("em", "QA exact match"), ("recall", "recall probe")):
            others = {c: far(c, name) for c in s if c != "contrast"}
            best_other = max(others.items(), key=lambda kv: kv[1]) if others else ("-", float("nan"))
            verdict = "beats" if far("contrast", name) > best_other[1] else "does not beat"
            lines.append(f"- Contrast dropout, far-fact {label}: {far('contrast', name):.2f}; it {verdict} the "
                         f"best other condition ({best_other[0]}, {best_other[1]:.2f}).")
    seeds = len(results["config"]["seeds"])
    if seeds < 3:
        lines.append(f"- Only {seeds} seed(s): differences smaller than the spread are not evidence.")
    return "\n".join(lines)
