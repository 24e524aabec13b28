"""Benchmark: the Training page's default comparison, started as the page starts it, timed to its end.

The page's defaults (`clues.settings`: PAGE_CONDITIONS, PAGE_PEOPLE generated biographies of corpus seed
0, DEFAULT_AUGMENT, DEFAULT_TRAIN and the model `clues.models.default_trained` names beside the demo pair),
ranked with `clues.launch.rank_conditions` and queued with `clues.launch.launch` into a run store of its
own: separate run processes, as many at once as `clues.runs.slots` allows here. Printed: the wall time from
the click's work (ranking, writing) to the last run's end, each run's own time, and the last epoch's QA
exact match per field — so the page's promise (done in ≤ 10 min on this 2-core CPU) is measured, not assumed.

    python bench/page_comparison.py [--model large|learner|small] [--people N] [--epochs E]
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
from clues.models import DEMO_MODELS, default_trained, load_model
from clues.runs import RunStore, slots
from clues.settings import DEFAULT_AUGMENT, DEFAULT_TRAIN, PAGE_CONDITIONS, PAGE_PEOPLE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(DEMO_MODELS), default=None, help="default: the page's")
    parser.add_argument("--people", type=int, default=PAGE_PEOPLE)
    parser.add_argument("--epochs", type=int, default=DEFAULT_TRAIN.epochs)
    args = parser.parse_args()
    pair = load_pair()
    model = DEMO_MODELS[args.model] if args.model else default_trained(pair.large.ref, pair.small.ref)
    trained = next((size for size, ref in DEMO_MODELS.items() if Path(ref) == Path(model)), "small")
    people = generate_biographies(args.people, seed=0)
    with tempfile.TemporaryDirectory() as home:
        os.environ["CLUES_HOME"] = home
        store = RunStore(str(Path(home) / "runs.sqlite"))
        base = replace(DEFAULT_TRAIN, model=model, epochs=args.epochs, eval_max_people=len(people))
        comparison = launch.Comparison(base=base, people=people, conditions=list(PAGE_CONDITIONS),
                                       augment=DEFAULT_AUGMENT, label=trained)
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
        print(f"page default comparison: {len(PAGE_CONDITIONS)} conditions × {len(people)} people × "
              f"{DEFAULT_AUGMENT.copies + 1} versions, {args.epochs} epochs, model {trained}, "
              f"{slots('cpu')} runs at once: {wall / 60:.1f} min wall")
        for run_id in ids:
            run = store.get_run(run_id)
            frame = store.metrics(run_id)
            em = frame[(frame["name"] == "em")]
            last = em[em["epoch"] == em["epoch"].max()].set_index("field")["value"]
            print(f"  {run['name']}: {run['status']}, "
                  + ", ".join(f"{f} {last.get(f, float('nan')):.2f}" for f in FACT_FIELDS))


if __name__ == "__main__":
    main()
