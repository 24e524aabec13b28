"""Benchmark for a GPU machine: ranking, long-text capture and a LoRA epoch on a random ~1B pair.

A random Llama-style pair is built from configs (no hub) and saved with `save_pretrained` in
bf16 to a temporary folder, then read back through `clues.models.load_model(path,
dtype="bfloat16")`, as a user's pair would be:

- large: hidden 2048, 16 layers, 16 heads, MLP 5632, vocab 32,000 (~0.95 B parameters);
- small: hidden 1024, 8 layers, 16 heads, MLP 2816, same vocab (~0.17 B).

The tokenizer is a byte-level BPE trained on generated biographies (vocab_size 32,000 asked;
the corpus yields fewer, and the models' embedding tables keep 32,000 rows). Measured:

1. ranking N generated biographies with both models (`generate_biographies(N, seed=0)`): one
   text at a time (`capture_attention` per text and model, then `contrast_maps` and
   `ranked_from_clues`, as `rank_corpus` does) against `rank_corpus(..., "contrast")`, which
   captures with `capture_attention_batch` (batch size chosen from the GPU's free memory unless
   --batch-size). texts/s overall and of the capture alone, and how many texts got identical ranks;
2. `capture_attention` of one text of exactly T tokens (T = 4096) on the large model against a
   plain forward pass (sdpa attention, logits included) and eager attention with
   `output_attentions=True` (then the layer-and-head mean, what other tools do): best of
   --repeats, and the extra peak GPU memory (`torch.cuda.max_memory_allocated` minus the memory
   allocated before, the weights already in);
3. one LoRA epoch of `clues.train.train(TrainConfig(..., lora=True, epochs=1))` of the large
   model on a small augmented corpus (`augment_corpus` of the first --train-n biographies with
   the ranks from step 1, --copies copies each, originals included) with a temporary run store:
   wall time of `train()` (the model's load included: step 1's load time is given beside it),
   tokens/s and peak GPU memory.

Prints a markdown table naming the card (`torch.cuda.get_device_name`) and writes everything to
--out as JSON, rewritten after each step (a run cut short still leaves what it measured).
--tiny shrinks everything (hidden 64, 2 layers; T = 256; N = 20) so that the whole path runs on a
CPU in well under a minute: a check of the code, not a benchmark.

    python bench/bench_gpu.py --out bench_gpu.json [--device cuda] [--n 1000] [--tiny]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import tempfile
import time
from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedTokenizerFast

from clues.augment import AugmentSettings, augment_corpus, rank_corpus, ranked_from_clues
from clues.capture import attention_implementation, capture_attention
from clues.contrast import contrast_maps
from clues.corpus import generate_biographies
from clues.importance import DEFAULT_DISTANCE, DEFAULT_IMPORTANCE
from clues.models import load_model
from clues.runs import RunStore
from clues.train import TrainConfig, tokenize_texts, train

FULL = {
    "large": dict(hidden=2048, layers=16, heads=16, intermediate=5632),
    "small": dict(hidden=1024, layers=8, heads=16, intermediate=2816),
    "vocab": 32000, "tokenizer_texts": 2000, "length": 4096, "n": 1000,
    "train_n": 400, "copies": 4, "max_length": 256, "repeats": 3,
}
TINY = {
    "large": dict(hidden=64, layers=2, heads=4, intermediate=128),
    "small": dict(hidden=32, layers=1, heads=4, intermediate=64),
    "vocab": 1000, "tokenizer_texts": 200, "length": 256, "n": 20,
    "train_n": 16, "copies": 2, "max_length": 128, "repeats": 1,
}
TRAIN_BATCH = 8


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_tokenizer(vocab_size: int, n_texts: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on generated biographies (as tests/tiny.py builds its tokenizer)."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([t.text for t in generate_biographies(n_texts, seed=123)], trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="<pad>")


def save_random_llama(folder: Path, size: dict, vocab: int, positions: int, tokenizer, device, seed: int) -> int:
    """A random Llama-style model in bf16, built on `device`, saved with its tokenizer; its parameter count."""
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab, hidden_size=size["hidden"], num_hidden_layers=size["layers"],
                         num_attention_heads=size["heads"], num_key_value_heads=size["heads"],
                         intermediate_size=size["intermediate"], max_position_embeddings=positions,
                         bos_token_id=1, eos_token_id=2, pad_token_id=3, tie_word_embeddings=False)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    count = sum(p.numel() for p in model.parameters())
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    del model
    free_memory(device)
    return count


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# ---- 1. ranking ------------------------------------------------------------------------------

def rank_one_at_a_time(large, small, texts) -> tuple[list, float]:
    """What rank_corpus does, with one forward pass per text and model; (ranked, capture seconds)."""
    ranked, capture_s = [], 0.0
    for item in texts:
        start = time.perf_counter()
        first, second = capture_attention(large, item.text), capture_attention(small, item.text)
        capture_s += time.perf_counter() - start
        result = contrast_maps(first, second, spans=item.spans, importance=DEFAULT_IMPORTANCE,
                               distance=DEFAULT_DISTANCE)
        ranked.append(ranked_from_clues(result, "contrast"))
    return ranked, capture_s


def measure_ranking(large, small, texts, batch_size: int | None) -> tuple[dict, list]:
    device = large.device
    rank_one_at_a_time(large, small, texts[:4])  # warm-up: kernels, allocator, tokenizer caches
    rank_corpus(texts[:8], "contrast", large=large, small=small, batching=dict(batch_size=batch_size))
    synchronize(device)
    start = time.perf_counter()
    single, single_capture_s = rank_one_at_a_time(large, small, texts)
    synchronize(device)
    single_s = time.perf_counter() - start
    log(f"ranking one at a time: {len(texts)} texts in {single_s:.1f} s")
    start = time.perf_counter()
    batched = rank_corpus(texts, "contrast", large=large, small=small, batching=dict(batch_size=batch_size))
    synchronize(device)
    batched_s = time.perf_counter() - start
    log(f"ranking batched: {len(texts)} texts in {batched_s:.1f} s")
    tokens = [len(large.tokenizer(t.text)["input_ids"]) for t in texts]
    same = sum(a.ranks.tolist() == b.ranks.tolist() for a, b in zip(single, batched))
    return {"texts": len(texts), "tokens_mean": sum(tokens) / len(tokens), "tokens_min": min(tokens),
            "tokens_max": max(tokens), "single_s": single_s, "single_capture_s": single_capture_s,
            "batched_s": batched_s, "batch_size": batch_size, "same_ranks": same,
            "single_texts_per_s": len(texts) / single_s, "batched_texts_per_s": len(texts) / batched_s,
            "ratio": single_s / batched_s}, batched


# ---- 2. capture of one long text --------------------------------------------------------------

def long_text(tokenizer, length: int) -> str:
    """Biographies joined until the text has at least `length` tokens."""
    bios = generate_biographies(max(8, length // 20), seed=7)
    text, at = "", 0
    while len(tokenizer(text)["input_ids"]) < length:
        text = " ".join(b.text for b in bios[:at + 8])
        at += 8
        if at > len(bios):
            bios = bios + generate_biographies(len(bios), seed=at)
    return text


def peak_of(run, device: torch.device, repeats: int) -> tuple[float, float | None]:
    """Best time of `repeats` runs after one warm-up; extra peak GPU bytes of a run (None on a CPU)."""
    run()
    free_memory(device)
    extra = None
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        run()
        synchronize(device)
        extra = torch.cuda.max_memory_allocated(device) - before
    best = math.inf
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        run()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best, extra


def measure_long_capture(large, length: int, repeats: int) -> dict:
    model, device = large.model, large.device
    text = long_text(large.tokenizer, length)
    ids = torch.tensor([large.tokenizer(text)["input_ids"][:length]], device=device)

    def capture():
        maps = capture_attention(large, text, max_tokens=length)
        assert maps.n_tokens == length, maps.n_tokens

    def plain():
        with torch.no_grad(), attention_implementation(model, "sdpa"):
            model(input_ids=ids, use_cache=False)

    def eager_output_attentions():
        with torch.no_grad(), attention_implementation(model, "eager"):
            out = model(input_ids=ids, output_attentions=True, use_cache=False)
            mean = torch.stack(out.attentions).float().mean(dim=(0, 2))  # what other tools then do
            del out, mean

    rows = {}
    for name, run in (("plain", plain), ("capture", capture), ("eager_output_attentions", eager_output_attentions)):
        seconds, extra = peak_of(run, device, repeats)
        rows[name] = {"s": seconds, "extra_peak_bytes": extra}
        log(f"T={length} {name}: {seconds:.3f} s, extra peak "
            f"{'n/a' if extra is None else f'{extra / 2**20:.0f} MiB'}")
        free_memory(device)
    return {"tokens": length, "repeats": repeats, **rows}


# ---- 3. one LoRA epoch ------------------------------------------------------------------------

def measure_lora_epoch(large_dir: Path, texts, ranked, copies: int, max_length: int, device: torch.device,
                       scratch: Path) -> dict:
    # the space style, as this benchmark has always measured it (the tokens per copy stay comparable)
    frame = augment_corpus(ranked, "contrast", AugmentSettings(copies=copies, seed=0, style="space"))
    data = scratch / "augmented.csv"
    frame[["text"]].to_csv(data, index=False)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(large_dir)
    tokens = sum(len(row["input_ids"]) for row in tokenize_texts(frame["text"].tolist(), tokenizer, max_length))
    config = TrainConfig(model=str(large_dir), data=str(data), lora=True, epochs=1, batch_size=TRAIN_BATCH,
                         max_length=max_length, probe=False, device=str(device), name="bench-gpu-lora",
                         store_path=str(scratch / "runs.db"))
    store = RunStore(config.store_path)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    run_id = train(config, store)
    synchronize(device)
    wall = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    run = store.get_run(run_id)
    steps = math.ceil(len(frame) / TRAIN_BATCH)
    log(f"LoRA epoch: {len(frame)} texts, {steps} steps in {wall:.1f} s ({run['status']})")
    return {"rows": len(frame), "source_texts": len(texts), "copies": copies, "tokens": tokens, "steps": steps,
            "batch_size": TRAIN_BATCH, "max_length": max_length, "wall_s": wall, "tokens_per_s": tokens / wall,
            "peak_bytes": peak, "status": run["status"], "loss_rows": len(store.metrics(run_id))}


# ---- report -----------------------------------------------------------------------------------

def mib(count) -> str:
    return "n/a (CPU)" if count is None else f"{count / 2**20:,.0f} MiB"


def table(result: dict) -> str:
    rows = ["| benchmark | setting | result | ratio |", "|---|---|---|---|"]
    ranking = result.get("ranking")
    if ranking:
        setting = (f"{ranking['texts']} biographies, {ranking['tokens_mean']:.0f} tokens mean "
                   f"({ranking['tokens_min']}–{ranking['tokens_max']}), large + small")
        rows.append(f"| ranking, one text at a time | {setting} | {ranking['single_texts_per_s']:.1f} texts/s "
                    f"(capture alone {ranking['texts'] / ranking['single_capture_s']:.1f}) | 1× |")
        rows.append(f"| ranking, batched (`rank_corpus`) | batch size {ranking['batch_size'] or 'auto'}; "
                    f"same ranks {ranking['same_ranks']}/{ranking['texts']} | "
                    f"{ranking['batched_texts_per_s']:.1f} texts/s | {ranking['ratio']:.2f}× |")
    capture = result.get("long_capture")
    if capture:
        plain = capture["plain"]
        for name, label in (("plain", "plain forward (sdpa, logits)"), ("capture", "`capture_attention`"),
                            ("eager_output_attentions", "eager + `output_attentions`, mean")):
            row = capture[name]
            rows.append(f"| T = {capture['tokens']}, large: {label} | best of {capture['repeats']} | "
                        f"{row['s']:.3f} s, extra peak {mib(row['extra_peak_bytes'])} | "
                        f"{row['s'] / plain['s']:.2f}× time |")
    lora = result.get("lora")
    if lora:
        rows.append(f"| one LoRA epoch, large (`train()`, load included) | {lora['source_texts']} × "
                    f"(1 + {lora['copies']}) = {lora['rows']} texts, {lora['tokens']:,} tokens, "
                    f"{lora['steps']} steps of {lora['batch_size']} | {lora['wall_s']:.1f} s, "
                    f"{lora['tokens_per_s']:,.0f} tokens/s, peak {mib(lora['peak_bytes'])} "
                    f"(large loads in {result['load_s']['large']:.1f} s) | — |")
    return "\n".join(rows)


def header(result: dict) -> str:
    sizes = result["models"]
    large, small = sizes["large"], sizes["small"]
    return (f"card: {result['card']}; torch {result['torch']}, transformers {result['transformers']}; "
            f"large {large['parameters'] / 1e6:,.1f} M parameters ({large['layers']} layers × {large['hidden']}), "
            f"small {small['parameters'] / 1e6:,.1f} M ({small['layers']} × {small['hidden']}), bf16; "
            f"tokenizer {result['tokenizer_vocab']} ids, model vocab {result['model_vocab']}"
            f"{' — TINY CPU CHECK of the code path, not a benchmark' if result['tiny'] else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON file for the results")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: checks the code path on a CPU")
    parser.add_argument("--n", type=int, help="biographies ranked (default 1000; tiny 20)")
    parser.add_argument("--length", type=int, help="tokens of the long capture (default 4096; tiny 256)")
    parser.add_argument("--train-n", type=int, help="biographies augmented for the LoRA epoch (default 400; tiny 16)")
    parser.add_argument("--copies", type=int, help="augmented copies per biography (default 4; tiny 2)")
    parser.add_argument("--repeats", type=int, help="timed runs of the long capture (default 3; tiny 1)")
    parser.add_argument("--batch-size", type=int, default=None, help="capture batch size (default: chosen by clues)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["ranking", "capture", "lora"])
    args = parser.parse_args()
    transformers.utils.logging.disable_progress_bar()  # "Writing model shards", "Loading weights"
    sizes = dict(TINY if args.tiny else FULL)
    for key in ("n", "length", "train_n", "copies", "repeats"):
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda asked for, but CUDA is not available here; use --device cpu or --tiny.")
    out = Path(args.out)
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or 'cpu'}, {torch.get_num_threads()} threads)"
    result = {"card": card, "device": str(device), "tiny": args.tiny, "torch": torch.__version__,
              "transformers": transformers.__version__, "sizes": sizes}

    def save() -> None:
        out.write_text(json.dumps(result, indent=2))

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="clues-bench-gpu-") as scratch:
        scratch = Path(scratch)
        tokenizer = build_tokenizer(sizes["vocab"], sizes["tokenizer_texts"])
        vocab = max(sizes["vocab"], len(tokenizer))
        result["tokenizer_vocab"], result["model_vocab"] = len(tokenizer), vocab
        log(f"{card}: tokenizer of {len(tokenizer)} ids; building the pair (model vocab {vocab})")
        positions = max(sizes["length"], 512)
        result["models"], result["load_s"], loaded = {}, {}, {}
        for seed, name in enumerate(("large", "small")):
            folder = scratch / name
            count = save_random_llama(folder, sizes[name], vocab, positions, tokenizer, device, seed)
            start = time.perf_counter()
            loaded[name] = load_model(str(folder), device=device, dtype="bfloat16")
            synchronize(device)
            result["load_s"][name] = time.perf_counter() - start
            result["models"][name] = {**sizes[name], "parameters": count}
            log(f"{name}: {count / 1e6:.1f} M parameters, loaded in {result['load_s'][name]:.1f} s")
        save()
        large, small = loaded["large"], loaded["small"]
        texts = generate_biographies(max(sizes["n"], sizes["train_n"]), seed=0)
        ranked = None
        if "ranking" not in args.skip:
            result["ranking"], ranked = measure_ranking(large, small, texts[:sizes["n"]], args.batch_size)
            save()
        if "capture" not in args.skip:
            result["long_capture"] = measure_long_capture(large, sizes["length"], sizes["repeats"])
            save()
        if "lora" not in args.skip:
            train_texts = texts[:sizes["train_n"]]
            if ranked is None or len(ranked) < len(train_texts):
                ranked = rank_corpus(train_texts, "contrast", large=large, small=small,
                                     batching=dict(batch_size=args.batch_size))
            del large, small, loaded
            free_memory(device)
            result["lora"] = measure_lora_epoch(scratch / "large", train_texts, ranked[:len(train_texts)],
                                                sizes["copies"], sizes["max_length"], device, scratch)
            save()
    result["total_s"] = time.perf_counter() - started
    save()
    print()
    print(header(result))
    print()
    print(table(result))
    print(f"\nwhole run: {result['total_s']:.0f} s; results in {out}")


if __name__ == "__main__":
    main()
