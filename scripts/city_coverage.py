"""Does a new person's city get answered when the pair read it often? City QA after injection, by how many of the
pair's pretraining people (demo people and world people) had that same city.

The default trained model of a pair is injected with the defaults on the world validation people
(`clues.builders.injection.world_validation`, as drawn), one seed; each person's city answer is kept and grouped by
how often that exact value occurs among the pretraining people of the pair's recipe. Beside it, how the cities of
other sets of people spread over the same groups (counts only, no answers): the validation people and, when found,
the paper's released biographies — what the groups' rates would predict for them.

    python scripts/city_coverage.py [--pair assets/demo-models] [--seed 0] [--out out/city-coverage]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

from clues.builders import injection
from clues.builders.demo_pair import RECIPES, split_people
from clues.corpus import paper_biographies
from clues.evaluate import evaluate_qa
from clues.models import DEMO_PAIR, load_model
from clues.settings import DEFAULT_TRAIN, DEFAULT_TRAINED

GROUPS = ((0, 0, "never"), (1, 2, "1-2 people"), (3, 5, "3-5 people"), (6, 10**9, "6 or more"))


def group(times: int) -> str:
    return next(name for low, high, name in GROUPS if low <= times <= high)


def city_counts(pair: Path) -> Counter:
    """How many pretraining people (demo and world) of the pair's recipe have each city."""
    recipe = json.loads((pair / "build.json").read_text()).get("recipe", "plain")
    people = split_people(RECIPES[recipe])
    return Counter(person.value("city") for person in people.pretraining + people.world)


def answered_cities(pair: Path, seed: int, folder: Path) -> list[dict]:
    """Inject the pair's default trained model with the world validation people (the spread study's run, its model
    kept); each person's city answer."""
    people = injection.world_validation()["world"][0]
    folder.mkdir(parents=True, exist_ok=True)
    settings = replace(DEFAULT_TRAIN, seed=seed, save_model=True, output_dir=str(folder / "model"))
    injection._run(people, str(pair / DEFAULT_TRAINED), settings, folder, f"city-coverage-{seed}")
    loaded = load_model(str(folder / "model"))
    result = evaluate_qa(loaded.model, loaded.tokenizer, people, fields=("city",), shots=5, seed=seed,
                         return_predictions=True)
    return result["predictions"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pair", default=str(DEMO_PAIR))
    parser.add_argument("--seed", type=int, default=DEFAULT_TRAIN.seed)
    parser.add_argument("--out", default="out/city-coverage")
    args = parser.parse_args(argv)
    pair = Path(args.pair)
    counts = city_counts(pair)
    answers = answered_cities(pair, args.seed, Path(args.out) / pair.name)
    rates = {}
    print(f"{pair}: city QA EM of world validation people (seed {args.seed}) by how many pretraining people had "
          "the same city")
    for _, _, name in GROUPS:
        hits = [a["em"] for a in answers if group(counts[a["answer"]]) == name]
        rates[name] = sum(hits) / len(hits) if hits else None
        print(f"  {name:>10}: {len(hits):3d} people, EM " + (f"{rates[name]:.2f}" if hits else "–"))
    sets = {"world validation": injection.world_validation()["world"][0],
            "the paper's biographies": paper_biographies()}
    for label, people in sets.items():
        if not people:
            continue
        spread = Counter(group(counts[person.value("city")]) for person in people)
        rated = sum(spread[name] for name, rate in rates.items() if rate is not None)
        predicted = sum(spread[name] * rate for name, rate in rates.items() if rate is not None) / max(1, rated)
        print(f"{label}: " + ", ".join(f"{name} {spread[name]}" for _, _, name in GROUPS)
              + f" → the groups' rates predict city EM {predicted:.2f} for the {rated} people in groups with a rate")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
