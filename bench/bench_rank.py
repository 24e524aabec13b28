"""Benchmark: ranking a corpus with a model pair, batched capture vs one text at a time.

Ranking = capture with the large and the small model, then contrast_maps + ranked_from_clues
per text (what `clues augment --mode contrast` does). Two pairs:

- the bundled demo pair (Llama-style, 6 layers × 256 / 2 layers × 128) on 1,000 generated
  biographies (`generate_biographies(1000, seed=0)`, ~53 tokens each);
- a random GPT-2-small-size pair (12 layers × 768, 12 heads / 6 layers × 768, the size of
  DistilGPT-2) on texts of two or three biographies (T ≈ 128: 90 to 180 tokens), fewer texts.

Each variant runs in a fresh process (same texts, same seeded models): model loading is not
timed; the corpus goes through in chunks of --chunk texts, as a ranking of a large corpus would
(batched: `capture_attention_batch` per chunk and model, batch size chosen by the function
(memory budget, and on a CPU batches near the cache) unless --batch-size). Reported: texts/s by wall clock and by the process's CPU time (the machine
may be shared: CPU time is the steadier number), the batched/single ratios of both, the extra
peak resident memory (VmHWM reset before the ranking, minus the resident set before it), and the
load average around each pair's runs. One torch thread throughout.

With --before PATH (a checkout of the project before batched capture, e.g. the main branch),
a third run ranks one text at a time with that checkout's `clues` (its capture still computed the
last layer's MLP and the logits): the speed-up a user sees, beside the one measured in this build.

    python bench/bench_rank.py [--n 1000] [--gpt2-n 200] [--batch-size B] [--threads 1] [--before PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from process_memory import rss_kib  # bench/ is on the path: these run as scripts

CHUNK = 256


def demo_pair():
    from clues.models import DEMO_LARGE, DEMO_SMALL, load_model

    return load_model(DEMO_LARGE, device="cpu"), load_model(DEMO_SMALL, device="cpu")


def gpt2_pair():
    """Random GPT-2-small-size large (12 × 768) and DistilGPT-2-size small (6 × 768), float32,
    sharing the demo pair's tokenizer (2,048 ids; the embedding tables keep GPT-2's 50,257 rows)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from clues.models import DEMO_SMALL, LoadedModel, load_model

    tokenizer = load_model(DEMO_SMALL, device="cpu").tokenizer
    pair = []
    for layers in (12, 6):
        torch.manual_seed(0)
        config = GPT2Config(n_layer=layers, n_head=12, n_embd=768, n_positions=1024, vocab_size=50257)
        model = GPT2LMHeadModel(config).eval()
        pair.append(LoadedModel(model, tokenizer, f"random-gpt2-{layers}x768", torch.device("cpu"), torch.float32))
    return tuple(pair)


def corpus(pair_name: str, n: int):
    from clues.corpus import generate_biographies
    from clues.text import TaggedText

    if pair_name == "demo":
        return generate_biographies(n, seed=0)
    bios = generate_biographies(3 * n, seed=0)
    texts, at = [], 0
    for i in range(n):  # two or three biographies per text, alternately: T ≈ 128 on average
        take = 2 + i % 2
        texts.append(TaggedText(" ".join(b.text for b in bios[at:at + take])))
        at += take
    return texts


def rank(large, small, texts, batched: bool, batch_size: int | None):
    from clues.augment import ranked_from_clues
    from clues.capture import capture_attention
    from clues.contrast import contrast_maps

    if batched:  # here, not above: the --before checkout has no capture_attention_batch
        from clues.capture import capture_attention_batch

    ranked = []
    capture_s = 0.0
    for first in range(0, len(texts), CHUNK):
        chunk = texts[first:first + CHUNK]
        start = time.perf_counter()
        if batched:
            plain = [t.text for t in chunk]
            large_maps = capture_attention_batch(large, plain, batch_size=batch_size)
            small_maps = capture_attention_batch(small, plain, batch_size=batch_size)
            capture_s += time.perf_counter() - start
            pairs = zip(large_maps, small_maps)
        else:
            pairs = None
        for item in chunk:
            if batched:
                first_maps, second_maps = next(pairs)
            else:
                start = time.perf_counter()
                first_maps, second_maps = capture_attention(large, item.text), capture_attention(small, item.text)
                capture_s += time.perf_counter() - start
            result = contrast_maps(first_maps, second_maps, spans=item.spans, skip_first=False)
            ranked.append(ranked_from_clues(result, "contrast"))
    return ranked, capture_s


