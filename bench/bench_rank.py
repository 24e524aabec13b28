"""Benchmark: ranking a corpus with a model pair, batched capture vs one text at a time.

Ranking = capture with the large and the small model, then contrast_maps + ranked_from_clues
per text (what `clues augment --mode contrast` does). Two pairs:

- the bundled demo pair (Llama-style, 6 layers × 256 / 2 layers × 128) on 1,000 generated
  biographies (`generate_biographies(1000, seed=0)`, ~53 tokens each);
- a random GPT-2-small-size pair (12 layers × 768, 12 heads / 6 layers × 768, the size of
  DistilGPT-2) on texts of two or three biographies (T ≈ 128: 90 to 180 tokens), fewer texts.

Each variant runs in a fresh process (same texts, same seeded models): model loading is not
timed; the corpus goes through in chunks of CHUNK (256) texts, as a ranking of a large corpus would
(batched: `capture_attention_batch` per chunk and model, batch size chosen by the function
(memory budget, and on a CPU batches near the cache) unless --batch-size). Each pair runs in every
--dtypes (float32 and bfloat16 by default), one at a time and batched. Reported per variant: texts/s
by wall clock and by the process's CPU time (the machine may be shared: CPU time is the steadier
number), the ratios against one at a time in the first dtype, the useful GFLOP/s (FlopCounterMode
over the one-at-a-time path, no padding) beside a matmul peak measured in the same process (the
ceiling any batching can reach), how close the rankings are to the first dtype's one-at-a-time
rankings (identical, top-5 overlap, Spearman's rho, mean change of p(r)), the extra peak resident
memory (VmHWM reset before the ranking, minus the resident set before it) and the load average.

With --before PATH (a checkout of the project before batched capture, e.g. the main branch),
a third run ranks one text at a time with that checkout's `clues` (its capture still computed the
last layer's MLP and the logits): the speed-up a user sees, beside the one measured in this build.

    python bench/bench_rank.py [--n 1000] [--gpt2-n 200] [--batch-size B] [--threads 1]
                               [--dtypes float32 bfloat16] [--before PATH]
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


def demo_pair(dtype: str):
    from clues.models import DEMO_LARGE, DEMO_SMALL, load_model

    return load_model(DEMO_LARGE, device="cpu", dtype=dtype), load_model(DEMO_SMALL, device="cpu", dtype=dtype)


def gpt2_pair(dtype: str):
    """Random GPT-2-small-size large (12 × 768) and DistilGPT-2-size small (6 × 768), float32 weights
    (cast to `dtype`), sharing the demo pair's tokenizer (2,048 ids; the embedding tables keep GPT-2's
    50,257 rows)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from clues.models import DEMO_SMALL, LoadedModel, load_model

    tokenizer = load_model(DEMO_SMALL, device="cpu").tokenizer
    pair = []
    for layers in (12, 6):
        torch.manual_seed(0)
        config = GPT2Config(n_layer=layers, n_head=12, n_embd=768, n_positions=1024, vocab_size=50257)
        model = GPT2LMHeadModel(config).eval().to(getattr(torch, dtype))
        pair.append(LoadedModel(model, tokenizer, f"random-gpt2-{layers}x768", torch.device("cpu"),
                                getattr(torch, dtype)))
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


def useful_flops(large, small, texts, sample: int = 50) -> float:
    """Floating-point operations of ranking `texts` one at a time (no padding): counted by torch's
    FlopCounterMode over the first `sample` texts and scaled by the tokens of all of them."""
    from torch.utils.flop_counter import FlopCounterMode

    from clues.capture import capture_attention

    counted = texts[:sample]
    with FlopCounterMode(display=False) as counter:
        for item in counted:
            capture_attention(large, item.text)
            capture_attention(small, item.text)
    tokens = [len(large.tokenizer(t.text)["input_ids"]) for t in texts]
    return counter.get_total_flops() * sum(tokens) / sum(tokens[:sample])


def matmul_peak(dtype, rows: int, inner: int, outer: int) -> float:
    """FLOP/s of one [rows, inner] × [inner, outer] matrix product in `dtype`, best of 5 timings:
    what this CPU's matrix unit gives at the models' shapes, measured in the same process."""
    import torch

    a, b = torch.randn(rows, inner, dtype=dtype), torch.randn(inner, outer, dtype=dtype)
    repeats = max(3, int(1e9 / (2 * rows * inner * outer)))
    best = float("inf")
    for _ in range(6):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, (time.perf_counter() - start) / repeats)
    return 2 * rows * inner * outer / best


def measure(pair_name: str, variant: str, n: int, batch_size: int | None, threads: int, dtype: str) -> dict:
    import gc

    import numpy as np
    import torch

    torch.set_num_threads(threads)
    large, small = demo_pair(dtype) if pair_name == "demo" else gpt2_pair(dtype)
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
    config = large.model.config
    hidden = config.hidden_size
    inner = getattr(config, "intermediate_size", None) or 4 * hidden
    return {"pair": pair_name, "variant": variant, "dtype": dtype, "n": n, "wall_s": wall, "cpu_s": cpu,
            "capture_wall_s": capture_s, "extra_peak_mib": (peak - before) / 1024,
            "tokens_mean": float(np.mean(tokens)), "tokens_min": min(tokens), "tokens_max": max(tokens),
            "flops": useful_flops(large, small, texts) if variant == "single" else None,
            "peak_flops": matmul_peak(large.dtype, 16 * int(np.mean(tokens)), hidden, inner),
            "ranks": [r.ranks.tolist() for r in ranked]}


