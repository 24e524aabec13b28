"""Benchmark: vectorised augmentation vs a per-token loop that rebuilds the string for every
dropped token (the way the paper's released script does it), on 1,000 biographies × 10 copies.
Both get the same texts, units and ranks; the ranking itself is not timed.

    python bench/bench_augment.py [--n 1000] [--copies 10]
"""

from __future__ import annotations

import argparse
import math
import random
import time

import numpy as np

from clues.augment import augment_ranked, dropout_probability, ranked_from_tokens
from clues.corpus import generate_biographies


def loop_augment(ranked, alpha, beta, copies, seed):
    rng = random.Random(seed)
    out = []
    for item in ranked:
        versions = [item.text]
        for _ in range(copies):
            text = item.text
            for start, end, rank in zip(item.starts.tolist(), item.ends.tolist(), item.ranks.tolist()):
                if rank < 0:
                    continue
                if rng.random() < alpha * (1 - math.exp(-beta * rank)):
                    text = text[:start] + " " * (end - start) + text[end:]
            versions.append(text)
        out.append(versions)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    texts = generate_biographies(args.n, seed=0)
    ranked = [ranked_from_tokens(t.text) for t in texts]
    shuffle = np.random.default_rng(0)
    for item in ranked:  # a ranking that is not text order, as a model's would be
        droppable = item.ranks >= 0
        item.ranks[droppable] = shuffle.permutation(int(droppable.sum()))
    alpha, beta = 0.7, 0.05

    def best(function):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = function()
            times.append(time.perf_counter() - start)
        return min(times), result

    vector_s, vector = best(lambda: augment_ranked(
        ranked, [dropout_probability(r.ranks, alpha, beta) for r in ranked], copies=args.copies, seed=0))
    loop_s, loop = best(lambda: loop_augment(ranked, alpha, beta, args.copies, 0))
    rate_vector = np.mean([c.count(" ") for v in vector for c in v[1:]])
    rate_loop = np.mean([c.count(" ") for v in loop for c in v[1:]])
    print("| texts × copies | per-token loop s | vectorised s | speed-up | mean spaces per copy loop / vectorised |")
    print("|---|---|---|---|---|")
    print(f"| {args.n} × {args.copies} | {loop_s:.3f} | {vector_s:.4f} | {loop_s / vector_s:.0f}× | "
          f"{rate_loop:.1f} / {rate_vector:.1f} |")


if __name__ == "__main__":
    main()
