"""The experiment's report: docs/results.md with the set-up, tables, curve figures and a plain verdict.

`write_report(results, path)` takes what `clues.experiment.run_experiment` (or `merge_results`)
returns, reads the curves from the run store, saves one PNG per metric beside the report and
renders `clues/builders/templates/experiment_report.md`. The PNGs need kaleido (a development
requirement): without it the report is written all the same, and one printed line says why the
figures are not.

Spreads are shown one way (`clues.stats`): "mean ± sample std (n = k)", the 95% t interval for paired
differences, "n/a" where one seed leaves them undefined, and seeds counted as "k of n seeds favour a".
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from clues.builders import render_template
from clues.builders.readme import write_section
from clues.corpus import FACT_FIELDS
from clues.experiment import (
    FAR_FIELDS,
    favour_text,
    headline_index,
    in_usual_order,
    on_bundled_pair,
    reported_experiment_paths,
)
from clues.figures import CONDITION_COLORS
from clues.runs import RunStore
from clues.settings import TRAINABLE
from clues.stats import interval_text, spread_text

NEAR_FIELDS = ("date", "city")
# The paired differences the verdict reads (the experiment computes more; the report's table has them all).
VERDICT_COMPARISONS = (("contrast", "none"), ("contrast", "position"), ("contrast", "oracle"), ("contrast", "replace"))
METRIC_LABELS = {"em": "QA exact match", "f1": "QA F1", "recall": "recall"}


def forgetting_lines(em_curves: dict) -> list[str]:
    """A condition whose mean QA EM over the fields (mean over seeds) ends far below its best epoch learned
    to answer and then lost it (the facts may still be stored: see the recall probe)."""
    lines = []
    for condition, fields in em_curves.items():
        curve = fields.get("mean")
        if not curve or len(curve) < 3:
            continue
        best = max(range(len(curve)), key=curve.__getitem__)
        if curve[best] - curve[-1] >= 0.1:
            lines.append(f"- {condition}: QA exact match (mean of the fields) peaks at {curve[best]:.2f} after epoch "
                         f"{best} and ends at {curve[-1]:.2f}: it learned to answer, then lost it.")
    return lines


def reading(row: dict) -> str:
    """What a paired difference says, in words, from its 95% interval."""
    if row.get("low") is None:
        return "one seed: no interval, so no evidence either way"
    if row["low"] > 0 or row["high"] < 0:
        return "the 95% interval excludes 0: a consistent difference"
    return "the 95% interval includes 0: within the seed-to-seed spread"
NO_KALEIDO = "figures not written: install kaleido (pip install kaleido) to export PNGs"
NO_CHROME = "figures not written: kaleido needs Chrome to export PNGs (run plotly_get_chrome)"


def curves(store, runs: list[dict], name: str) -> pd.DataFrame:
    """DataFrame condition, epoch, field, mean, std of metric `name` over seeds."""
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


def curve_figure(table: pd.DataFrame, fields, title: str) -> go.Figure:
    """One panel per field, one line per condition (mean over seeds, band = std), in the
    conditions' colours of `clues.figures.CONDITION_COLORS`."""
    figure = make_subplots(rows=1, cols=len(fields), subplot_titles=list(fields), shared_yaxes=True)
    for column, field_name in enumerate(fields, start=1):
        for condition, rows in table[table["field"] == field_name].groupby("condition", sort=False):
            figure.add_trace(go.Scatter(x=rows["epoch"], y=rows["mean"], name=condition, mode="lines+markers",
                                        line={"color": CONDITION_COLORS.get(condition)}, legendgroup=condition,
                                        showlegend=column == 1,
                                        error_y={"type": "data", "array": rows["std"].fillna(0), "visible": True}),
                             row=1, col=column)
    figure.update_layout(title=title, height=330, width=260 * len(fields) + 120, template="plotly_white")
    figure.update_yaxes(range=[-0.02, 1.02])
    figure.update_xaxes(title_text="epoch")
    return figure


MAIN_REPORT = "results.md"  # its figures are named experiment-*.png; other reports' after themselves


