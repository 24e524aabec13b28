"""`clues train …` and `clues runs list|show|export|stop`."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from clues.commands import print_json
from clues.corpus import FACT_FIELDS
from clues.errors import CluesError, InputError
from clues.settings import DEFAULT_TRAIN as D
from clues.settings import TRAINABLE

EXPORT_FORMATS = (".csv", ".parquet", ".json")


def register(subparsers) -> None:
    _register_train(subparsers)
    _register_runs(subparsers)


def _register_train(subparsers) -> None:
    p = subparsers.add_parser("train", help="continually pretrain a model on a corpus, evaluating each epoch",
                              description="Continual pretraining (causal LM loss) with per-epoch few-shot "
                              "QA and recall scores per fact field, all recorded in the run store. Give "
                              "--model and --data (and any settings below), or --run ID to train the "
                              "configuration saved with a queued run (how the app starts its runs).")
    p.add_argument("--run", type=int, metavar="ID",
                   help="train the configuration saved with queued run ID (no other training options)")
    settings = []  # every training setting: none of them goes with --run

    def setting(*flags, **options):
        settings.append(p.add_argument(*flags, **options))

    setting("--model", help="model folder, .gguf file or hub id")
    setting("--data", help="CSV with a `text` column (tagged or plain)")
    setting("--eval", dest="eval_data", help="tagged CSV of the same people, evaluated each epoch")
    setting("--epochs", type=int, default=D.epochs, help=f"passes over the data (default {D.epochs})")
    setting("--stop-after-epoch", type=int, default=None,
            help="early stopping: end after this epoch while the learning-rate schedule runs over --epochs "
            "(e.g. an epoch chosen on validation people; default: train every epoch)")
    setting("--lr", type=float, default=D.lr, help=f"peak learning rate (default {D.lr:g})")
    setting("--batch-size", type=int, default=D.batch_size, help=f"texts per step (default {D.batch_size})")
    setting("--max-length", type=int, default=D.max_length, help=f"tokens per text at most (default {D.max_length})")
    setting("--lora", action="store_true", help="train LoRA adapters instead of every weight")
    setting("--lora-r", type=int, default=D.lora_r, help=f"LoRA rank (default {D.lora_r})")
    setting("--lora-alpha", type=int, default=D.lora_alpha, help=f"LoRA scaling (default {D.lora_alpha})")
    setting("--warmup-ratio", type=float, default=D.warmup_ratio,
            help=f"share of the steps spent warming up (default {D.warmup_ratio})")
    setting("--weight-decay", type=float, default=D.weight_decay, help=f"(default {D.weight_decay})")
    setting("--replace-rate", type=float, default=D.replace_rate,
            help="D-AR: share of input tokens replaced at random while the loss targets the originals "
            f"(default {D.replace_rate}: off)")
    setting("--trainable", choices=list(TRAINABLE), default=D.trainable,
            help="which weights learn: " + "; ".join(f"{k}: {v}" for k, v in TRAINABLE.items())
            + f" (default {D.trainable})")
    setting("--eval-fields", help=f"comma-separated subset of {','.join(FACT_FIELDS)} (default all)")
    setting("--eval-shots", type=int, default=D.eval_shots,
            help=f"solved examples before each QA question (default {D.eval_shots})")
    setting("--eval-shots-from", dest="eval_shot_data", metavar="CSV",
            help="tagged CSV of other people the solved examples come from (the paper: its biography_real.csv; "
            "default: the other evaluated people)")
    setting("--eval-max-people", type=int, default=D.eval_max_people,
            help=f"people asked each epoch at most (default {D.eval_max_people})")
    setting("--no-probe", action="store_true", help="skip the recall probe")
    setting("--logging-steps", type=int, default=1)
    setting("--seed", type=int, default=0)
    setting("--device", help="cpu, cuda, cuda:1 … (default: CUDA when present)")
    setting("--name", help="a name for the run")
    setting("--max-active", type=int, default=None,
            help="runs allowed at once on one device (default: on a CPU its cores over each run's threads, 1 per GPU)")
    setting("--save", metavar="DIR", help="write the trained model (or LoRA adapter) here")
    p.add_argument("--store", help="run store file (default $CLUES_HOME/runs.sqlite)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_train, train_settings={a.dest: (a.option_strings[0], a.default) for a in settings})


def _register_runs(subparsers) -> None:
    runs = subparsers.add_parser("runs", help="list, show, export or stop training runs")
    runs.add_argument("--store", help="run store file (default $CLUES_HOME/runs.sqlite)")
    sub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="every run with its status")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=run_list)
    show = sub.add_parser("show", help="one run: settings, status and its last scores")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=run_show)
    export = sub.add_parser("export", help="a run's metrics as CSV, Parquet or JSON")
    export.add_argument("id", type=int)
    export.add_argument("--out", required=True, help="metrics.csv, metrics.parquet or metrics.json")
    export.set_defaults(func=run_export)
    stop = sub.add_parser("stop", help="ask a queued or running run to stop after its current step")
    stop.add_argument("id", type=int)
    stop.set_defaults(func=run_stop)
    for action in (listing, show, export, stop):  # `runs list --store X` as well as `runs --store X list`
        action.add_argument("--store", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


# -- handlers --------------------------------------------------------------------------------

# clues.train and clues.runs are imported inside the handlers, not at the top: every `clues`
# command builds this parser, and clues.train pulls in torch and transformers (seconds of start-up).

def config_from_args(args: argparse.Namespace):
    """The TrainConfig of `clues train --model … --data …` (not yet validated: train() does that)."""
    from clues.train import TrainConfig

    if not args.model or not args.data:
        raise InputError("Give --model and --data, or --run ID to train the configuration saved with a run.")
    fields = [f.strip() for f in args.eval_fields.split(",") if f.strip()] if args.eval_fields else None
    return TrainConfig(
        model=args.model, data=args.data, eval_data=args.eval_data, epochs=args.epochs,
        stop_after_epoch=args.stop_after_epoch, lr=args.lr,
        batch_size=args.batch_size, max_length=args.max_length, lora=args.lora, lora_r=args.lora_r,
        lora_alpha=args.lora_alpha, seed=args.seed, name=args.name, output_dir=args.save,
        eval_fields=fields, eval_shots=args.eval_shots,
        eval_shot_data=args.eval_shot_data, eval_max_people=args.eval_max_people,
        probe=not args.no_probe, warmup_ratio=args.warmup_ratio, weight_decay=args.weight_decay,
        replace_rate=args.replace_rate, trainable=args.trainable, logging_steps=args.logging_steps,
        device=args.device, store_path=args.store,
        save_model=bool(args.save), max_active=args.max_active)


def saved_config(args: argparse.Namespace, store):
    """The TrainConfig saved with run `args.run`, attached to that run (`clues train --run ID`)."""
    from clues.train import TrainConfig, process_rank

    given = [flag for dest, (flag, default) in args.train_settings.items() if getattr(args, dest) != default]
    if given:
        options = ", ".join(given)
        raise InputError(f"--run trains the configuration saved with run {args.run}; drop {options}.")
    run = store.get_run(args.run)
    try:
        config = TrainConfig.from_dict(run["config"])
    except InputError as error:
        if run["status"] == "queued" and process_rank() == 0:
            store.finish(args.run, "failed", str(error))
        raise
    return replace(config, run_id=args.run, store_path=str(store.path))


def run_train(args: argparse.Namespace) -> int:
    from clues.runs import RunStore
    from clues.train import process_rank, train

    main = process_rank() == 0
    if args.run is not None:
        # Every process of a multi-process launch reads the saved configuration; only rank 0 writes.
        config = saved_config(args, RunStore(args.store))
    else:
        config = config_from_args(args)
    # train() validates: a bad setting of a queued run (--run) then marks that run failed.
    store = RunStore(args.store) if main else None
    run_id = train(config, store)
    if store is None:
        return 0  # other processes of a multi-process launch stay quiet
    run = store.get_run(run_id)
    result = {"run_id": run_id, "status": run["status"], "error": run["error"],
              "metrics": store.epoch_summary(run_id)}
    if args.json:
        print_json(result)
    else:
        print(f"run {run_id}: {run['status']}")
        for key, value in result["metrics"].items():
            print(f"  {key}: {value:.4f}")
    return 0 if run["status"] in ("finished", "stopped") else 1


def _store(args):
    from clues.runs import RunStore

    return RunStore(args.store)


def run_list(args: argparse.Namespace) -> int:
    store = _store(args)
    store.reconcile()
    runs = store.list_runs()
    if args.json:
        print_json(runs)
        return 0
    if not runs:
        print(f"no runs in {store.path}")
        return 0
    print(f"{'id':>4}  {'status':<11}  {'device':<7}  {'created':<25}  name")
    for run in runs:
        print(f"{run['id']:>4}  {run['status']:<11}  {run['device'] or '-':<7}  {run['created_at']:<25}  {run['name']}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    store = _store(args)
    store.reconcile()
    run = store.get_run(args.id)
    summary = store.epoch_summary(args.id)
    if args.json:
        print_json({**run, "metrics": summary})
        return 0
    for key in ("id", "name", "status", "device", "pid", "created_at", "started_at", "finished_at", "error",
                "log_path"):
        if run.get(key) is not None:
            print(f"{key}: {run[key]}")
    print("config: " + ", ".join(f"{k}={v}" for k, v in run["config"].items() if v not in (None, {}, [])))
    for key, value in summary.items():
        print(f"  {key}: {value:.4f}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    out = Path(args.out).expanduser()
    if out.suffix.lower() not in EXPORT_FORMATS:
        raise InputError(f"Export to {', '.join(EXPORT_FORMATS)}, not {out.suffix or 'a file without suffix'}.")
    store = _store(args)
    store.get_run(args.id)
    frame = store.metrics(args.id)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(out, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_json(out, orient="records", indent=2)
    print(f"wrote {len(frame)} metric rows of run {args.id} to {out}")
    return 0


def run_stop(args: argparse.Namespace) -> int:
    store = _store(args)
    run = store.get_run(args.id)
    if run["status"] not in ("queued", "running"):
        raise CluesError(f"Run {args.id} is {run['status']}; only queued or running runs can be stopped.")
    store.request_stop(args.id)
    print(f"asked run {args.id} to stop; it stops after its current step")
    return 0
