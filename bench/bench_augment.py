"""Benchmark: vectorised augmentation vs a per-token loop that rebuilds the string for every
dropped token, the way the paper's released script (data_augmentation.py) does it: for every copy
and token, look the token up (`convert_ids_to_tokens`) to skip punctuation, draw, and splice
spaces into the string. 1,000 biographies × 10 copies, tokens of a BPE tokenizer trained on the
corpus. Both get the same texts, tokens and ranks; tokenising and ranking are not timed.

With --before PATH (a checkout of the project, e.g. the commit before a change to augment_ranked),
that checkout's clues/augment.py is loaded beside this one and timed too, on the same inputs, and
its output is checked to be the same.

    python bench/bench_augment.py [--n 1000] [--copies 10] [--before PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import random
import sys
import time

import numpy as np
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from clues.augment import augment_ranked, dropout_probability, ranked_from_tokens
from clues.corpus import generate_biographies


def loop_augment(ranked, token_ids, tokenizer, alpha, beta, copies, seed):
    rng = random.Random(seed)
    out = []
    for item, ids in zip(ranked, token_ids):
        versions = [item.text]
        for _ in range(copies):
            text = item.text
            for token_id, start, end, rank in zip(ids, item.starts.tolist(), item.ends.tolist(), item.ranks.tolist()):
                if tokenizer.convert_ids_to_tokens(token_id) in [",", ".", "<s>"] or rank < 0:
                    continue
                if rng.random() > alpha * math.exp(-beta * rank) + 1 - alpha:  # the script's keep threshold
                    text = text[:start] + " " * (end - start) + text[end:]
            versions.append(text)
        out.append(versions)
    return out


def corpus_tokenizer(texts):
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=2000, special_tokens=["<unk>", "<s>"]))
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", help="a checkout whose clues/augment.py to time beside this one")
    args = parser.parse_args()
    texts = generate_biographies(args.n, seed=0)
    tokenizer = corpus_tokenizer([t.text for t in texts])
    ranked = [ranked_from_tokens(t.text, tokenizer) for t in texts]
    token_ids = [tokenizer(t.text, add_special_tokens=False)["input_ids"] for t in texts]
    shuffle = np.random.default_rng(0)
    for item in ranked:  # a ranking that is not text order, as a model's would be
        droppable = item.ranks >= 0
        item.ranks[droppable] = shuffle.permutation(int(droppable.sum()))
    alpha, beta = 0.7, 0.05

    def best(function, repeats):
        """Fastest of several runs, in wall time and in this process's CPU time (steadier on a loaded machine)."""
        walls, cpus, result = [], [], None
        for _ in range(repeats):
            result = None  # freeing the last run's strings is not part of the next run
            wall, cpu = time.perf_counter(), time.process_time()
            result = function()
            cpus.append(time.process_time() - cpu)
            walls.append(time.perf_counter() - wall)
        return min(walls), min(cpus), result

    load = os.getloadavg()[0]
    loop_wall, loop_cpu, loop = best(lambda: loop_augment(ranked, token_ids, tokenizer, alpha, beta, args.copies, 0),
                                     args.repeats)
    unit_bounds = np.cumsum([len(r.ranks) for r in ranked])[:-1]

    def vectorised(augment=augment_ranked):
        # the probabilities of the whole corpus in one call, then one view per text
        probabilities = np.split(dropout_probability(np.concatenate([r.ranks for r in ranked]), alpha, beta),
                                 unit_bounds)
        return augment(ranked, probabilities, copies=args.copies, seed=0)

    vector_wall, vector_cpu, vector = best(vectorised, args.repeats * 10)
    rows = [("this build", vector_wall, vector_cpu)]
    if args.before:
        path = os.path.join(args.before, "clues", "augment.py")
        spec = importlib.util.spec_from_file_location("augment_before", path)
        before = sys.modules["augment_before"] = importlib.util.module_from_spec(spec)  # dataclasses look it up
        spec.loader.exec_module(before)
        before_wall, before_cpu, before_out = best(lambda: vectorised(before.augment_ranked), args.repeats * 10)
        assert before_out == vector, "the checkout's augment_ranked gives other copies"
        rows.insert(0, (f"before ({args.before})", before_wall, before_cpu))
    load = max(load, os.getloadavg()[0])
    rate_vector = np.mean([c.count(" ") for v in vector for c in v[1:]])
    rate_loop = np.mean([c.count(" ") for v in loop for c in v[1:]])
    print(f"load average (1 min) up to {load:.1f} on {os.cpu_count()} cores; best of {args.repeats} loop runs "
          f"and {args.repeats * 10} vectorised runs; mean spaces per copy loop / vectorised "
          f"{rate_loop:.1f} / {rate_vector:.1f}")
    print("| texts × copies | vectorised | per-token loop s (wall / CPU) | vectorised ms (wall / CPU) | "
          "speed-up wall / CPU |")
    print("|---|---|---|---|---|")
    for name, wall, cpu in rows:
        print(f"| {args.n} × {args.copies} | {name} | {loop_wall:.3f} / {loop_cpu:.3f} | {wall * 1000:.1f} / "
              f"{cpu * 1000:.1f} | {loop_wall / wall:.0f}× / {loop_cpu / cpu:.0f}× |")

if __name__ == "__main__":
    main()
