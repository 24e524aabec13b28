"""Benchmark: vectorised augmentation vs a per-token loop that rebuilds the string for every
dropped token, the way the paper's released script (data_augmentation.py) does it: for every copy
and token, look the token up (`convert_ids_to_tokens`) to skip punctuation, draw, and splice
spaces into the string. 1,000 biographies × 10 copies, tokens of a BPE tokenizer trained on the
corpus. Both get the same texts, tokens and ranks; tokenising and ranking are not timed.

Rows: the inner function (`augment_ranked`, strings in memory, vs the loop, in the script's space
style), and end to end, ranked corpus → CSV file on disk: the released script's work (per text its
keep thresholds α·e^(−β·rank) + 1 − α from an argsort and a dict of ranks, then the per-token loop
for every copy, then `csv.writer(QUOTE_ALL)` with a header "text" and a row per version) vs clues'
(the drop probabilities of the corpus in one call, then `write_augmented_csv`) in the script's space
style and in the default style (mask), and vs the DataFrame path (per-text probabilities,
`augment_ranked`, a DataFrame, `to_csv`), whose file `write_augmented_csv` must equal byte for byte.

There is one CSV writer (the stdlib csv module with pandas' settings). A byte-level fast path that
stamped the copies into a byte array (~110 lines) was removed (issue 16, item 7): it served the space
style only, never the default style (mask) that the app and the experiment write, and gained ~33 ms
per 1,000 × 10 corpus. A fast path comes back only if it serves the default style and gives ≥ 2× on
the default end-to-end row printed here.

With --before PATH (a checkout of the project, e.g. the commit before a change to augment_ranked),
that checkout's clues/augment.py is loaded beside this one and timed too, on the same inputs, and
its output is checked to be the same.

    python bench/bench_augment.py [--n 1000] [--copies 10] [--before PATH]
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import inspect
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from clues.augment import (
    DEFAULT_AUGMENT,
    MODES,
    AugmentSettings,
    augment_ranked,
    corpus_probabilities,
    dropout_probability,
    ranked_from_tokens,
    write_augmented_csv,
)
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


def script_to_csv(path, ranked, token_ids, tokenizer, alpha, beta, copies, seed):
    """The released script end to end: per text the keep threshold of every position from an argsort and
    a dict of ranks, per copy the per-token loop, then every version through csv.writer(QUOTE_ALL)."""
    rng = random.Random(seed)
    out = []
    for item, ids in zip(ranked, token_ids):
        scores = -item.ranks.astype(float)  # the contrast the ranks came from: rank 0 scores highest
        order = np.argsort(-scores)
        rank_of = {int(position): rank for rank, position in enumerate(order)}
        threshold = [alpha * math.exp(-beta * rank_of[position]) + 1 - alpha for position in range(len(ids))]
        starts, ends, ranks = item.starts.tolist(), item.ends.tolist(), item.ranks.tolist()
        out.append(item.text)
        for _ in range(copies):
            text = item.text
            for position, token_id in enumerate(ids):
                if tokenizer.convert_ids_to_tokens(token_id) in [",", ".", "<bos>", "<s>"] or ranks[position] < 0:
                    continue
                if rng.random() > threshold[position]:
                    text = text[:starts[position]] + " " * (ends[position] - starts[position]) + text[ends[position]:]
            out.append(text)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(["text"])
        writer.writerows([text] for text in out)
    return out


def clues_to_csv(path, ranked, settings: AugmentSettings):
    """clues end to end: the corpus's drop probabilities in one call, then `write_augmented_csv`."""
    probabilities = corpus_probabilities(ranked, "contrast", settings)
    return write_augmented_csv(path, ranked, probabilities, settings)