def write_report(results: dict, path: str = "docs/results.md", figures: str | None = None) -> str:
    """docs/results.md with the set-up, tables, curve PNGs and a plain verdict. Without kaleido (or the
    Chrome it drives) the PNGs are left out with one line on stderr, and the report is still written.

    Every report rewrites the README's "What the demo shows" from all the experiments reported beside it
    (`readme_summary`); one not named results.md (e.g. docs/results-large.md, a second experiment) names its PNGs
    after itself, beside the main report's."""
    store = RunStore(results["config"]["store_path"])
    main = Path(path).name == MAIN_REPORT
    prefix = "experiment" if main else Path(path).stem
    figures = figures or str(Path(path).parent / "figures")
    tables = [(name, title, curves(store, results["runs"], name))
              for name, title in (("em", "Few-shot QA exact match"), ("recall", "Name-keyed recall probe"))]
    tables = [(name, title, table) for name, title, table in tables if not table.empty]
    images, missing = [], png_export_problem() if tables else None
    for name, title, table in tables:
        if missing:
            break
        Path(figures).mkdir(parents=True, exist_ok=True)
        image = Path(figures) / f"{prefix}-{name}.png"
        try:
            curve_figure(table, FACT_FIELDS, title).write_image(str(image), scale=1.5)
        except RuntimeError as error:  # plotly's words for a kaleido it cannot use
            if "chrome" in str(error).lower():
                missing = NO_CHROME
            elif "kaleido" in str(error).lower():
                missing = NO_KALEIDO
            else:
                raise
            break
        images.append((title, image))
    if missing:
        print(missing, file=sys.stderr, flush=True)
    published = published_results(results, store)
    text = report_text(published, images, Path(path).parent, figures_missing=missing)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)
    Path(path).with_suffix(".json").write_text(json.dumps(published, indent=1) + "\n")
    readme = Path(path).resolve().parent.parent / "README.md"  # docs/results.md → the checkout's README
    beside = reported_beside(Path(path).parent)  # none where the report is no docs/results*.md
    if beside and write_section(readme, "demo-shows", readme_summary(beside)):
        print(f"wrote what the demo shows into {readme}", file=sys.stderr)
    return path


def published_results(results: dict, store) -> dict:
    """What the repository keeps of an experiment beside its report (results.json): the results without
    machine paths, with the mean curves over seeds per condition, metric and field (so pages and the
    README read numbers, never retype them)."""
    config = {**results["config"], "store_path": None}
    for key in ("model", "large", "small"):
        config[key] = shown_model(config[key])
    mean_curves = {}
    for name in ("em", "f1", "recall"):
        table = curves(store, results["runs"], name)
        mean_curves[name] = {condition: {field: [round(float(v), 4) for v in rows.sort_values("epoch")["mean"]]
                                         for field, rows in by_condition.groupby("field")}
                             for condition, by_condition in table.groupby("condition")}
    return {**results, "config": config, "curves": mean_curves}


def reported_beside(docs: Path) -> list[tuple[str, dict]]:
    """(report as the README names it, e.g. docs/results.md; its published results) of every experiment in
    `docs`, docs/results.json first."""
    return [(f"{docs.name}/{path.with_suffix('.md').name}", json.loads(path.read_text(encoding="utf-8")))
            for path in reported_experiment_paths(docs)]


