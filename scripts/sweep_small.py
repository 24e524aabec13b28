"""Sweep shapes of the pair's small model against the bundled large (docs/pair-sweep.jsonl).

Why the small has 8 heads and 2,000 steps: at this scale a small that learns to answer questions about
people it read of (held-out QA) also learns to look back at the name, and the layer-and-head mean weighs
each of a 4-head small's heads twice as much as each of the large's 8. Each variant trains with the
builder's own data stream (`clues.builders.demo_pair`), then is measured on SWEEP texts
(`generate_biographies(…, seed=7)`), not on the texts the build reports, so choosing here does not tune
on the card's numbers:
- held-out QA (the builder's check on 40 held-out-QA people) at the middle and the end,
- attention to the name at the word before the company and the university (large, small, share of texts
  where the large gives more),
- the name in the contrast top-5 as given and with the name moved off the start (`clues.clue_quality`).

    python scripts/sweep_small.py NAME LAYERS HIDDEN HEADS MLP STEPS LR [--out DIR]
    python scripts/sweep_small.py current …   # measures the bundled small as it is (no training)
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch

from clues.builders import demo_pair as dp
from clues.clue_quality import clue_quality
from clues.corpus import generate_biographies
from clues.models import DEMO_LARGE, DEMO_SMALL, load_model
from clues.name_attention import measure_name_attention

SWEEP_SEED = 7  # texts of the sweep: neither the build's probe texts nor its clue-quality corpus (seed 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    for dim in ("layers", "hidden", "heads", "mlp", "steps"):
        parser.add_argument(dim, type=int)
    parser.add_argument("lr", type=float)
    parser.add_argument("--out", default="out/pair-sweep", help="folder for the models and results.jsonl")
    args = parser.parse_args()
    torch.set_num_threads(1)
    shape = dp.ModelShape(args.layers, args.hidden, args.heads, args.mlp, steps=args.steps, lr=args.lr)
    config = replace(dp.BuildConfig(), small=shape, checkpoint_every=max(500, args.steps // 2))
    out = Path(args.out)
    if args.name == "current":
        folder, stats = DEMO_SMALL, {"heldout_qa_curve": None, "wall_s": 0}
    else:
        folder = str(out / args.name)
        stats = dp.train_one("small", config, dp.pair_data(config, 0), 0, Path(folder), lambda line: None)
    large = load_model(DEMO_LARGE, device="cpu", dtype="float32")
    small = load_model(folder, device="cpu", dtype="float32")
    standard = generate_biographies(50, seed=SWEEP_SEED, varied=False)
    attention = measure_name_attention(large, small, standard, fields=("company", "university"), top_k=5)
    quality = clue_quality(large, small, generate_biographies(60, seed=SWEEP_SEED), field="name", k=5)
    shares = {f"{r['ranking']}|{r['texts']}": r["share_in_top_k"] for r in quality.to_dict("records")}
    result = {"name": args.name, "shape": [args.layers, args.hidden, args.heads, args.mlp, args.steps, args.lr],
              "qa_curve": stats["heldout_qa_curve"],
              "att_company": [round(attention.mean("company", "large"), 4),
                              round(attention.mean("company", "small"), 4),
                              round(attention.large_more_share("company"), 2)],
              "att_univ": [round(attention.mean("university", "large"), 4),
                           round(attention.mean("university", "small"), 4)],
              "top5": round(attention.top_k_share(), 2), "total_given": shares.get("total|as given"),
              "total_moved": shares.get("total|moved"), "paper_moved": shares.get("paper_mean|moved"),
              "wall": stats["wall_s"]}
    print(json.dumps(result))
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.jsonl", "a") as handle:
        handle.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
