"""Sweep injection recipes on VALIDATION people (docs/injection-sweep.jsonl): what lifts near facts.

One fixed-order biography per new person (the 100 validation people of `clues.builders.injection`), plain
continual pretraining through `clues.train.train`, QA after each epoch. A recipe may mix a REPLAY of the
pair's own pretraining into the training data (`replay_documents`): QA pairs of its QA people and freshly
phrased biographies of its pretraining people, as the builder made them. Recorded per recipe: QA exact match
per field after each epoch, the recall probe at the last epoch, and after training the QA of the pair's
pretraining people (did the question format survive?) and a sample of wrong date answers.

    python scripts/sweep_injection.py NAME [--model learner] [--trainable mlp] [--lr 0.002] [--epochs 12]
        [--replay-qa PEOPLE] [--replay-bios PEOPLE] [--out out/injection-sweep]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from clues.builders import injection
from clues.builders.demo_pair import BuildConfig, People, fixed_bio, qa_documents, render_bio, split_people
from clues.corpus import FACT_FIELDS, experiment_people, write_tagged_csv
from clues.evaluate import evaluate_qa
from clues.experiment import weights_fingerprint
from clues.models import DEMO_MODELS, load_model
from clues.runs import RunStore
from clues.settings import DEFAULT_TRAIN
from clues.text import TaggedText
from clues.train import train


@dataclass(frozen=True)
class ReplaySettings:
    """How much of the pair's pretraining is replayed: the QA pairs of `qa_people` of its QA people (all
    five fields each), the biographies of `bio_people` of its pretraining people; `seed` draws phrasings
    and groupings."""

    qa_people: int = 0
    bio_people: int = 0
    fixed_bios: bool = False  # the biographies in the paper's one fixed form (as new people come), not re-phrased
    qa_per_document: int = 6
    seed: int = 0


def replay_people(config: BuildConfig | None = None) -> People:
    """The pair's pretraining people, split as its builder split them."""
    return split_people(config or BuildConfig())


def replay_documents(settings: ReplaySettings, config: BuildConfig | None = None) -> list[str]:
    """The replayed documents: QA documents (1–`qa_per_document` solved questions about one field each,
    as in pretraining) and biographies, in a seeded order."""
    people, rng = replay_people(config), random.Random(f"replay:{settings.seed}")
    bios = people.qa + people.bio_only  # the QA people first: their biographies beside their questions
    if settings.fixed_bios:
        docs = [fixed_bio(p) for p in bios[:settings.bio_people]]
    else:
        docs = [render_bio(p, rng, config or BuildConfig()) for p in bios[:settings.bio_people]]
    docs += qa_documents(people.qa[:settings.qa_people], settings.qa_per_document, rng)
    rng.shuffle(docs)
    return docs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--model", default="learner", choices=sorted(DEMO_MODELS))
    parser.add_argument("--trainable", default=DEFAULT_TRAIN.trainable)
    parser.add_argument("--lr", type=float, default=DEFAULT_TRAIN.lr)
    parser.add_argument("--epochs", type=int, default=DEFAULT_TRAIN.epochs)
    parser.add_argument("--replay-qa", type=int, default=0, help="pretraining QA people whose QA pairs are replayed")
    parser.add_argument("--replay-bios", type=int, default=0, help="pretraining people whose biographies are replayed")
    parser.add_argument("--fixed-bios", action="store_true", help="replayed biographies in the paper's fixed form")
    parser.add_argument("--people", type=int, default=100)
    parser.add_argument("--out", default="out/injection-sweep")
    args = parser.parse_args()
    torch.set_num_threads(1)
    people = experiment_people(injection.VALIDATION.stop, varied=False)[injection.VALIDATION][:args.people]
    replay = ReplaySettings(qa_people=args.replay_qa, bio_people=args.replay_bios, fixed_bios=args.fixed_bios)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        data, evaluation = folder / "data.csv", folder / "people.csv"
        write_tagged_csv(data, list(people) + [TaggedText(d) for d in replay_documents(replay)])
        write_tagged_csv(evaluation, people)
        store = RunStore(str(folder / "runs.sqlite"))
        config = replace(DEFAULT_TRAIN, model=DEMO_MODELS[args.model], data=str(data), eval_data=str(evaluation),
                         name=args.name, eval_max_people=None, store_path=str(store.path), lr=args.lr,
                         epochs=args.epochs, trainable=args.trainable, save_model=True,
                         output_dir=str(folder / "model"))
        started = time.perf_counter()
        run_id = train(config, store)
        seconds = round(time.perf_counter() - started)
        curves = injection.curves(store, run_id)
        loaded = load_model(str(folder / "model"))
        known = replay_people()
        kept = evaluate_qa(loaded.model, loaded.tokenizer, known.qa[:50], shot_pool=known.qa[50:])
        heldout = evaluate_qa(loaded.model, loaded.tokenizer, known.bio_only[:50], shot_pool=known.qa[50:])
        asked = evaluate_qa(loaded.model, loaded.tokenizer, people, fields="date", return_predictions=True)
    em = curves["em"]
    best = max(range(1, len(em["mean"])), key=em["mean"].__getitem__)
    wrong = [(p["answer"], p["prediction"]) for p in asked["predictions"] if not p["em"]][:12]
    result = {"name": args.name, "model": args.model, "weights": weights_fingerprint(DEMO_MODELS[args.model]),
              "trainable": args.trainable, "lr": args.lr,
              "epochs": args.epochs, "replay": asdict(replay),
              "people": len(people), "seconds": seconds, "best_epoch": best,
              "best": {f: em[f][best] for f in (*FACT_FIELDS, "mean")},
              "last": {f: em[f][-1] for f in (*FACT_FIELDS, "mean")},
              "recall_last": {f: curves["recall"][f][-1] for f in (*FACT_FIELDS, "mean")},
              "pretraining_qa_after": {f: round(kept[f]["em"], 2) for f in FACT_FIELDS},
              "heldout_qa_after": {f: round(heldout[f]["em"], 2) for f in FACT_FIELDS},
              "wrong_dates": wrong, "em_curve": em}
    print(json.dumps({k: v for k, v in result.items() if k != "em_curve"}), flush=True)
    with open(out / "results.jsonl", "a") as handle:
        handle.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