def readme_summary(experiments: list[tuple[str, dict]]) -> str:
    """The README's "What the demo shows", from the published experiments ((report, results), as
    `reported_beside` gives them): far-field QA EM per condition in each, then the headline one
    (`headline_index`: the default trained model, the most settings tried) per field, with its verdict. Only the
    experiments on the bundled pair's weights are told (all of them where none is); the others are named as
    measured on an earlier pair, with the command that reruns them."""
    earlier = [(name, results) for name, results in experiments if not on_bundled_pair(results)]
    experiments = [entry for entry in experiments if entry not in earlier] or experiments
    head_name, head = experiments[headline_index([results for _, results in experiments])]
    lines = ["Far-field QA exact match (university, major, company; mean over seeds at each run's last epoch) in "
             "every experiment the repository reports:", "",
             "| condition | " + " | ".join(f"`{name}`" for name, _ in experiments) + " |",
             "|---" * (len(experiments) + 1) + "|"]
    for condition in in_usual_order(c for _, results in experiments for c in results["summary"]):
        cells = [_mean_over(results["summary"], condition, "em", FAR_FIELDS) for _, results in experiments]
        lines.append(f"| {condition} | " + " | ".join("—" if np.isnan(v) else f"{v:.2f}" for v in cells) + " |")
    lines.append("")
    lines += [f"- `{name}`: {experiment_setup(results)}." for name, results in experiments]
    lines += _earlier_lines(earlier, told=experiments)
    c, s, f = head["config"], head["summary"], head.get("fingerprints", {})
    lines += ["", f"**`{head_name}`** is told here and on How it works: of the experiments that chose their settings "
              "for the model the demo trains by default, it tried the most. Written by `clues experiment` on the "
              f"bundled pair whose weights' sha256 start `{f.get('large', '?')}` (large) / `{f.get('small', '?')}` "
              f"(small); few-shot QA exact match per field (mean over {plural(len(c['seeds']), 'seed')}):", ""]
    lines.append("| condition | " + " | ".join(FACT_FIELDS) + " | far mean |")
    lines.append("|---" * (len(FACT_FIELDS) + 2) + "|")
    for condition, entry in s.items():
        em = entry.get("em", {})
        far = [em[f]["mean"] for f in FAR_FIELDS if f in em]
        cells = [f"{em[f]['mean']:.2f}" if f in em else "—" for f in FACT_FIELDS]
        cells.append(f"{np.mean(far):.2f}" if far else "—")
        lines.append(f"| {condition} | " + " | ".join(cells) + " |")
    lines += ["", verdict(head), *beyond_lines(head, experiments), "",
              "`docs/benchmarks.md` has the speed and memory measurements."]
    return "\n".join(lines)


def _earlier_lines(earlier: list[tuple[str, dict]], told: list[tuple[str, dict]]) -> list[str]:
    """The experiments measured on other weights than the bundled pair's, named with the weights they ran on."""
    if not earlier:
        return []
    ran_on = ", ".join(f"`{name}` (large `{(results.get('fingerprints') or {}).get('large', '?')}`)"
                       for name, results in earlier)
    if all(entry in earlier for entry in told):
        return ["", f"None of these ran on the bundled pair's weights: {ran_on}. Rerun them on it with "
                "`bash scripts/bundle_pair.sh assets/demo-models experiments`."]
    return ["", f"Measured on an earlier bundled pair, not on these weights, so not told here: {ran_on}. "
            "`bash scripts/bundle_pair.sh assets/demo-models experiments` reruns them on it."]


def beyond_lines(head: dict, experiments: list[tuple[str, dict]]) -> list[str]:
    """Where `head` chose a condition's setting at an edge of its grid (edge_lines) and another experiment on the
    same model and weights tried past that edge: what it chose there on validation people and what its test runs
    answered — whether the wider search would have mattered, measured rather than guessed."""
    lines = []
    for name, results in experiments:
        if results is head or results["config"]["model"] != head["config"]["model"] or \
                (results.get("fingerprints") or {}).get("model") != (head.get("fingerprints") or {}).get("model"):
            continue
        for condition, choice in (results.get("selection") or {}).items():
            past = _past_edges(head, condition, results)
            if not past:
                continue
            tried = {(p["alpha"], p["lr"]) for p in choice.get("grid") or []}
            c = results["config"]
            lines.append(f"- {condition}, past this grid's edge ({', '.join(past)}): `{name}` tried α "
                         f"{_values(sorted({a for a, _ in tried if a is not None}))} × lr "
                         f"{_values(sorted({lr for _, lr in tried}))} over {plural(c['epochs'], 'epoch')} and chose "
                         f"α {choice['alpha']:g}, lr {choice['lr']:g}, epoch {choice['epoch']} on validation people; "
                         f"far-field QA exact match {_mean_over(results['summary'], condition, 'em', FAR_FIELDS):.2f} "
                         f"({c['people']} test people, {plural(len(c['seeds']), 'seed')}).")
    return lines


