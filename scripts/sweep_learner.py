"""Sweep shapes of the learner (the model the demo trains) for injection (docs/learner-sweep.jsonl).

Each variant trains with the builder's own data stream (`clues.builders.demo_pair`), then learns the 100
VALIDATION people of `clues.builders.injection` (one fixed-order biography each) with the training
defaults at each learning rate given, 15 epochs; recorded: held-out QA after pretraining, and QA exact
match per field (date, city, university, major, company, mean) at the best epoch and at epoch 12. The
bundled learner's own validation runs are in docs/defaults.json.

    python scripts/sweep_learner.py NAME LAYERS HIDDEN HEADS MLP STEPS LR [--inject-lrs 0.002,0.003] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from clues.builders import demo_pair as dp
from clues.builders import injection
from clues.corpus import FACT_FIELDS, experiment_people
from clues.settings import DEFAULT_TRAIN


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    for dim in ("layers", "hidden", "heads", "mlp", "steps"):
        parser.add_argument(dim, type=int)
    parser.add_argument("lr", type=float)
    parser.add_argument("--inject-lrs", default=str(DEFAULT_TRAIN.lr))
    parser.add_argument("--out", default="out/learner-sweep", help="folder for the models and results.jsonl")
    args = parser.parse_args()
    torch.set_num_threads(1)
    shape = dp.ModelShape(args.layers, args.hidden, args.heads, args.mlp, steps=args.steps, lr=args.lr)
    config = replace(dp.BuildConfig(), learner=shape, checkpoint_every=args.steps)
    out = Path(args.out)
    stats = dp.train_one("learner", config, dp.pair_data(config, 0), 0, out / args.name, lambda line: None)
    validation = experiment_people(injection.VALIDATION.stop, varied=False)[injection.VALIDATION]
    result = {"name": args.name, "shape": [args.layers, args.hidden, args.heads, args.mlp, args.steps, args.lr],
              "qa_curve": stats["heldout_qa_curve"], "params": stats["parameters"],
              "build_s": stats["wall_s"], "inject": {}}
    for lr in (float(x) for x in args.inject_lrs.split(",")):
        with tempfile.TemporaryDirectory() as folder:
            run = injection._run(validation, str(out / args.name), replace(DEFAULT_TRAIN, lr=lr, epochs=15),
                                 Path(folder), f"{args.name}-lr{lr}")
        em = run["curves"]["em"]
        best = max(range(1, len(em["mean"])), key=em["mean"].__getitem__)
        result["inject"][lr] = {"seconds": run["seconds"], "best_epoch": best,
                                "best": [round(em[f][best], 2) for f in FACT_FIELDS] + [round(em["mean"][best], 3)],
                                "at12": [round(em[f][12], 2) for f in FACT_FIELDS] + [round(em["mean"][12], 3)]}
    print(json.dumps(result))
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.jsonl", "a") as handle:
        handle.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
