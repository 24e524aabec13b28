"""Benchmark: lean attention capture vs (a) a plain forward with the default fast attention and
(b) eager `output_attentions=True`, on a random GPT-2-small-size model (12 layers, 12 heads, 768).

Each measurement runs in a fresh process; peak memory is the process's peak resident set
(VmHWM), reset right before the forward pass (Linux /proc/self/clear_refs), minus the resident
set before it. Times are the best of --repeats runs.

    python bench/bench_capture.py [--lengths 128 512 1024] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from process_memory import rss_kib  # bench/ is on the path: these run as scripts

WORDS = "Liam Thompson was born on January 5 1990 in Melbourne and worked at the British Museum".split()


def measure(variant: str, length: int, repeats: int, threads: int) -> dict:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = GPT2Config(n_layer=12, n_head=12, n_embd=768, n_positions=max(1024, length), vocab_size=50257)
    model = GPT2LMHeadModel(config).eval()
    model.set_attn_implementation("sdpa")
    vocab = {w: i for i, w in enumerate(["<unk>", *sorted(set(WORDS))])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<unk>")
    text = " ".join(WORDS[i % len(WORDS)] for i in range(length))

    from clues.capture import capture_attention
    from clues.models import LoadedModel

    loaded = LoadedModel(model, tokenizer, "random-gpt2-small", torch.device("cpu"), torch.float32)
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    assert ids.shape[1] == length

    def run():
        with torch.no_grad():
            if variant == "plain":
                model(input_ids=ids, use_cache=False)
            elif variant == "eager-output-attentions":
                model.set_attn_implementation("eager")
                out = model(input_ids=ids, output_attentions=True, use_cache=False)
                mean = torch.stack(out.attentions).mean(dim=(0, 2))  # what other tools then do
                del out, mean
                model.set_attn_implementation("sdpa")
            else:
                capture_attention(loaded, text)

    import gc

    # memory first, in a process that has not run the forward pass yet (freed blocks of an
    # earlier run would hide the peak), then the timings
    gc.collect()
    before = rss_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # reset the peak resident set to the current one
    run()
    peak = rss_kib("VmHWM")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return {"variant": variant, "length": length, "seconds": min(times), "extra_peak_mib": (peak - before) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 512, 1024])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--one", nargs=2, metavar=("VARIANT", "LENGTH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]), args.repeats, args.threads)))
        return
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    print("| T | plain s | capture s | eager+output_attentions s | time ratio capture/plain | "
          "extra peak MiB plain / capture / eager | extra-memory ratio (eager−plain)/(capture−plain) |")
    print("|---|---|---|---|---|---|---|")
    for length in args.lengths:
        rows = {}
        for variant in ("plain", "capture", "eager-output-attentions"):
            out = subprocess.run([sys.executable, __file__, "--one", variant, str(length), "--repeats",
                                  str(args.repeats), "--threads", str(args.threads)],
                                 capture_output=True, text=True, env=env, check=True)
            rows[variant] = json.loads(out.stdout.strip().splitlines()[-1])
        plain, lean, eager = rows["plain"], rows["capture"], rows["eager-output-attentions"]
        over_lean = lean["extra_peak_mib"] - plain["extra_peak_mib"]
        over_eager = eager["extra_peak_mib"] - plain["extra_peak_mib"]
        # below 1 MiB the capture adds nothing measurable over the plain pass
        memory_ratio = f"{over_eager / over_lean:.1f}×" if over_lean >= 1 else f"capture adds < 1 MiB (eager adds {over_eager:.0f})"
        print(f"| {length} | {plain['seconds']:.3f} | {lean['seconds']:.3f} | {eager['seconds']:.3f} | "
              f"{lean['seconds'] / plain['seconds']:.2f}× | {plain['extra_peak_mib']:.0f} / "
              f"{lean['extra_peak_mib']:.0f} / {eager['extra_peak_mib']:.0f} | {memory_ratio} |",
              flush=True)


if __name__ == "__main__":
    main()