def _past_edges(head: dict, condition: str, other: dict) -> list[str]:
    """The edges of `head`'s choice for `condition` that `other`'s grid for it went past."""
    grid = ((other.get("selection") or {}).get(condition) or {}).get("grid") or []
    past = []
    for key, label, value, side in choice_edges(head, condition) if grid else []:
        values = [p[key] for p in grid if p.get(key) is not None]
        if side == "smallest" and any(v < value for v in values) or \
                side == "largest" and any(v > value for v in values) or \
                side == "last" and other["config"]["epochs"] > head["config"]["epochs"]:
            past.append(f"{label} {value:g} the {side}")
    return past


def experiment_setup(results: dict) -> str:
    """One line: the trained model, people, seeds, epochs and what was chosen on validation people over which
    values."""
    c = results["config"]
    chosen = (f"α {_values(c.get('alphas'))} × lr {_values(c.get('lrs'))} and the epoch chosen per condition on "
              f"{c['validation_people']} validation people" if c.get("select")
              else "the paper's α and β, every run trained all epochs")
    return (f"`{c['model']}` trained, {c['people']} test people, {plural(len(c['seeds']), 'seed')}, "
            f"{plural(c['epochs'], 'epoch')} at most, {chosen}, {plural(len(c['conditions']), 'condition')}")


def _values(values) -> str:
    return "{" + ", ".join(f"{v:g}" for v in values or ()) + "}"


def png_export_problem() -> str | None:
    """None when kaleido can be imported (plotly exports PNGs through it), else the line saying so."""
    try:
        import kaleido  # noqa: F401, PLC0415 — optional: only the PNGs need it
    except ImportError:
        return NO_KALEIDO
    return None


def report_text(results: dict, images, base: Path, figures_missing: str | None = None) -> str:
    """The report's markdown (templates/experiment_report.md filled in); `images` are
    (title, path) pairs, linked relative to `base` when they lie under it; `figures_missing` says
    why there are none (in place of the figures)."""
    c, a, s = results["config"], results["attention"], results["summary"]
    attention_rows = "\n".join(f"| {f} | {v['large']:.3f} | {v['small']:.3f} | "
                               f"{v['large'] / max(v['small'], 1e-9):.2f}× |"
                               for f, v in a["to_name"].items())
    settings = "; ".join(f"{r['condition']}: "
                         + ("" if r["condition"] in ("none", "plain") else f"α={r['alpha']}, β={r['beta']}, ")
                         + f"lr {r.get('lr', c['lr']):g}, "
                         + plural(r.get("epoch", c["epochs"]), "epoch")  # none and plain drop nothing
                         for r in results["runs"] if r["seed"] == c["seeds"][0])
    figures = "\n\n".join(f"![{title}]({image.relative_to(base) if image.is_relative_to(base) else image})"
                          for title, image in images)
    if figures_missing:
        figures = (figures + "\n\n" if figures else "") + f"({figures_missing}.)"
    selection = (f"α, β, lr and the epoch chosen per condition on {c['validation_people']} validation people "
                 f"(best far-field QA exact match of a {c['epochs']}-epoch run; the test runs follow the same "
                 "schedule and stop after that epoch)." if c["select"]
                 else "α/β fixed at the paper's settings (not tuned on the test people); every run trains all "
                      "epochs.")
    fingerprints = results.get("fingerprints", {})
    return render_template(
        "experiment_report.md", minutes=results["seconds"] / 60, model=shown_model(c["model"]),
        large=shown_model(c["large"]), small=shown_model(c["small"]),
        fingerprint_large=fingerprints.get("large", "?"), fingerprint_small=fingerprints.get("small", "?"),
        fingerprint_model=fingerprints.get("model", "?"),
        importance=c.get("importance", "total"), people=c["people"], conditions=", ".join(c["conditions"]),
        copies=c["augment"]["copies"], style=c["augment"]["style"], settings=settings, selection=selection,
        epochs=c["epochs"],
        lr=c["lr"], batch_size=c["batch_size"], trainable=TRAINABLE[c.get("trainable", "all")],
        seeds=list(c["seeds"]), shots=c["shots"],
        attention_texts=a["texts"], attention_rows=attention_rows, top_k=a["top_k"],
        name_in_top_k=a["name_in_top_k"], em_table=markdown_table(s, "em"), f1_table=markdown_table(s, "f1"),
        recall_table=markdown_table(s, "recall"), paper_table=paper_markdown(paper_reference()),
        paired_table=paired_markdown(results.get("paired", [])),
        selection_table=selection_markdown(results.get("selection") or {}),
        figures=figures, verdict=verdict(results))


