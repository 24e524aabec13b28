"""CLI: `bios` (write synthetic tagged biographies) and `evaluate` (QA and the recall probe).

`clues.models` and `clues.evaluate` are imported inside the handlers on purpose: they pull in
torch and transformers, and every `clues` command would pay for that at start-up.
"""

from __future__ import annotations

import argparse

from clues.commands import print_json
from clues.corpus import FACT_FIELDS, generate_biographies, read_tagged_csv, write_tagged_csv
from clues.errors import InputError


def register(subparsers) -> None:
    bios = subparsers.add_parser("bios", help="write seeded synthetic tagged biographies to a CSV")
    bios.add_argument("--n", type=int, default=1000, help="how many biographies (default 1000)")
    bios.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    bios.add_argument("--out", default="bios.csv", help="output CSV, one column `text` (default bios.csv)")
    bios.add_argument("--standard", action="store_true",
                      help="use only the paper's template (default: several phrasings per sentence)")
    bios.set_defaults(func=run_bios)

    evaluate = subparsers.add_parser(
        "evaluate", help="few-shot QA per fact field and the name-only recall probe")
    evaluate.add_argument("--model", required=True, help="hub id, local folder or .gguf")
    evaluate.add_argument("--data", required=True, help="tagged CSV of the people to ask about")
    evaluate.add_argument("--shots", type=int, default=5, help="solved examples before each question (default 5)")
    evaluate.add_argument("--shot-data", default=None,
                          help="tagged CSV to draw the shots from (default: the other people in --data)")
    evaluate.add_argument("--fields", nargs="+", choices=FACT_FIELDS, default=None,
                          help="fields to ask about (default: all)")
    evaluate.add_argument("--max-people", type=int, default=None, help="evaluate the first N people only")
    evaluate.add_argument("--batch-size", type=int, default=16, help="prompts per generation batch (default 16)")
    evaluate.add_argument("--max-new-tokens", type=int, default=24, help="answer length limit (default 24)")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the shot draws and fact swaps")
    evaluate.add_argument("--probe", action=argparse.BooleanOptionalAction, default=True,
                          help="also run the recall probe (default on)")
    evaluate.add_argument("--device", default=None, help="cpu | cuda | cuda:1 … (default: cuda when present)")
    evaluate.add_argument("--dtype", default="auto", help="auto | float32 | bfloat16 | float16")
    evaluate.add_argument("--trust-remote-code", action="store_true",
                          help="run code shipped with the model's repository (only for sources you trust)")
    evaluate.add_argument("--json", action="store_true", help="print JSON")
    evaluate.add_argument("--predictions", action="store_true",
                          help="include every prompt, answer and prediction in the JSON")
    evaluate.set_defaults(func=run_evaluate)


def run_bios(args) -> int:
    texts = generate_biographies(args.n, args.seed, varied=not args.standard)
    write_tagged_csv(args.out, texts)
    style = "paper template" if args.standard else "varied templates"
    print(f"wrote {len(texts)} biographies ({style}, seed {args.seed}) to {args.out}")
    return 0


def load(args):
    """The LoadedModel named by --model (imported here: loading pulls in transformers)."""
    from clues.models import load_model  # heavy: see the module docstring

    return load_model(args.model, device=args.device, dtype=args.dtype,
                      trust_remote_code=args.trust_remote_code)


def run_evaluate(args) -> int:
    from clues.evaluate import evaluate_qa, recall_probe  # heavy: see the module docstring
    from clues.models import check_device

    check_device(args.device)
    if args.max_people is not None and args.max_people < 1:
        raise InputError("--max-people must be at least 1")
    people = read_tagged_csv(args.data, max_rows=args.max_people)
    shot_pool = read_tagged_csv(args.shot_data) if args.shot_data else None
    loaded = load(args)
    options = dict(fields=args.fields, batch_size=args.batch_size,
                   max_new_tokens=args.max_new_tokens, seed=args.seed)
    qa = evaluate_qa(loaded.model, loaded.tokenizer, people, shots=args.shots, shot_pool=shot_pool,
                     return_predictions=args.predictions, **options)
    probe = None
    if args.probe:
        probe = recall_probe(loaded.model, loaded.tokenizer, people,
                             return_predictions=args.predictions, **options)
    report = {"model": args.model, "data": args.data, "people": len(people), "shots": args.shots,
              "qa": qa, "recall_probe": probe}
    if args.json:
        print_json(report)
    else:
        print(format_report(report))
    return 0


def format_report(report: dict) -> str:
    """Two labelled plain-text tables: qa (em, f1, n) and recall_probe (recall, n)."""
    lines = [f"model {report['model']} on {report['data']} ({report['people']} people)",
             f"qa: {report['shots']}-shot exact match and F1 per field",
             f"  {'field':<11}{'em':>7}{'f1':>7}{'n':>7}"]
    for field, row in _fields(report["qa"]):
        lines.append(f"  {field:<11}{row['em']:>7.3f}{row['f1']:>7.3f}{row['n']:>7}")
    if report["recall_probe"] is not None:
        lines += ["recall_probe: share of facts completed from the name alone (earlier facts swapped)",
                  f"  {'field':<11}{'recall':>7}{'n':>7}"]
        for field, row in _fields(report["recall_probe"]):
            lines.append(f"  {field:<11}{row['recall']:>7.3f}{row['n']:>7}")
    return "\n".join(lines)


def _fields(result: dict):
    return [(k, v) for k, v in result.items() if k != "predictions"]
