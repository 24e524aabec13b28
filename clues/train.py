"""Continual pretraining on a (possibly augmented) corpus, with per-epoch QA evaluation.

`train(config, store)` is the one training path: the app (a detached `clues train --run <id>`
of the configuration it saved with the run), the CLI, the experiment and `accelerate launch`
all call it with a `TrainConfig`, which is saved with the run as JSON. Causal-LM loss over
each text (eos appended), full fine-tuning or LoRA through the transformers `Trainer`. A
callback writes the loss at every logging step and, after each epoch (and once before
training, as epoch 0), few-shot QA EM/F1 and recall-probe scores per field to the run store.
Under several processes only the main process touches the store; a stop request is broadcast
so every process stops at the same step.

Threads: when OMP_NUM_THREADS is unset, torch gets 1 thread if another clues run is already
running on this machine, else min(cores, 4) — more than 4 rarely pays for the small models
this trains on a CPU, and two runs fighting over all cores both crawl.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import asdict, replace

import torch
from accelerate import PartialState
from accelerate.utils import broadcast_object_list
from peft import LoraConfig, get_peft_model
from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from clues.corpus import read_tagged_csv, read_texts
from clues.errors import CluesError
from clues.evaluate import evaluate_qa, recall_probe
from clues.models import load_model, make_trainable
from clues.runs import MEAN_FIELD, RunStore, device_key, run_threads, slots
from clues.settings import TrainConfig
from clues.shard import launched_state

TRAIN_METRICS = ("loss", "learning_rate", "grad_norm")


# -- data ----------------------------------------------------------------------------------

def tokenize_texts(texts: list[str], tokenizer, max_length: int) -> list[dict]:
    """One example per text, eos appended (so the model learns where a text ends), truncated."""
    eos = tokenizer.eos_token_id
    room = max_length - (1 if eos is not None else 0)
    encoded = tokenizer(texts, truncation=True, max_length=room)["input_ids"]
    return [{"input_ids": list(ids) + ([eos] if eos is not None else [])} for ids in encoded]


class PadCollator:
    """Right-pad a batch; labels are -100 on padding only.

    Not DataCollatorForLanguageModeling: it masks every token equal to the pad id, and many
    tokenizers pad with eos, which would drop the appended eos from the loss.

    With `replace` (a TokenReplacer), the INPUT tokens are replaced at random while the labels stay
    the original tokens: D-AR (Saito et al., 2025), the strongest outside baseline.
    """

    def __init__(self, pad_id: int, replace: TokenReplacer | None = None):
        self.pad_id, self.replace = pad_id, replace

    def __call__(self, features: list[dict]) -> dict:
        longest = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), longest), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(features), longest), dtype=torch.long)
        for row, feature in enumerate(features):
            n = len(feature["input_ids"])
            ids[row, :n] = torch.tensor(feature["input_ids"], dtype=torch.long)
            mask[row, :n] = 1
        labels = ids.masked_fill(mask == 0, -100)
        if self.replace is not None:
            ids = self.replace(ids, mask)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


class TokenReplacer:
    """Replace each real input token but the first (BOS, or the text's first token) and the last (EOS)
    with probability `rate` by a token drawn uniformly from the ordinary vocabulary (no special token).
    Its own seeded generator: the same seed replaces the same tokens."""

    def __init__(self, rate: float, vocab_size: int, special_ids, seed: int = 0):
        self.rate = rate
        allowed = torch.ones(vocab_size, dtype=torch.bool)
        allowed[[i for i in special_ids if i is not None and 0 <= i < vocab_size]] = False
        self.choices = torch.nonzero(allowed).flatten()  # [V'] token ids a replacement may take
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids, mask: [B, T] → [B, T] ids with replacements (padding and each row's ends untouched)."""
        lengths = mask.sum(dim=1, keepdim=True)  # [B, 1]
        positions = torch.arange(ids.shape[1]).unsqueeze(0)  # [1, T]
        inner = (positions > 0) & (positions < lengths - 1)  # [B, T]
        chosen = (torch.rand(ids.shape, generator=self.generator) < self.rate) & inner
        picks = self.choices[torch.randint(len(self.choices), ids.shape, generator=self.generator)]
        return torch.where(chosen, picks, ids)


# -- evaluation rows ------------------------------------------------------------------------

def evaluation_rows(qa: dict, recall: dict, epoch: float, step: int) -> list[dict]:
    """Per-field em/f1/recall rows plus their mean over fields (field = MEAN_FIELD)."""
    rows = []
    per_name: dict[str, list[float]] = {}
    for source, names in ((qa, ("em", "f1")), (recall, ("recall",))):
        for field_name, scores in (source or {}).items():
            for name in names:
                rows.append({"epoch": epoch, "step": step, "field": field_name, "name": name,
                             "value": float(scores[name])})
                per_name.setdefault(name, []).append(float(scores[name]))
    for name, values in per_name.items():
        rows.append({"epoch": epoch, "step": step, "field": MEAN_FIELD, "name": name,
                     "value": sum(values) / len(values)})
    return rows


class Evaluator:
    """Few-shot QA and the recall probe on the eval people, as metric rows."""

    def __init__(self, people, tokenizer, config: TrainConfig, shot_pool=None):
        self.people, self.tokenizer, self.config, self.shot_pool = people, tokenizer, config, shot_pool

    def __call__(self, model, epoch: float, step: int) -> list[dict]:
        c = self.config
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                qa = evaluate_qa(model, self.tokenizer, self.people, fields=c.eval_fields,
                                 shots=c.eval_shots, shot_pool=self.shot_pool, batch_size=c.eval_batch_size,
                                 seed=c.seed)
                # the probe swaps facts between people: with one person there is nobody to swap with
                probe = c.probe and len(self.people) >= 2
                recall = recall_probe(model, self.tokenizer, self.people, fields=c.eval_fields,
                                      batch_size=c.eval_batch_size, seed=c.seed) if probe else {}
        finally:
            model.train(was_training)
        return evaluation_rows(qa, recall, epoch, step)


# -- the callback -------------------------------------------------------------------------

class StoreCallback(TrainerCallback):
    """Loss rows at each log, evaluation rows at each epoch end, stop requests at each step."""

    def __init__(self, store: RunStore | None, run_id: int | None, evaluator: Evaluator | None,
                 stop_after_epoch: int | None = None):
        self.store, self.run_id, self.evaluator = store, run_id, evaluator
        self.stop_after_epoch = stop_after_epoch
        self.stopped = False

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._evaluate(model, 0.0, 0, state)  # the baseline: curves start at epoch 0

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.store is None or not state.is_world_process_zero:
            return
        rows = [{"epoch": state.epoch, "step": state.global_step, "name": key, "value": logs[key]}
                for key in TRAIN_METRICS if logs and logs.get(key) is not None]
        self.store.log_metrics(self.run_id, rows)

    def on_step_end(self, args, state, control, **kwargs):
        if _shared(self.store is not None and self.store.stop_requested(self.run_id)):
            control.should_training_stop = True
            self.stopped = True

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        if not self.stopped:  # a stopped epoch is partial: no evaluation point for it
            self._evaluate(model, float(round(state.epoch)), state.global_step, state)
        if self.stop_after_epoch and round(state.epoch) >= self.stop_after_epoch:
            control.should_training_stop = True  # early stopping: the run finishes here

    def _evaluate(self, model, epoch, step, state):
        if self.evaluator is None or self.store is None or not state.is_world_process_zero:
            return
        rows = self.evaluator(model, epoch, step)
        self.store.log_metrics(self.run_id, rows)
        means = {r["name"]: r["value"] for r in rows if r["field"] == MEAN_FIELD}
        print(f"[clues] run {self.run_id} epoch {epoch:g}: "
              + " ".join(f"{k} {v:.3f}" for k, v in means.items()), file=sys.stderr, flush=True)


def _shared(value):
    """Rank 0's value on every process (identity with one process)."""
    state = PartialState()
    if state.num_processes == 1:
        return value
    return broadcast_object_list([value], from_process=0)[0]


# -- the model ----------------------------------------------------------------------------

def process_rank() -> int:
    """This process's rank under torchrun/accelerate/mpirun (0 when launched alone)."""
    for key in ("RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK"):
        if os.environ.get(key, "").isdigit():
            return int(os.environ[key])
    return 0


def _placement(config: TrainConfig, state) -> tuple[torch.device, bool]:
    """(device, bf16): CUDA with bf16 mixed precision when present, else CPU fp32."""
    device = torch.device(config.device) if config.device else state.device
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return device, bf16


def load_for_training(config: TrainConfig, device: torch.device, bf16: bool):
    """Model and tokenizer ready for the Trainer.

    Full fine-tuning keeps fp32 master weights (bf16 only as autocast): AdamW on bf16 weights
    loses small updates. LoRA freezes the base, so the base may sit in bf16 to halve memory.
    """
    dtype = torch.bfloat16 if (bf16 and config.lora) else torch.float32
    loaded = load_model(config.model, device=device, dtype=dtype)
    model, tokenizer = make_trainable(loaded.model), loaded.tokenizer  # a .gguf loads marked quantized
    if config.lora:
        target = config.lora_target
        lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=0.0,
                          target_modules=target if target == "all-linear" else target.split(","),
                          task_type="CAUSAL_LM")
        model = get_peft_model(model, lora)
    elif config.trainable == "mlp":
        freeze_all_but_mlp(model)
    model.train()
    return model, tokenizer


