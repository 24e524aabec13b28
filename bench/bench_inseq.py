"""Benchmark: clues' attention capture against a peer a user would pick instead, Inseq's attention
attribution (`inseq.load_model(path, "attention")`), on the same random GPT-2-small-size model
(12 layers, 12 heads, 768 wide, saved to a folder) and the same text of exactly T tokens.

Inseq is not a dependency of the project: it runs from its own virtual environment (--inseq-python),
made without touching the project's requirements, e.g.

    python3 -m venv ../inseq-venv
    ../inseq-venv/bin/pip install torch==2.13.0 transformers==5.23.0 tokenizers==0.23.3 \\
        safetensors==0.8.0 numpy tqdm psutil
    ../inseq-venv/bin/pip install --no-deps inseq captum
    ../inseq-venv/bin/pip install jaxtyping "typeguard<=2.13.3" rich treescope matplotlib

Variants, each in a fresh process (one torch thread):
  clues    — clues.capture.capture_attention: one forward pass, attention reduced as it is computed;
  eager    — eager attention with output_attentions=True, then the mean over layers and heads
             (what a hand-written script does; run with the clues python);
  inseq    — model.attribute(first word, whole text): Inseq's attention method needs only the final
             step, so this is one forward pass with output_attentions; its result keeps every layer
             and head ([T, T, L, H]), which is then averaged over layers and heads, as clues' map is.
Time: the best of --repeats runs. Extra peak memory: the process's peak resident set (VmHWM, reset
just before the run through /proc/self/clear_refs) minus the resident set before it, measured on
the first run of a process that has not run the model yet (its weights already read into memory).

    python bench/bench_inseq.py [--lengths 256 512 1024] [--inseq-python ../inseq-venv/bin/python]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from process_memory import rss_kib  # bench/ is on the path: these run as scripts
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

ROOT = Path(__file__).resolve().parent.parent
WORDS = "Liam Thompson was born on January 5 1990 in Melbourne and worked at the British Museum".split()
VARIANTS = ("clues", "eager", "inseq")


def save_model(folder: Path, length: int) -> None:
    """A random GPT-2-small-size model and a word-level tokenizer (one token per word, no BOS)."""
    torch.manual_seed(0)
    config = GPT2Config(n_layer=12, n_head=12, n_embd=768, n_positions=max(1024, length), vocab_size=50257)
    GPT2LMHeadModel(config).save_pretrained(folder)
    vocab = {w: i for i, w in enumerate(["<unk>", *sorted(set(WORDS))])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<unk>", bos_token="<unk>",
                            pad_token="<unk>").save_pretrained(folder)


def text_of(length: int) -> str:
    return " ".join(WORDS[i % len(WORDS)] for i in range(length))


def resident(model):
    """Read every weight once: loading maps the file lazily, and pages read during the run would
    count as the run's memory."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.sum()
    return model


def runner(variant: str, folder: str, length: int):
    """A function running the variant once, after loading what it needs (not timed)."""
    text = text_of(length)
    if variant == "inseq":
        # inside: inseq lives only in its own environment, not in the project's
        import inseq  # noqa: PLC0415

        model = inseq.load_model(folder, "attention")
        resident(model.model)
        first = WORDS[0]

        def run():
            out = model.attribute(input_texts=first, generated_texts=text, show_progress=False)
            scores = out.sequence_attributions[0].target_attributions  # [T, T, L, H]
            assert scores.shape[0] == length, scores.shape
            return scores.float().nanmean(dim=(-2, -1))  # the [T, T] map averaged over layers and heads

        return run
    model = resident(GPT2LMHeadModel.from_pretrained(folder).eval())
    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
    assert ids.shape[1] == length, ids.shape
    if variant == "eager":
        model.set_attn_implementation("eager")

        def run():
            with torch.no_grad():
                out = model(input_ids=ids, output_attentions=True, use_cache=False)
                return torch.stack(out.attentions).mean(dim=(0, 2))

        return run
    # inside: the clues side runs from the project's environment only (the inseq one has no clues)
    from clues.capture import capture_attention  # noqa: PLC0415
    from clues.models import LoadedModel  # noqa: PLC0415

    loaded = LoadedModel(model, tokenizer, "random-gpt2-small", torch.device("cpu"), torch.float32)

    def run():
        maps = capture_attention(loaded, text)
        assert len(maps.tokens) == length, len(maps.tokens)
        return maps

    return run


def measure(variant: str, folder: str, length: int, repeats: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    run = runner(variant, folder, length)
    # memory first, in a process that has not run the model yet (freed blocks of an earlier run
    # would hide the peak), then the timings
    gc.collect()
    before = rss_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # reset the peak resident set to the current one
    result = run()
    peak = rss_kib("VmHWM")
    del result
    walls, cpus = [], []
    for _ in range(repeats):
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return {"variant": variant, "length": length, "wall_s": min(walls), "cpu_s": min(cpus),
            "extra_peak_mib": (peak - before) / 1024, "torch": torch.__version__,
            "transformers": sys.modules["transformers"].__version__}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--clues-python", default=sys.executable)
    parser.add_argument("--inseq-python", default=os.environ.get("INSEQ_PYTHON"),
                        help="python of the virtual environment holding Inseq (default: $INSEQ_PYTHON)")
    parser.add_argument("--one", nargs=3, metavar=("VARIANT", "FOLDER", "LENGTH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], args.one[1], int(args.one[2]), args.repeats, args.threads)))
        return
    if "inseq" in args.variants and not args.inseq_python:
        parser.error("the inseq variant needs --inseq-python (or $INSEQ_PYTHON): the python of a virtual "
                     "environment holding Inseq, made as this file's docstring says; or leave it out with "
                     "--variants clues eager")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    print(f"{os.cpu_count()} CPUs, {args.threads} torch thread(s), best of {args.repeats}; "
          "each variant in a fresh process", flush=True)
    print("| T | variant | versions | wall s | CPU s | extra peak MiB | load avg (1 min) |")
    print("|---|---|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        save_model(Path(folder), max(args.lengths))
        for length in args.lengths:
            for variant in args.variants:
                python = args.inseq_python if variant == "inseq" else args.clues_python
                done = subprocess.run([python, __file__, "--one", variant, folder, str(length), "--repeats",
                                       str(args.repeats), "--threads", str(args.threads)],
                                      capture_output=True, text=True, env=env)
                if done.returncode:
                    print(f"| {length} | {variant} | failed: {done.stderr.strip().splitlines()[-1]} | | | | |",
                          flush=True)
                    continue
                row = json.loads(done.stdout.strip().splitlines()[-1])
                print(f"| {length} | {variant} | torch {row['torch']}, transformers {row['transformers']} | "
                      f"{row['wall_s']:.2f} | {row['cpu_s']:.2f} | {row['extra_peak_mib']:.0f} | "
                      f"{os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