def agreement(reference: list[list[int]], other: list[list[int]], alpha: float = 0.7, beta: float = 0.05) -> dict:
    """How far `other`'s rankings are from `reference`'s, text by text: identical rankings, overlap of
    the five strongest clues, Spearman's rho over the droppable units, and the mean absolute change
    of the dropout probability p(r) = α(1 − e^(−βr)) the augmentation would use."""
    import numpy as np

    same = top5 = 0
    rhos, changes = [], []
    for a, b in zip(reference, other):
        a, b = np.asarray(a), np.asarray(b)
        same += bool(np.array_equal(a, b))
        kept = (a >= 0) & (b >= 0)
        top5 += len(set(np.flatnonzero((a >= 0) & (a < 5))) & set(np.flatnonzero((b >= 0) & (b < 5)))) / 5
        if kept.sum() > 2:
            rhos.append(np.corrcoef(a[kept], b[kept])[0, 1])  # ranks already: Pearson of ranks = Spearman
        changes.append(np.abs(alpha * np.expm1(-beta * a[kept]) - alpha * np.expm1(-beta * b[kept])).mean())
    return {"identical": same / len(reference), "top5": top5 / len(reference), "rho": float(np.mean(rhos)),
            "p_change": float(np.mean(changes))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000, help="biographies ranked with the demo pair")
    parser.add_argument("--gpt2-n", type=int, default=200, help="texts (T ≈ 128) ranked with the GPT-2-size pair")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"],
                        help="the first is the reference the others' rankings are compared with")
    parser.add_argument("--before", help="checkout whose clues ranks one at a time as the 'before' row")
    parser.add_argument("--pairs", nargs="+", default=["demo", "gpt2"], choices=["demo", "gpt2"])
    parser.add_argument("--one", nargs=3, metavar=("PAIR", "VARIANT", "DTYPE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        n = args.n if args.one[0] == "demo" else args.gpt2_n
        print(json.dumps(measure(args.one[0], args.one[1], n, args.batch_size, args.threads, args.one[2])))
        return
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def run(pair_name: str, variant: str, dtype: str, checkout: str = here) -> dict:
        command = [sys.executable, __file__, "--one", pair_name, variant, dtype, "--n", str(args.n),
                   "--gpt2-n", str(args.gpt2_n), "--threads", str(args.threads)]
        if args.batch_size:
            command += ["--batch-size", str(args.batch_size)]
        out = subprocess.run(command, capture_output=True, text=True, env={**env, "PYTHONPATH": checkout})
        if out.returncode:
            sys.exit(out.stderr)
        return json.loads(out.stdout.strip().splitlines()[-1])

    print(f"torch threads: {args.threads}; batch size: {args.batch_size or 'chosen by capture_attention_batch'}; "
          f"chunks of {CHUNK} texts; {os.cpu_count()} CPUs; reference ranking: {args.dtypes[0]} one at a time")
    print("| pair | dtype | variant | texts/s wall / CPU | × one at a time in "
          f"{args.dtypes[0]}: wall / CPU | GFLOP/s (CPU) | matmul peak GFLOP/s | identical rankings | top-5 overlap | "
          "Spearman ρ | mean Δp | extra peak MiB | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    befores = []
    for pair_name in args.pairs:
        rows = {}
        for dtype in args.dtypes:
            for variant in ("single", "batched"):
                load = os.getloadavg()[0]
                rows[dtype, variant] = row = run(pair_name, variant, dtype)
                row["load"] = f"{load:.1f} → {os.getloadavg()[0]:.1f}"
        reference = rows[args.dtypes[0], "single"]
        n = reference["n"]
        for (dtype, variant), row in rows.items():
            flops = rows[dtype, "single"]["flops"]  # the useful work: no padding
            match = agreement(reference["ranks"], row["ranks"])
            print(f"| {pair_name} ({n} texts, {reference['tokens_mean']:.0f} tokens) | {dtype} | {variant} | "
                  f"{n / row['wall_s']:.1f} / {n / row['cpu_s']:.1f} | "
                  f"{reference['wall_s'] / row['wall_s']:.2f}× / {reference['cpu_s'] / row['cpu_s']:.2f}× | "
                  f"{flops / row['cpu_s'] / 1e9:.0f} | {row['peak_flops'] / 1e9:.0f} | {match['identical']:.1%} | "
                  f"{match['top5']:.3f} | {match['rho']:.4f} | {match['p_change']:.4f} | "
                  f"{row['extra_peak_mib']:.0f} | {row['load']} |", flush=True)
        if args.before:
            old = run(pair_name, "single", args.dtypes[0], os.path.abspath(args.before))
            many = rows[args.dtypes[0], "batched"]
            same_old = sum(a == b for a, b in zip(old["ranks"], many["ranks"]))
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