def measure(pair_name: str, variant: str, n: int, batch_size: int | None, threads: int) -> dict:
    import gc

    import numpy as np
    import torch

    torch.set_num_threads(threads)
    large, small = demo_pair() if pair_name == "demo" else gpt2_pair()
    texts = corpus(pair_name, n)
    tokens = [len(large.tokenizer(t.text)["input_ids"]) for t in texts]
    rank(large, small, texts[:4], variant == "batched", batch_size)  # warm-up
    gc.collect()
    before = rss_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # reset the peak resident set to the current one
    cpu, wall = time.process_time(), time.perf_counter()
    ranked, capture_s = rank(large, small, texts, variant == "batched", batch_size)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = rss_kib("VmHWM")
    digests = [hash(tuple(r.ranks.tolist())) for r in ranked]  # int tuples: the same hash in every process
    return {"pair": pair_name, "variant": variant, "n": n, "wall_s": wall, "cpu_s": cpu, "capture_wall_s": capture_s,
            "extra_peak_mib": (peak - before) / 1024, "tokens_mean": float(np.mean(tokens)),
            "tokens_min": min(tokens), "tokens_max": max(tokens), "digests": digests}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000, help="biographies ranked with the demo pair")
    parser.add_argument("--gpt2-n", type=int, default=200, help="texts (T ≈ 128) ranked with the GPT-2-size pair")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--before", help="checkout whose clues ranks one at a time as the 'before' row")
    parser.add_argument("--pairs", nargs="+", default=["demo", "gpt2"], choices=["demo", "gpt2"])
    parser.add_argument("--one", nargs=2, metavar=("PAIR", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        n = args.n if args.one[0] == "demo" else args.gpt2_n
        print(json.dumps(measure(args.one[0], args.one[1], n, args.batch_size, args.threads)))
        return
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    print(f"torch threads: {args.threads}; batch size: {args.batch_size or 'chosen by capture_attention_batch'}; "
          f"chunks of {CHUNK} texts; {os.cpu_count()} CPUs")
    print("| pair | texts | tokens mean (min–max) | one at a time: texts/s wall / CPU | batched: texts/s wall / CPU | "
          "ratio wall | ratio CPU | capture-only ratio wall | extra peak MiB single / batched | load avg (1 min) before → after |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    befores = []
    for pair_name in args.pairs:
        load_before = os.getloadavg()[0]
        rows = {}
        for variant in ("single", "batched") + (("before",) if args.before else ()):
            command = [sys.executable, __file__, "--one", pair_name, variant.replace("before", "single"),
                       "--n", str(args.n), "--gpt2-n", str(args.gpt2_n), "--threads", str(args.threads)]
            if args.batch_size:
                command += ["--batch-size", str(args.batch_size)]
            here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            checkout = os.path.abspath(args.before) if variant == "before" else here
            out = subprocess.run(command, capture_output=True, text=True,
                                 env={**env, "PYTHONPATH": checkout})
            if out.returncode:
                sys.exit(out.stderr)
            rows[variant] = json.loads(out.stdout.strip().splitlines()[-1])
        load_after = os.getloadavg()[0]
        one, many = rows["single"], rows["batched"]
        n = one["n"]
        same = sum(a == b for a, b in zip(one["digests"], many["digests"]))
        print(f"| {pair_name} | {n} (same ranks: {same}) | {one['tokens_mean']:.0f} ({one['tokens_min']}–{one['tokens_max']}) | "
              f"{n / one['wall_s']:.1f} / {n / one['cpu_s']:.1f} | {n / many['wall_s']:.1f} / {n / many['cpu_s']:.1f} | "
              f"{one['wall_s'] / many['wall_s']:.2f}× | {one['cpu_s'] / many['cpu_s']:.2f}× | "
              f"{one['capture_wall_s'] / many['capture_wall_s']:.2f}× | "
              f"{one['extra_peak_mib']:.0f} / {many['extra_peak_mib']:.0f} | {load_before:.1f} → {load_after:.1f} |",
              flush=True)
        if "before" in rows:
            old = rows["before"]
            same_old = sum(a == b for a, b in zip(old["digests"], many["digests"]))
            befores.append(f"| {pair_name} | {n} (same ranks: {same_old}) | {n / old['wall_s']:.1f} / {n / old['cpu_s']:.1f} | "
                           f"{n / many['wall_s']:.1f} / {n / many['cpu_s']:.1f} | {old['wall_s'] / many['wall_s']:.2f}× | "
                           f"{old['cpu_s'] / many['cpu_s']:.2f}× | {old['extra_peak_mib']:.0f} |")
    if befores:
        print(f"\nAgainst one at a time with {args.before} (before batched capture):")
        print("| pair | texts | before: texts/s wall / CPU | batched: texts/s wall / CPU | ratio wall | ratio CPU | "
              "before: extra peak MiB |")
        print("|---|---|---|---|---|---|---|")
        print("\n".join(befores))


if __name__ == "__main__":
    main()