def freeze_all_but_mlp(model) -> None:
    """Only the blocks' feed-forward weights learn (every architecture here names them `.mlp.`)."""
    learning = 0
    for name, parameter in model.named_parameters():
        parameter.requires_grad = ".mlp." in name
        learning += parameter.requires_grad
    if not learning:
        raise CluesError("trainable mlp: this model has no weights named .mlp.; train all weights instead")


def training_arguments(config: TrainConfig, output_dir: str, device: torch.device, bf16: bool):
    # transformers 5 has no `warmup_ratio` argument: `warmup_steps` reads a float in [0, 1) as a share of
    # the total steps (an int >= 1 as a number of steps); TrainConfig keeps warmup_ratio in [0, 1).
    return TrainingArguments(
        output_dir=output_dir, num_train_epochs=config.epochs, learning_rate=config.lr,
        per_device_train_batch_size=config.batch_size, warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay, lr_scheduler_type="linear",
        logging_strategy="steps", logging_steps=config.logging_steps,
        save_strategy="no", eval_strategy="no", report_to="none",
        seed=config.seed, data_seed=config.seed, bf16=bf16, use_cpu=device.type == "cpu",
        remove_unused_columns=False, dataloader_num_workers=0, disable_tqdm=True)


def build_trainer(model, tokenizer, dataset, config: TrainConfig, output_dir: str, device, bf16,
                  callbacks=()):  # many parameters: the Trainer's own inputs, each a different thing
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    replacer = None
    if config.replace_rate > 0:
        replacer = TokenReplacer(config.replace_rate, len(tokenizer), tokenizer.all_special_ids, seed=config.seed)
    trainer = Trainer(model=model, args=training_arguments(config, output_dir, device, bf16),
                      train_dataset=dataset, data_collator=PadCollator(pad_id, replacer),
                      processing_class=tokenizer, callbacks=list(callbacks))
    # Its printer writes log dicts to stdout, which would corrupt `clues train --json`;
    # the store callback reports each epoch on stderr instead.
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


