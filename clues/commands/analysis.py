"""CLI: `contrast`, `augment` and `clue-quality` — the analysis commands."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from clues.commands import add_augment_arguments, augment_settings
from clues.errors import InputError
from clues.importance import DEFAULT_DISTANCE, DEFAULT_IMPORTANCE, IMPORTANCE, check_distance
from clues.settings import MODE_NAMES


def register(subparsers) -> None:
    contrast = subparsers.add_parser(
        "contrast", help="rank the tokens of a text by attention received in the large minus the small model")
    _model_pair_arguments(contrast)
    _text_arguments(contrast)
    contrast.add_argument("--top-k", type=int, default=10, help="how many top clues to list (default 10)")
    contrast.add_argument("--aggregation", default="mean", help="mean | max | rollout (default mean)")
    _importance_arguments(contrast)
    contrast.add_argument("--keep-first", action="store_true",
                          help="rank the first position too (left out by default: it is the attention sink)")
    contrast.add_argument("--json", action="store_true", help="print JSON")
    contrast.set_defaults(func=run_contrast)

    augment = subparsers.add_parser("augment", help="write a token-dropout augmented corpus")
    _model_pair_arguments(augment)
    augment.add_argument("--input", required=True, help="tagged CSV with a `text` column")
    augment.add_argument("--out", required=True, help="output CSV (columns text, source, copy)")
    augment.add_argument("--mode", default="contrast", help=f"{' | '.join(MODE_NAMES)} (default contrast)")
    _importance_arguments(augment)
    add_augment_arguments(augment)
    augment.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    augment.add_argument("--attention-of", default="small", choices=["small", "large"],
                         help="the model trained on the corpus: its own attention ranks attention mode, its "
                         "tokens the others (default small)")
    augment.add_argument("--max-rows", type=int, default=None)
    _batch_arguments(augment)
    augment.add_argument("--json", action="store_true", help="print a JSON summary")
    augment.set_defaults(func=run_augment)

    quality = subparsers.add_parser(
        "clue-quality", help="does each ranking find a field (the name) beyond what its position gives? "
        "share in the top-k, first rank and top-k position, on the texts as given and moved")
    _model_pair_arguments(quality)
    quality.add_argument("--input", help="tagged CSV with a `text` column (default: 100 generated biographies)")
    quality.add_argument("--field", default="name", help="the field a clue should belong to (default name)")
    quality.add_argument("--top-k", type=int, default=5, help="how many top clues to look at (default 5)")
    quality.add_argument("--distance", type=int, default=DEFAULT_DISTANCE,
                         help=f"far_mean: queries at least this many tokens later (default {DEFAULT_DISTANCE})")
    quality.add_argument("--prefix", default=None,
                         help="the neutral sentence put before each text (default: clue_quality.NEUTRAL_PREFIX)")
    quality.add_argument("--max-rows", type=int, default=None)
    _batch_arguments(quality)
    quality.add_argument("--json", action="store_true", help="print JSON")
    quality.set_defaults(func=run_clue_quality)


def _importance_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--importance", default=DEFAULT_IMPORTANCE, choices=list(IMPORTANCE),
                        help="how received attention is summarised: " + "; ".join(
                            f"{d.name} = {d.label}" for d in IMPORTANCE.values())
                        + f" (default {DEFAULT_IMPORTANCE}; paper_mean is the paper's wording)")
    parser.add_argument("--distance", type=int, default=DEFAULT_DISTANCE,
                        help=f"far_mean: queries at least this many tokens later (default {DEFAULT_DISTANCE})")


def _batch_arguments(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """--batch-size and --memory-budget (with a prefix, e.g. --rank-batch-size, where the
    command already has a --batch-size of its own)."""
    parser.add_argument(f"--{prefix}batch-size", type=int, default=None,
                        help="texts per forward pass when ranking (default: chosen from the memory budget)")
    parser.add_argument(f"--{prefix}memory-budget", type=float, default=None, metavar="MIB",
                        help="memory one ranking forward pass may use, in MiB (default: half the free GPU "
                        "memory; on a CPU 1 GiB or a quarter of the free memory)")


def batch_options(batch_size: int | None, memory_budget_mib: float | None) -> dict:
    """rank_corpus's batch_size and memory_budget_bytes from the CLI's values; bad ones: one clear line."""
    from clues.capture import check_batching

    if memory_budget_mib is not None and not 0 < memory_budget_mib < math.inf:
        raise InputError(f"The memory budget must be a positive number of MiB; got {memory_budget_mib:g}.")
    budget = None if memory_budget_mib is None else memory_budget_mib * (1 << 20)
    check_batching(batch_size, budget)
    return {"batch_size": batch_size, "memory_budget_bytes": budget}


def _model_pair_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--large", help="large model: hub id, local folder or .gguf (default: the bundled demo)")
    parser.add_argument("--small", help="small model: hub id, local folder or .gguf (default: the bundled demo)")
    parser.add_argument("--device", default=None, help="cpu | cuda | cuda:1 … (default: cuda when present)")
    parser.add_argument("--dtype", default="auto", help="auto | float32 | bfloat16 | float16")
    parser.add_argument("--device-map", choices=["auto"], default=None,
                        help="auto: spread each model over every GPU, then the CPU, for models bigger than "
                        "one device (replaces --device; not under accelerate launch)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="run code shipped with the model's repository "
                        "(off by default; only for sources you trust)")


def _text_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--text", help="text to analyse; inline tags like <name>…</name> mark fields")
    source.add_argument("--file", help="read the text from a file")
    source.add_argument("--csv", help="tagged CSV; analyse the row given by --row")
    parser.add_argument("--row", type=int, default=0, help="row of --csv (0-based)")


def load_pair(args, device: str | None = None):
    """The (large, small) LoadedModels named by the arguments, the demo pair by default.
    device: where to load them instead of --device (a launched process's own device)."""
    from clues.models import DEMO_LARGE, DEMO_SMALL, check_demo_pair, load_model

    large_ref, small_ref = args.large or DEMO_LARGE, args.small or DEMO_SMALL
    if not args.large or not args.small:
        check_demo_pair()
    options = dict(device=device or args.device, dtype=args.dtype, trust_remote_code=args.trust_remote_code,
                   device_map=args.device_map)
    return load_model(large_ref, **options), load_model(small_ref, **options)


def read_text_argument(args):
    """The TaggedText the user pointed at (--text, --file or --csv/--row), tags parsed."""
    from clues.text import parse_tagged

    if args.csv:
        from clues.corpus import read_tagged_csv

        rows = read_tagged_csv(args.csv)
        if not 0 <= args.row < len(rows):
            raise InputError(f"--row {args.row} is outside {args.csv} (rows 0–{len(rows) - 1}).")
        return rows[args.row]
    if args.file:
        if not os.path.isfile(args.file):
            raise InputError(f"--file {args.file!r} does not exist.")
        try:
            raw = Path(args.file).read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise InputError(f"--file {args.file!r} is not UTF-8 text; save it as UTF-8.") from error
    elif args.text is not None:
        raw = args.text
    else:
        from clues.corpus import generate_biographies

        return generate_biographies(1, seed=0, varied=False)[0]
    if not raw.strip():
        raise InputError("The text is empty. Give some text with --text, --file or --csv.")
    return parse_tagged(raw)


def run_contrast(args) -> int:
    from clues.commands import print_json
    from clues.contrast import contrast_text
    from clues.models import check_device
    from clues.views import VIEWS

    check_device(args.device)
    if args.top_k < 1:
        raise InputError("--top-k must be at least 1.")
    # --aggregation names a view of the whole model (no layer or head to choose)
    aggregations = [name for name, view in VIEWS.items() if not view.needs_layer]
    if args.aggregation not in aggregations:
        raise InputError(f"Unknown aggregation {args.aggregation!r}; choose one of {', '.join(aggregations)}.")
    check_distance(args.distance)
    item = read_text_argument(args)
    large, small = load_pair(args)
    result = contrast_text(large, small, item.text, view=args.aggregation,
                           skip_first=not args.keep_first, spans=item.spans, importance=args.importance,
                           distance=args.distance)
    notes = result.large_maps.notes + result.small_maps.notes
    if args.json:
        print_json({"large": large.ref, "small": small.ref, "level": result.level,
                    "aggregation": result.view.name, "importance": result.importance,
                    "distance": result.distance, "text": item.text, "notes": notes,
                    "top": [_record(c) for c in result.top(args.top_k)],
                    "tokens": [_record(c) for c in result.clues]})
        return 0
    for note in notes:
        print(f"note: {note}")
    print(f"large: {large.ref}\nsmall: {small.ref}\ncompared per {result.level}\n"
          f"importance: {result.importance} ({IMPORTANCE[result.importance].label})\n")
    print(f"{'rank':>4}  {'token':<18} {'field':<10} {'large':>9} {'small':>9} {'contrast':>9}")
    for clue in result.top(args.top_k):
        print(f"{clue.rank:>4}  {clue.text!r:<18} {clue.field or '-':<10} "
              f"{clue.large:>9.4f} {clue.small:>9.4f} {clue.contrast:>+9.4f}")
    return 0


def _record(clue) -> dict:
    return {"text": clue.text, "start": clue.start, "end": clue.end, "large": clue.large, "small": clue.small,
            "contrast": clue.contrast, "field": clue.field, "rank": clue.rank, "special": clue.special}


def run_augment(args) -> int:
    """Rank, augment and write a corpus. Under `accelerate launch` (several processes) each process
    ranks its share of the corpus on its own device and process 0 alone augments and writes: the
    same file as one process with the same seed (see `clues.shard`)."""
    from clues.augment import check_mode, rank_corpus
    from clues.corpus import read_tagged_csv
    from clues.models import check_device
    from clues.shard import launched_processes, process_device, rank_sharded, ranking_processes

    check_device(args.device)
    check_mode(args.mode)
    settings = augment_settings(args, seed=args.seed)
    batching = batch_options(args.batch_size, args.memory_budget)
    if args.device_map and launched_processes() > 1:
        raise InputError("--device-map auto spreads each model over all devices, while accelerate launch gives "
                         "every process a device of its own: run a model too big for one device without "
                         "accelerate launch, or drop --device-map.")
    texts = read_tagged_csv(args.input, max_rows=args.max_rows)
    with ranking_processes(args.device) as state:
        # every mode needs the trained model's tokens (its units), so the pair is loaded even for none/random
        large, small = load_pair(args, process_device(args.device, state))
        if large is not None and (state is None or state.is_main_process):
            _suggest_bfloat16(args, large, len(texts))
        condition = f"{args.mode}:{args.importance}"
        options = dict(large=large, small=small, own=args.attention_of, distance=args.distance, batching=batching)
        if state is None:
            ranked = rank_corpus(texts, condition, progress=True, **options)
        else:
            ranked = rank_sharded(texts, condition, state, progress=state.is_main_process, **options)
        if state is None or state.is_main_process:  # process 0 writes the file and reports
            _write_augmented(args, settings, texts, ranked, state)
    return 0


BFLOAT16_HINT_TEXTS = 1000  # below this a ranking takes seconds: no hint


def _suggest_bfloat16(args, model, texts: int) -> None:
    """One line on stderr when a big corpus is about to be ranked in float32 on a CPU that has
    bfloat16 matrix instructions: the user chose nothing, and a faster close option exists."""
    import torch

    from clues.models import cpu_has_bfloat16_matmul

    if (args.dtype == "auto" and model.device.type == "cpu" and model.dtype == torch.float32
            and texts >= BFLOAT16_HINT_TEXTS and cpu_has_bfloat16_matmul()):
        print(f"note: ranking {texts} texts in float32 on a CPU with bfloat16 instructions; --dtype bfloat16 "
              "ranks 2.7-3.7x faster with close but not identical rankings (docs/benchmarks.md).",
              file=sys.stderr)


def _write_augmented(args, settings, texts, ranked, state) -> None:
    from dataclasses import asdict

    from clues.augment import MODES, corpus_probabilities, summary, write_augmented_csv
    from clues.commands import print_json

    probabilities = corpus_probabilities(ranked, args.mode, settings)
    out = Path(args.out)
    # the file augment_corpus(...).to_csv(out, index=False) would write (its folder made if missing)
    rows = write_augmented_csv(out, ranked, probabilities, settings)
    stats = {"input": args.input, "out": str(out), "texts": len(texts), "rows": rows, "mode": args.mode,
             "importance": args.importance if MODES[args.mode].ranking in ("contrast", "own") else None,
             **asdict(settings), **summary(ranked, probabilities)}
    if state is not None:
        stats["processes"] = state.num_processes
    if args.json:
        print_json(stats)
    else:
        print(f"wrote {rows} rows ({len(texts)} texts × {settings.copies + 1}) to {out}; "
              f"expected drop rate {stats['expected_drop_rate']:.3f}")


def run_clue_quality(args) -> int:
    from clues.clue_quality import NEUTRAL_PREFIX, clue_quality, ranking_label
    from clues.commands import print_json
    from clues.corpus import generate_biographies, read_tagged_csv
    from clues.models import check_device

    check_device(args.device)
    if args.top_k < 1:
        raise InputError("--top-k must be at least 1.")
    batching = batch_options(args.batch_size, args.memory_budget)
    prefix = NEUTRAL_PREFIX if args.prefix is None else args.prefix
    items = read_tagged_csv(args.input, max_rows=args.max_rows) if args.input else \
        generate_biographies(args.max_rows or 100, seed=1)
    large, small = load_pair(args)
    table = clue_quality(large, small, list(items), field=args.field, k=args.top_k, distance=args.distance,
                         prefix=prefix, **batching)
    if args.json:
        print_json({"large": large.ref, "small": small.ref, "input": args.input or "generated (seed 1)",
                    "field": args.field, "top_k": args.top_k, "distance": args.distance, "prefix": prefix,
                    "rows": table.to_dict(orient="records")})
        return 0
    print(f"large: {large.ref}\nsmall: {small.ref}\ntexts: {len(items)}; field {args.field}; top {args.top_k}\n")
    print(f"{'ranking':<16} {'texts':<9} {'share':>6} {'first rank':>10} {'top-k position':>14}  what it is")
    for row in table.itertuples():
        print(f"{row.ranking:<16} {row.texts:<9} {row.share_in_top_k:>6.2f} {row.first_rank_mean:>10.1f} "
              f"{row.top_k_relative_position:>14.2f}  {ranking_label(row.ranking)}")
    return 0
