"""`clues train …` and `clues runs list|show|export|stop`."""

from __future__ import annotations

import argparse
from pathlib import Path

from clues import FIELDS
from clues.errors import CluesError, InputError

EXPORT_FORMATS = (".csv", ".parquet", ".json")


def register(subparsers) -> None:
    _register_train(subparsers)
    _register_runs(subparsers)


def _register_train(subparsers) -> None:
    p = subparsers.add_parser("train", help="continually pretrain a model on a corpus, evaluating each epoch",
                              description="Continual pretraining (causal LM loss) with per-epoch few-shot "
                              "QA and recall scores per fact field, all recorded in the run store.")
    p.add_argument("--model", required=True, help="model folder, .gguf file or hub id")
    p.add_argument("--data", required=True, help="CSV with a `text` column (tagged or plain)")
    p.add_argument("--eval", dest="eval_data", help="tagged CSV of the same people, evaluated each epoch")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--lora", action="store_true", help="train LoRA adapters instead of every weight")
    p.add_argument("--lora-r", type=int, default=16)
    p.add_argument("--lora-alpha", type=int, default=32)
    p.add_argument("--warmup-ratio", type=float, default=0.0)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--eval-fields", help=f"comma-separated subset of {','.join(FIELDS)}")
    p.add_argument("--eval-shots", type=int, default=5)
    p.add_argument("--eval-max-people", type=int, default=100)
    p.add_argument("--no-probe", action="store_true", help="skip the recall probe")
    p.add_argument("--logging-steps", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda, cuda:1 … (default: CUDA when present)")
    p.add_argument("--name", help="a name for the run")
    p.add_argument("--run-id", type=int, help="attach to this queued run (the app queues runs)")
    p.add_argument("--store", help="run store file (default $CLUES_HOME/runs.sqlite)")
    p.add_argument("--max-active", type=int, default=1, help="runs allowed at once on one device")
    p.add_argument("--save", metavar="DIR", help="write the trained model (or LoRA adapter) here")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_train)


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

def config_from_args(args: argparse.Namespace):
    from clues.train import TrainConfig

    fields = [f.strip() for f in args.eval_fields.split(",") if f.strip()] if args.eval_fields else None
    return TrainConfig(
        model=args.model, data=args.data, eval_data=args.eval_data, epochs=args.epochs, lr=args.lr,
        batch_size=args.batch_size, max_length=args.max_length, lora=args.lora, lora_r=args.lora_r,
        lora_alpha=args.lora_alpha, seed=args.seed, name=args.name, output_dir=args.save,
        eval_fields=fields, eval_shots=args.eval_shots, eval_max_people=args.eval_max_people,
        probe=not args.no_probe, warmup_ratio=args.warmup_ratio, weight_decay=args.weight_decay,
        logging_steps=args.logging_steps, device=args.device, store_path=args.store,
        run_id=args.run_id, save_model=bool(args.save), max_active=args.max_active)


def run_train(args: argparse.Namespace) -> int:
    from clues.runs import RunStore
    from clues.train import process_rank, train

    config = config_from_args(args)
    # train() validates: a bad setting for a queued run (--run-id) then marks that run failed.
    store = RunStore(args.store) if process_rank() == 0 else None
    run_id = train(config, store)
    if store is None:
        return 0  # other processes of a multi-process launch stay quiet
    run = store.get_run(run_id)
    result = {"run_id": run_id, "status": run["status"], "error": run["error"],
              "metrics": store.epoch_summary(run_id)}
    if args.json:
        from clues.cli import print_json

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
        from clues.cli import print_json

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
        from clues.cli import print_json

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
