"""Benchmark: ranking one corpus for several conditions, as the experiment and the Training page do.

Three ways over the same texts and the bundled demo pair, in one process, each repeated:

- per text, as the Training page ranked a comparison before it used rank_corpus: two captures
  per text (per-layer maps and rollout kept, as the explorer's cache wants them), the explorer's
  ContrastView, one condition at a time;
- one condition at a time with `rank_corpus` (batched capture; what the experiment did);
- all conditions together with `rank_corpus_conditions` (each text captured once per model).

Conditions: the experiment's six (none, random, position, attention, contrast, contrast under
paper_mean). Reported: median seconds of --repeats runs, the ratio against the first way, and
whether every ranking is identical to rank_corpus's.

    python bench/bench_conditions.py [--n 200] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from clues import augment
from clues.capture import capture_attention
from clues.contrast import contrast_view, own_attention
from clues.corpus import generate_biographies
from clues.models import DEMO_LARGE, DEMO_SMALL, load_model
from clues.views import ViewSpec

CONDITIONS = ["none:total", "random:total", "position:total", "attention:total", "contrast:total",
              "contrast:paper_mean"]


def per_text(people, large, small) -> list[list]:
    """The Training page's former path: one text at a time through the explorer's capture and view."""
    rankings = []
    for condition in CONDITIONS:
        mode, importance = augment.parse_condition(condition)
        ranking = augment.MODES[mode].ranking
        if ranking is None:
            rankings.append(augment.rank_corpus(people, condition, small=small))
            continue
        ranked = []
        for item in people:
            large_maps = capture_attention(large, item.text, per_layer=True, rollout=True)
            small_maps = capture_attention(small, item.text, per_layer=True, rollout=True)
            if ranking == "contrast":
                result = contrast_view(large_maps, small_maps, ViewSpec("mean"), item.spans,
                                       importance=importance).result
            else:  # own attention and position: the small model (the one trained) against itself
                result = own_attention(small_maps, spans=item.spans, importance=importance)
            ranked.append(augment.ranked_from_clues(result, ranking))
        rankings.append(ranked)
    return rankings


def one_at_a_time(people, large, small) -> list[list]:
    return [augment.rank_corpus(people, condition, large=large, small=small) for condition in CONDITIONS]


def together(people, large, small) -> list[list]:
    return augment.rank_corpus_conditions(people, CONDITIONS, large=large, small=small)


def same(a: list[list], b: list[list]) -> bool:
    return all(np.array_equal(x.starts, y.starts) and np.array_equal(x.ranks, y.ranks)
               for left, right in zip(a, b) for x, y in zip(left, right))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200, help="generated biographies")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    large, small = load_model(DEMO_LARGE, device="cpu"), load_model(DEMO_SMALL, device="cpu")
    people = list(generate_biographies(args.n, seed=0))
    together(people[:20], large, small)  # warm-up
    ways = {"per text, explorer's capture and view (the Training page before)": per_text,
            "rank_corpus, one condition at a time (the experiment before)": one_at_a_time,
            "rank_corpus_conditions, all six together (both now)": together}
    reference = one_at_a_time(people, large, small)
    print(f"{args.n} biographies, demo pair, float32, {args.threads} thread(s), six conditions, "
          f"median of {args.repeats}")
    print("| way | seconds | × vs per text | rankings identical |\n|---|---|---|---|")
    first = None
    for name, way in ways.items():
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            rankings = way(people, large, small)
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        first = first or median
        print(f"| {name} | {median:.2f} | {first / median:.2f} | {same(rankings, reference)} |")


if __name__ == "__main__":
    main()