def paper_reference() -> dict:
    """The paper's own numbers (Table 1 and 2), quoted in data/paper_reference.json with their source."""
    return json.loads(resources.files(__package__).joinpath("data", "paper_reference.json").read_text("utf-8"))


def paper_markdown(reference: dict) -> str:
    """The paper's Table 1 (plain fine-tuning EM per field) and Table 2 (far-fact EM, plain → contrast)."""
    lines = ["| plain fine-tuning, QA EM (Table 1) | " + " | ".join(FACT_FIELDS) + " |",
             "|---" * (len(FACT_FIELDS) + 1) + "|"]
    for model, row in reference["table1_plain_em"].items():
        lines.append(f"| {model} | " + " | ".join(f"{row[f]:.2f}" for f in FACT_FIELDS) + " |")
    lines += ["", "| far facts, QA EM (Table 2) | university: plain → contrast | company: plain → contrast |",
              "|---|---|---|"]
    for model, row in reference["table2_far_em"].items():
        lines.append(f"| {model} | " + " | ".join(f"{row['plain'][f]:.2f} → {row['contrast'][f]:.2f}"
                                                   for f in ("university", "company")) + " |")
    return "\n".join(lines) + f"\n\n{reference['source']}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def selection_markdown(selection: dict) -> str:
    """The choice per condition on the validation people: α, β, the epoch, its validation score, and the best
    score of every (α, β) tried (the score: far-field QA exact match, `clues.experiment.epoch_scores`)."""
    if not selection:
        return "(no selection: every condition trained at the settings above for every epoch.)"
    lines = ["| condition | α | β | lr | epoch | validation far-field EM | every point tried: best epoch, EM |",
             "|---|---|---|---|---|---|---|"]
    for condition, chosen in selection.items():
        best = {}
        for point in chosen.get("grid", []):
            key = (point["alpha"], point["beta"], point.get("lr"))
            if key not in best or point["score"] > best[key]["score"]:
                best[key] = point
        tried = "; ".join(f"α {a}, β {b}" + (f", lr {lr:g}" if lr else "") + f": epoch {p['epoch']}, {p['score']:.3f}"
                          for (a, b, lr), p in best.items())
        lr = f"{chosen['lr']:g}" if chosen.get("lr") else "—"
        lines.append(f"| {condition} | {chosen['alpha']} | {chosen['beta']} | {lr} | {chosen.get('epoch', '—')} | "
                     f"{chosen['score']:.3f} | {tried} |")
    return "\n".join(lines)