def clues_to_csv_frame(path, ranked, settings: AugmentSettings):
    """clues end to end through a DataFrame: what augment_corpus(...).to_csv(path) does."""
    probabilities = [MODES["contrast"].probability(r.ranks, settings.alpha, settings.beta) for r in ranked]
    augmented = augment_ranked(ranked, probabilities, settings)
    rows = [(text, source, copy) for source, versions in enumerate(augmented) for copy, text in enumerate(versions)]
    pd.DataFrame(rows, columns=["text", "source", "copy"]).to_csv(path, index=False)
    return len(rows)


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
    alpha, beta = DEFAULT_AUGMENT.alpha, DEFAULT_AUGMENT.beta
    # the script's style (spaces), for the like-for-like rows, and the default style every face writes
    space = AugmentSettings(alpha=alpha, beta=beta, copies=args.copies, style="space", seed=0).check()
    default = AugmentSettings(alpha=alpha, beta=beta, copies=args.copies, seed=0).check()

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
        if "settings" in inspect.signature(augment).parameters:
            return augment(ranked, probabilities, space)
        return augment(ranked, probabilities, copies=args.copies, seed=0, style="space")  # a checkout before AugmentSettings

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
    # end to end: ranked corpus → CSV file on disk
    with tempfile.TemporaryDirectory() as folder:
        script_path, new_path, frame_path, mask_path = (Path(folder) / name for name in (
            "script.csv", "new.csv", "frame.csv", "mask.csv"))
        script_wall, script_cpu, _ = best(lambda: script_to_csv(script_path, ranked, token_ids, tokenizer, alpha, beta,
                                                                args.copies, 0), args.repeats)
        frame_wall, frame_cpu, _ = best(lambda: clues_to_csv_frame(frame_path, ranked, space), args.repeats * 10)
        new_wall, new_cpu, _ = best(lambda: clues_to_csv(new_path, ranked, space), args.repeats * 10)
        mask_wall, mask_cpu, _ = best(lambda: clues_to_csv(mask_path, ranked, default), args.repeats * 10)
        assert new_path.read_bytes() == frame_path.read_bytes(), "write_augmented_csv wrote another file"
        sizes = script_path.stat().st_size, new_path.stat().st_size
    load = max(load, os.getloadavg()[0])
    rate_vector = np.mean([c.count(" ") for v in vector for c in v[1:]])
    rate_loop = np.mean([c.count(" ") for v in loop for c in v[1:]])
    print(f"load average (1 min) {os.getloadavg()[0]:.2f}, up to {load:.2f} during the run, on {os.cpu_count()} "
          f"cores; best of {args.repeats} runs of the script's loop and {args.repeats * 10} of clues'; mean spaces "
          f"per copy loop / vectorised {rate_loop:.1f} / {rate_vector:.1f}; CSV sizes script / clues "
          f"{sizes[0] / 1e6:.2f} / {sizes[1] / 1e6:.2f} MB")
    print("| texts × copies | what is timed | released script s (wall / CPU) | clues ms (wall / CPU) | "
          "speed-up wall / CPU |")
    print("|---|---|---|---|---|")
    for name, wall, cpu in rows:
        print(f"| {args.n} × {args.copies} | inner function: `augment_ranked`, {name} | {loop_wall:.3f} / "
              f"{loop_cpu:.3f} | {wall * 1000:.1f} / {cpu * 1000:.1f} | {loop_wall / wall:.0f}× / "
              f"{loop_cpu / cpu:.0f}× |")
    for name, wall, cpu in [("augment_corpus + to_csv, space style", frame_wall, frame_cpu),
                            ("probabilities + write_augmented_csv, space style", new_wall, new_cpu),
                            (f"probabilities + write_augmented_csv, default style ({default.style})", mask_wall,
                             mask_cpu)]:
        print(f"| {args.n} × {args.copies} | ranked corpus → CSV on disk: {name} | {script_wall:.3f} / "
              f"{script_cpu:.3f} | {wall * 1000:.1f} / {cpu * 1000:.1f} | {script_wall / wall:.0f}× / "
              f"{script_cpu / cpu:.0f}× |")
    print(f"end to end against the released script, default style ({default.style}): "
          f"{script_wall / mask_wall:.0f}× wall, {script_cpu / mask_cpu:.0f}× CPU; space style: "
          f"{script_wall / new_wall:.0f}× wall, {script_cpu / new_cpu:.0f}× CPU")
    print(f"write_augmented_csv vs augment_corpus + to_csv (space style): {frame_wall / new_wall:.1f}× wall, "
          f"{frame_cpu / new_cpu:.1f}× CPU")


if __name__ == "__main__":
    main()
