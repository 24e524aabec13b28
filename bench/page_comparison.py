"""Benchmark: the Training page's default comparison, started as the page starts it, timed to its end.

The page's defaults (`clues.settings`: PAGE_CONDITIONS, PAGE_PEOPLE generated biographies of corpus seed
0, DEFAULT_AUGMENT, DEFAULT_TRAIN and PAGE_TRAINED of the demo pair),
ranked with `clues.launch.rank_conditions` and queued with `clues.launch.launch` into a run store of its
own: separate run processes, as many at once as `clues.runs.slots` allows here. Printed: the wall time from
the click's work (ranking, writing) to the last run's end and each run's last evaluated QA exact match per
field — so the page's promise (done in ≤ 10 min on this 2-core CPU) is measured, not assumed. As on the page,
each condition trains as the experiment chose it on validation people when the experiment trained this model
(`--one-setting`: all at the same α, lr and epochs, the page with that choice off).

    python bench/page_comparison.py [--model large|learner|small] [--people N] [--epochs E] [--one-setting]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from clues import launch
from clues.api import load_pair
from clues.corpus import FACT_FIELDS, generate_biographies
from clues.experiment import chosen_per_condition, reported_experiments
from clues.models import DEMO_MODELS, load_model
from clues.runs import RunStore, slots
from clues.settings import DEFAULT_AUGMENT, DEFAULT_TRAIN, PAGE_CONDITIONS, PAGE_PEOPLE, PAGE_TRAINED


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(DEMO_MODELS), default=None, help="default: the page's")
    parser.add_argument("--people", type=int, default=PAGE_PEOPLE)
    parser.add_argument("--epochs", type=int, default=DEFAULT_TRAIN.epochs)
    parser.add_argument("--one-setting", action="store_true",
                        help="every condition at the same α, lr and epochs (the page with its per-condition choice off)")
    args = parser.parse_args()
    pair = load_pair()
    trained = args.model or PAGE_TRAINED
    model = DEMO_MODELS[trained]
    people = generate_biographies(args.people, seed=0)
    with tempfile.TemporaryDirectory() as home:
        os.environ["CLUES_HOME"] = home
        store = RunStore(str(Path(home) / "runs.sqlite"))
        base = replace(DEFAULT_TRAIN, model=model, epochs=args.epochs, eval_max_people=len(people))
        # the page's default: each condition as the experiment chose it, when it trained this model
        chosen = {c: v for c, v in chosen_per_condition(reported_experiments(), model).items() if c in PAGE_CONDITIONS}
        chosen = {} if args.one_setting else {c: {**v, "epoch": min(v["epoch"], args.epochs)} for c, v in chosen.items()}
        comparison = launch.Comparison(base=base, people=people, conditions=list(PAGE_CONDITIONS),
                                       augment=DEFAULT_AUGMENT, label=trained, chosen=chosen)
        started = time.perf_counter()
        # as the page ranks: the pair's own model ranks its own attention; another model (the learner) its own
        own = {"small": pair.small, "large": pair.large}.get(trained)
        rankings = launch.rank_conditions(people, PAGE_CONDITIONS, large=pair.large, small=pair.small,
                                          trained=trained if own is not None else "small",
                                          outside=None if own is not None else lambda: load_model(model))
        _, ids = launch.launch(comparison, ranked_for=rankings.__getitem__, store=store, home=Path(home))
        while any(store.get_run(i)["status"] in ("queued", "running") for i in ids):
            time.sleep(2)
        wall = time.perf_counter() - started
        run_threads = int(os.environ.get("OMP_NUM_THREADS") or 1)  # what start_run_process gives each run
        how = ("each condition as the experiment chose (" + ", ".join(
            f"{c}: α {v['alpha']:g}, lr {v['lr']:g}, epoch {v['epoch']}" for c, v in chosen.items()) + ")"
            if chosen else f"one setting: α {DEFAULT_AUGMENT.alpha:g}, lr {base.lr:g}, {args.epochs} epochs")
        print(f"page default comparison: {len(PAGE_CONDITIONS)} conditions × {len(people)} people × "
              f"{DEFAULT_AUGMENT.copies + 1} versions, model {trained}, {how}, "
              f"{slots('cpu', run_threads)} runs at once: {wall / 60:.1f} min wall")
        for run_id in ids:
            run = store.get_run(run_id)
            frame = store.metrics(run_id)
            em = frame[(frame["name"] == "em")]
            last = em[em["epoch"] == em["epoch"].max()].set_index("field")["value"]
            print(f"  {run['name']}: {run['status']}, "
                  + ", ".join(f"{f} {last.get(f, float('nan')):.2f}" for f in FACT_FIELDS))


if __name__ == "__main__":
    main()
