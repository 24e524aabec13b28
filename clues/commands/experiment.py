"""CLI: `experiment` — the multi-condition continual-pretraining experiment and its report.

`clues.experiment` and `clues.builders.experiment_report` are imported inside `run` on purpose:
they pull in torch, pandas and plotly, and every `clues` command would pay for that at start-up.
"""

from __future__ import annotations

from clues.commands import add_augment_arguments, augment_settings, print_json
from clues.commands.analysis import _batch_arguments, batch_options
from clues.settings import DEFAULT_CONDITIONS, SELECTION_ALPHAS, SELECTION_BETAS, SELECTION_LRS, TRAINABLE
from clues.settings import DEFAULT_TRAIN as D


def register(subparsers) -> None:
    parser = subparsers.add_parser("experiment", help="compare plain / random / position / attention / contrast "
                                   "dropout by continual pretraining and write docs/results.md")
    parser.add_argument("--large", help="large model (default: the bundled demo)")
    parser.add_argument("--small", help="small model (default: the bundled demo)")
    parser.add_argument("--model", help="model to train (default: beside the demo pair the one chosen on validation "
                        "people, clues.settings.DEFAULT_TRAINED; beside another pair its small model)")
    parser.add_argument("--people", type=int, default=100, help="test people (default 100)")
    parser.add_argument("--validation-people", type=int, default=100,
                        help="people for choosing α, β and the epoch with --select (default 100)")
    parser.add_argument("--conditions", nargs="+",
                        default=list(DEFAULT_CONDITIONS),
                        help="modes, each optionally with its importance (contrast:paper_mean)")
    parser.add_argument("--importance", default="total", help="importance for conditions that name none")
    add_augment_arguments(parser)
    parser.add_argument("--select", action="store_true",
                        help="choose α, β, the learning rate and the epoch (early stopping) per condition on the "
                        "validation people")
    parser.add_argument("--selection-from", metavar="STORE",
                        help="with --select: take the α/β choice from the validation runs in this run store (another "
                        "process of the same experiment chose them), instead of training them again")
    parser.add_argument("--alphas", type=float, nargs="+", default=list(SELECTION_ALPHAS),
                        help=f"α tried with --select (default {' '.join(map(str, SELECTION_ALPHAS))})")
    parser.add_argument("--betas", type=float, nargs="+", default=list(SELECTION_BETAS),
                        help=f"β tried with --select (default {' '.join(map(str, SELECTION_BETAS))})")
    parser.add_argument("--lrs", type=float, nargs="+", default=list(SELECTION_LRS),
                        help="learning rates tried with --select (default "
                             f"{' '.join(f'{x:g}' for x in SELECTION_LRS)})")
    parser.add_argument("--epochs", type=int, default=D.epochs, help=f"(default {D.epochs})")
    parser.add_argument("--lr", type=float, default=D.lr, help=f"peak learning rate (default {D.lr:g})")
    parser.add_argument("--batch-size", type=int, default=D.batch_size,
                        help=f"training batch size (default {D.batch_size})")
    parser.add_argument("--trainable", choices=list(TRAINABLE), default=D.trainable,
                        help="which weights learn: " + "; ".join(f"{k}: {v}" for k, v in TRAINABLE.items())
                        + f" (default {D.trainable})")
    _batch_arguments(parser, prefix="rank-")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--shots", type=int, default=D.eval_shots,
                        help=f"solved examples before each QA question (default {D.eval_shots})")
    parser.add_argument("--out", default="out/experiment", help="folder for corpora and results.json")
    parser.add_argument("--store", default=None, help="run store (default: the user's)")
    parser.add_argument("--report", default="docs/results.md",
                        help="where to write the report (default docs/results.md; '' for none). Its PNG figures "
                             "need kaleido; without it the report is written without them")
    parser.add_argument("--max-active", type=int, default=1,
                        help="training runs at once per device (2 lets two seed processes share a store)")
    parser.add_argument("--merge", nargs="+", metavar="OUT",
                        help="write the report from finished runs' folders (one per seed) instead of running")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def run(args) -> int:
    from clues.builders.experiment_report import write_report  # heavy: see the module docstring
    from clues.experiment import ExperimentConfig, merge_results, run_experiment
    from clues.train import process_rank

    if args.merge:
        results = merge_results(args.merge)
        if args.report:  # '' writes no report
            write_report(results, args.report)
            print(f"report: {args.report} ({len(results['runs'])} runs)")
        elif not args.json:
            print(f"{len(results['runs'])} runs merged; no report (--report '')")
        if args.json:
            print_json(results)
        return 0
    batching = batch_options(args.rank_batch_size, args.rank_memory_budget)
    config = ExperimentConfig(model=args.model, large=args.large, small=args.small, people=args.people,
                              validation_people=args.validation_people if args.select else 0,
                              conditions=tuple(args.conditions), importance=args.importance,
                              augment=augment_settings(args), select=args.select, alphas=tuple(args.alphas),
                              betas=tuple(args.betas), lrs=tuple(args.lrs),
                              epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, trainable=args.trainable,
                              seeds=tuple(args.seeds),
                              shots=args.shots, out=args.out, store_path=args.store, max_active=args.max_active,
                              rank_batch_size=batching["batch_size"],
                              rank_memory_budget_bytes=batching["memory_budget_bytes"])
    if args.selection_from:
        config.selection = _selection_from(args.selection_from, config)
    results = run_experiment(config)
    if process_rank() != 0:  # under a launch, process 0 reports for all
        return 0
    if args.report:
        write_report(results, args.report)
    if args.json:
        print_json(results)
    else:
        for condition, entry in results["summary"].items():
            em = " ".join(f"{f} {v['mean']:.2f}" for f, v in entry["em"].items())
            print(f"{condition:>10}  EM {em}")
        if args.report:
            print(f"report: {args.report}")
    return 0


def _selection_from(path: str, config) -> dict:
    """The α/β and epoch choice recorded as validation runs in another store of this experiment; every
    condition must be there (one clear line otherwise)."""
    from pathlib import Path

    from clues.errors import InputError
    from clues.experiment import selection_from_store
    from clues.runs import RunStore

    if not config.select or not Path(path).is_file():
        raise InputError(f"--selection-from {path}: give --select and an existing run store of the same experiment.")
    chosen = selection_from_store(RunStore(path), config)
    missing = [m for m in config.conditions if m not in chosen]
    if missing:
        raise InputError(f"--selection-from {path}: no finished validation runs for {', '.join(missing)} yet.")
    return chosen