def paired_markdown(rows: list[dict]) -> str:
    """The per-seed paired differences on the far fields as a markdown table: per seed, mean ± sample
    std (n = seeds), the 95% t interval of the mean and `favour_text`'s count of seeds."""
    if not rows:
        return "(no pair of conditions ran with the same seeds)"
    lines = ["| comparison | metric | per seed (a − b) | mean ± std (n) | 95% interval | seeds |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        seeds = ", ".join(f"{seed}: {value:+.3f}" for seed, value in row["per_seed"].items())
        lines.append(f"| {row['a']} − {row['b']} | {row['metric']} | {seeds} | {spread_text(row, 3, signed=True)} | "
                     f"{interval_text(row)} | {favour_text(row)} |")
    return "\n".join(lines)


def shown_model(ref: str) -> str:
    """A model as the report names it: the bundled pair by its folder in the repository (wherever the
    experiment ran from: a checkout, a worktree or an installed package), anything else as given."""
    path = Path(str(ref))
    if path.parent.name in ("demo-models", "demo_models"):
        return f"assets/demo-models/{path.name}"
    return str(ref)


def markdown_table(summary: dict, name: str) -> str:
    """Conditions × fact fields of metric `name` (mean ± sample std over seeds, n = seeds) and the
    far-field mean."""
    header = "| condition | " + " | ".join(FACT_FIELDS) + " | far mean |\n|---|" + "---|" * (len(FACT_FIELDS) + 1)
    lines = [header]
    for condition, entry in summary.items():
        cells, far = [], []
        for f in FACT_FIELDS:
            value = entry.get(name, {}).get(f)
            if value is None:
                cells.append("—")
                continue
            cells.append(spread_text(value))
            if f in FAR_FIELDS:
                far.append(value["mean"])
        lines.append(f"| {condition} | " + " | ".join(cells) + f" | {np.mean(far) if far else float('nan'):.2f} |")
    return "\n".join(lines)


def _mean_over(summary: dict, condition: str, name: str, fields) -> float:
    entry = summary.get(condition, {}).get(name, {})
    values = [entry[f]["mean"] for f in fields if f in entry]
    return float(np.mean(values)) if values else float("nan")


def choice_edges(results: dict, condition: str) -> list[tuple[str, str, float, str]]:
    """Where the choice for `condition` on validation people lies at an edge of what was tried: (key, label, value,
    side) for the smallest or largest α or learning rate of the grid (α not for plain training), or the last epoch."""
    c, chosen = results["config"], (results.get("selection") or {}).get(condition)
    if not chosen:
        return []
    edges = []
    for key, label, tried in (("alpha", "α", c.get("alphas")), ("lr", "lr", c.get("lrs"))):
        if condition in ("none", "plain") and key == "alpha" or len(tried or ()) < 2 or chosen.get(key) is None:
            continue
        if chosen[key] in (min(tried), max(tried)):
            edges.append((key, label, chosen[key], "smallest" if chosen[key] == min(tried) else "largest"))
    if chosen.get("epoch") == c["epochs"]:
        edges.append(("epoch", "epoch", chosen["epoch"], "last"))
    return edges


def edge_lines(results: dict) -> list[str]:
    """Conditions whose choice on validation people lies at an edge of the grid (choice_edges): a wider grid might
    find better settings for them."""
    edges = []
    for condition in results.get("selection") or {}:
        at = [f"{label} {value:g} the {side}" for _, label, value, side in choice_edges(results, condition)]
        if at:
            edges.append(f"{condition} ({', '.join(at)})")
    if not edges:
        return []
    return [f"- Chosen at an edge of what was tried: {'; '.join(edges)}. A wider grid (smaller α or learning rate, "
            "more epochs) might serve those conditions better."]


def stop_epoch_lines(results: dict) -> list[str]:
    """With epochs chosen per condition, the line that says where each stopped (recall is read there too)."""
    epochs = {run["condition"]: run.get("epoch") for run in results.get("runs", [])}
    if not results.get("selection") or len(set(epochs.values())) < 2:
        return []
    stops = ", ".join(f"{condition} {epoch}" for condition, epoch in epochs.items())
    return [f"- Each condition stops at the epoch that answered the far facts best on the validation people "
            f"({stops}); its recall is read there too, so recall differences also reflect how long each trained."]


def verdict(results: dict) -> str:
    """Plain sentences: does the paper's claim hold here, and which condition learns far facts best."""
    a, s = results["attention"], results["summary"]
    lines = []
    far_large = np.mean([a["to_name"][f]["large"] for f in FAR_FIELDS])
    far_small = np.mean([a["to_name"][f]["small"] for f in FAR_FIELDS])
    lines.append(f"- The large model attends to the name from before far facts "
                 f"{'more' if far_large > far_small else 'less'} than the small one "
                 f"({far_large:.3f} vs {far_small:.3f}): the paper's claim "
                 f"{'holds' if far_large > far_small else 'does not hold'} here.")

    def far(condition, name):
        return _mean_over(s, condition, name, FAR_FIELDS)

    def near(condition, name):
        return _mean_over(s, condition, name, NEAR_FIELDS)

    if "none" in s:
        for name, label in (("em", "QA exact match (the paper's measure)"), ("recall", "recall probe")):
            lines.append(f"- Training without dropout (`none`: the originals, repeated as often as the copies), "
                         f"{label}: near facts {near('none', name):.2f}, far facts "
                         f"{far('none', name):.2f} — far facts are learned "
                         f"{'worse' if far('none', name) < near('none', name) else 'no worse'}.")
    if "contrast" in s:
        for name, label in (("em", "QA exact match"), ("recall", "recall probe")):
            others = {c: far(c, name) for c in s if c != "contrast"}
            best_other = max(others.items(), key=lambda kv: kv[1]) if others else ("-", float("nan"))
            beats = "beats" if far("contrast", name) > best_other[1] else "does not beat"
            lines.append(f"- Contrast dropout, far-fact {label}: {far('contrast', name):.2f}; it {beats} the "
                         f"best other condition ({best_other[0]}, {best_other[1]:.2f}).")
    for row in results.get("paired", []):
        if row["metric"] not in ("em", "recall") or (row["a"], row["b"]) not in VERDICT_COMPARISONS:
            continue
        lines.append(f"- {row['a'].capitalize()} − {row['b']}, far-fact {METRIC_LABELS[row['metric']]}, paired by "
                     f"seed: {spread_text(row, 3, signed=True)}, 95% interval {interval_text(row)} "
                     f"({favour_text(row)}) — {reading(row)}.")
    lines += stop_epoch_lines(results)
    lines += edge_lines(results)
    lines += forgetting_lines(results.get("curves", {}).get("em", {}))
    seeds = len(results["config"]["seeds"])
    if seeds < 3:
        lines.append(f"- Only {seeds} seed{'s' if seeds != 1 else ''}: "
                     + ("no spread can be measured, so no difference is evidence." if seeds == 1 else
                        "the 95% interval rests on one degree of freedom (t = 12.7) and is very wide."))
    return "\n".join(lines)


# ---------------------------------------------------------------- How it works' step 6, for students

def paper_frames(reference: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper's Table 1 (plain fine-tuning, QA exact match per fact; model × field) and Table 2 (far
    facts, plain → contrast; model × "university: plain" …), as tables with every value filled in."""
    table1 = pd.DataFrame([{"model": model, **{f: row[f] for f in FACT_FIELDS}}
                           for model, row in reference["table1_plain_em"].items()])
    table2 = pd.DataFrame([{"model": model, **{f"{f}: {method}": row[method][f]
                                               for f in ("university", "company") for method in ("plain", "contrast")}}
                           for model, row in reference["table2_far_em"].items()])
    return table1, table2


def lesson(published: dict) -> dict:
    """The numbers How it works tells a student, read from an experiment's published results (so the page
    types none): the set-up in words, near and far facts under plain training, contrast against the others
    on the far facts, and the paired differences of contrast with its controls (QA exact match)."""
    c, s = published["config"], published["summary"]
    far = {condition: _mean_over(s, condition, "em", FAR_FIELDS) for condition in s}
    best_other = max(((k, v) for k, v in far.items() if k != "contrast"), key=lambda kv: kv[1], default=("-", np.nan))
    paired = [row for row in published.get("paired", [])
              if row["metric"] == "em" and (row["a"], row["b"]) in VERDICT_COMPARISONS]
    return {
        "people": c["people"], "seeds": len(c["seeds"]), "epochs": c["epochs"], "conditions": list(s),
        "selected": bool(c.get("select")),  # α, β, lr and the epoch chosen per condition on validation people
        "copies": c["augment"]["copies"], "style": c["augment"]["style"],
        "plain_near": _mean_over(s, "plain", "em", NEAR_FIELDS), "plain_far": _mean_over(s, "plain", "em", FAR_FIELDS),
        "far_em": far, "contrast_far": far.get("contrast", np.nan), "best_other": best_other,
        # the conditions that train on an augmented corpus, each below plain training on the far facts?
        "augmented_below_plain": "plain" in far and all(v < far["plain"] for k, v in far.items()
                                                        if k not in ("none", "plain")),
        "name_in_top_k": published["attention"]["name_in_top_k"], "top_k": published["attention"]["top_k"],
        "attention_texts": published["attention"]["texts"],
        "paired": [{**row, "text": f"{spread_text(row, 3, signed=True)}, 95% interval {interval_text(row)} "
                                   f"({favour_text(row)}): {reading(row)}"} for row in paired],
    }