# -- the run --------------------------------------------------------------------------------

def set_threads(store: RunStore | None, run_id: int | None) -> None:
    if "OMP_NUM_THREADS" in os.environ:
        return  # the user (or the launcher) decided
    busy = store is not None and store.active_runs(exclude=run_id) > 0
    torch.set_num_threads(1 if busy else run_threads())


def _open_run(store: RunStore, config: TrainConfig, device: torch.device) -> bool:
    """Create or attach the run and wait for a slot; False when stopped while queued."""
    settings = asdict(config)
    device = device_key(device)
    if config.run_id is None:
        config.run_id = store.create_run(config.run_name(), settings, "queued", device=device)
    else:
        run = store.get_run(config.run_id)
        if run["status"] != "queued":
            raise CluesError(f"Run {config.run_id} is {run['status']}, not queued; start a new run instead.")
        # keep what the launcher recorded (e.g. the app's condition, α, β) beside the full settings
        recorded = run.get("config") or {}
        extra = {**(recorded.get("extra") or {}), **settings.get("extra", {})}
        store.update_config(config.run_id, {**recorded, **settings, "extra": extra})
    return store.wait_for_turn(config.run_id, device, max_active=config.max_active or slots(device))


def train(config: TrainConfig, store: RunStore | None = None) -> int:
    """Train as `config` says, recording everything in the run store; return the run id."""
    config = replace(config)  # the run id is filled in below; leave the caller's config as it was
    try:
        config.validate()
    except CluesError as error:
        if config.run_id is not None and process_rank() == 0:
            (store or RunStore(config.store_path)).finish(config.run_id, "failed", str(error))
        raise
    state = launched_state(config.device)
    main = state.is_main_process
    device, bf16 = _placement(config, state)
    if main:
        store = store or RunStore(config.store_path)
    go = _open_run(store, config, device) if main else None
    config.run_id, go = _shared((config.run_id, go))
    if not go:
        if main:
            store.finish(config.run_id, "stopped", "stopped while queued")
        return config.run_id
    set_threads(store if main else None, config.run_id)
    try:
        status = _run_training(config, store if main else None, device, bf16)
    except (torch.cuda.OutOfMemoryError, MemoryError) as error:
        message = (f"Out of memory while training {config.model} ({type(error).__name__}). Use a "
                   "smaller --batch-size or --max-length, or --lora.")
        _record(store, config.run_id, "failed", message, main)
        raise CluesError(message) from error
    except KeyboardInterrupt:
        _record(store, config.run_id, "interrupted", "interrupted by the user", main)
        raise
    except BaseException as error:
        _record(store, config.run_id, "failed", f"{type(error).__name__}: {error}", main)
        raise
    _record(store, config.run_id, status, None, main)
    return config.run_id


def _record(store, run_id, status, error, main) -> None:
    if main and store is not None:
        store.finish(run_id, status, error)


def _run_training(config: TrainConfig, store: RunStore | None, device, bf16) -> str:
    set_seed(config.seed)
    model, tokenizer = load_for_training(config, device, bf16)
    dataset = tokenize_texts(read_texts(config.data), tokenizer, config.max_length)
    evaluator = None
    if config.eval_data:
        people = read_tagged_csv(config.eval_data, max_rows=config.eval_max_people)
        shot_pool = read_tagged_csv(config.eval_shot_data) if config.eval_shot_data else None
        evaluator = Evaluator(people, tokenizer, config, shot_pool)
    callback = StoreCallback(store, config.run_id, evaluator, config.stop_after_epoch)
    with tempfile.TemporaryDirectory(prefix="clues-train-") as scratch:
        trainer = build_trainer(model, tokenizer, dataset, config, config.output_dir or scratch,
                                device, bf16, [callback])
        trainer.train()
        if config.save_model:
            trainer.save_model(config.output_dir)  # safetensors; for LoRA only the adapter
    return "stopped" if callback.stopped else "finished"
