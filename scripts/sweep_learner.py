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
from clues.evaluate import evaluate_qa
from clues.models import load_model
from clues.settings import DEFAULT_TRAIN


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    for dim in ("layers", "hidden", "heads", "mlp", "steps"):
        parser.add_argument(dim, type=int)
    parser.add_argument("lr", type=float)
    parser.add_argument("--inject-lrs", default=str(DEFAULT_TRAIN.lr))
    parser.add_argument("--fixed-share", type=float, default=0.0,
                        help="share of held-out-QA people whose biography always comes in the fixed form")
    parser.add_argument("--out", default="out/learner-sweep", help="folder for the models and results.jsonl")
    args = parser.parse_args()
    torch.set_num_threads(1)
    shape = dp.ModelShape(args.layers, args.hidden, args.heads, args.mlp, steps=args.steps, lr=args.lr)
    config = replace(dp.BuildConfig(), learner=shape, checkpoint_every=args.steps, fixed_share=args.fixed_share)
    out = Path(args.out)
    data = dp.pair_data(config, 0)
    stats = dp.train_one("learner", config, data, 0, out / args.name, lambda line: None)
    loaded = load_model(str(out / args.name))
    people, fixed = data[0], dp.fixed_people(data[0], config)
    varied = [p for p in people.bio_only if p not in fixed]
    heldout = {name: evaluate_qa(loaded.model, loaded.tokenizer, group[:50], shot_pool=people.qa)
               for name, group in (("fixed", fixed), ("varied", varied)) if group}
    validation = experiment_people(injection.VALIDATION.stop, varied=False)[injection.VALIDATION]
    result = {"name": args.name, "shape": [args.layers, args.hidden, args.heads, args.mlp, args.steps, args.lr],
              "qa_curve": stats["heldout_qa_curve"], "params": stats["parameters"],
              "build_s": stats["wall_s"], "fixed_share": args.fixed_share, "inject": {},
              "heldout_qa": {name: {f: round(s["em"], 2) for f, s in scores.items()}
                             for name, scores in heldout.items()}}
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
