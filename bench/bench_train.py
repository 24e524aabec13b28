"""Benchmark: training throughput of clues' Trainer path vs a bare PyTorch loop.

Same tiny random Llama (~5 M parameters), same batches (right-padded by the same collator),
same AdamW, linear schedule and gradient clipping at 1.0 (the Trainer's default), same number
of steps, CPU, one thread. The Trainer path is `clues.train.build_trainer` with the run-store
callback of `train()` (loss row written every step, stop request read every step), so the
ratio is the whole cost of the Trainer + store machinery. Throughput is steady state: the
clock starts after `--warmup` steps in both paths.

    python bench/bench_train.py [--steps 40] [--batch 8] [--length 128]
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)


def tiny_llama(vocab: int, hidden: int, layers: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                         num_attention_heads=8, num_key_value_heads=4, intermediate_size=hidden * 3,
                         max_position_embeddings=512, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    return LlamaForCausalLM(config)


def word_tokenizer(vocab: int):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3} | {f"w{i}": i for i in range(4, vocab)}
    tok = Tokenizer(models.WordLevel(words, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>", unk_token="<unk>")


def dataset(n: int, vocab: int, length: int) -> list[dict]:
    generator = torch.Generator().manual_seed(1)
    lengths = torch.randint(length // 2, length + 1, (n,), generator=generator)
    return [{"input_ids": torch.randint(4, vocab, (int(k),), generator=generator).tolist()} for k in lengths]


def tokens_in(rows) -> int:
    return sum(len(r["input_ids"]) for r in rows)


class Timer:
    """Time from the end of step `warmup` to the end of the last step."""

    def __init__(self, warmup: int):
        self.warmup, self.start, self.end = warmup, None, None

    def step(self, step: int) -> None:
        if step == self.warmup:
            self.start = time.perf_counter()
        self.end = time.perf_counter()


def run_trainer(model, tokenizer, rows, args, store_path) -> float:
    from transformers import TrainerCallback

    from clues.runs import RunStore
    from clues.train import StoreCallback, TrainConfig, build_trainer

    timer = Timer(args.warmup)

    class Clock(TrainerCallback):
        def on_step_end(self, _args, state, control, **kwargs):
            timer.step(state.global_step)

    config = TrainConfig(model="bench", data="bench.csv", epochs=1, lr=1e-4, batch_size=args.batch,
                         max_length=args.length, seed=0)
    store = RunStore(store_path)
    run_id = store.create_run("bench", {}, "running", device="cpu", pid=os.getpid())
    store_callback = StoreCallback(store, run_id, None)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = build_trainer(model, tokenizer, rows, config, scratch, torch.device("cpu"), False,
                                [store_callback, Clock()])
        trainer.train()
    assert (store.metrics(run_id)["name"] == "loss").sum() == args.steps  # the store was really written
    return timer.end - timer.start


def run_bare(model, rows, args) -> float:
    from torch.utils.data import DataLoader
    from transformers import get_linear_schedule_with_warmup

    from clues.train import PadCollator

    torch.manual_seed(0)
    loader = DataLoader(rows, batch_size=args.batch, shuffle=True, collate_fn=PadCollator(0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0)
    schedule = get_linear_schedule_with_warmup(optimizer, 0, len(loader))
    timer = Timer(args.warmup)
    model.train()
    for step, batch in enumerate(loader, start=1):
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        timer.step(step)
    return timer.end - timer.start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    rows = dataset(args.steps * args.batch, args.vocab, args.length)
    # Both paths shuffle with their own sampler, so count tokens as the mean per step.
    measured_tokens = tokens_in(rows) / args.steps * (args.steps - args.warmup)
    base = tiny_llama(args.vocab, args.hidden, args.layers)
    tokenizer = word_tokenizer(args.vocab)
    n_params = sum(p.numel() for p in base.parameters())
    trainer_s, bare_s = [], []
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):  # alternate, so drift on a shared machine hits both
            bare_s.append(run_bare(copy.deepcopy(base), rows, args))
            trainer_s.append(run_trainer(copy.deepcopy(base), tokenizer, rows, args,
                                         os.path.join(folder, f"runs{repeat}.sqlite")))
    trainer_tps, bare_tps = measured_tokens / min(trainer_s), measured_tokens / min(bare_s)
    print(f"| training throughput, Llama {n_params / 1e6:.1f} M params, batch {args.batch} x <= {args.length} "
          f"tokens, {args.steps - args.warmup} timed steps, CPU 1 thread | Trainer + run store "
          f"{trainer_tps:,.0f} tok/s | bare PyTorch loop {bare_tps:,.0f} tok/s | "
          f"ratio {trainer_tps / bare_tps:.2f}x |")


if __name__ == "__main__":
    main()
