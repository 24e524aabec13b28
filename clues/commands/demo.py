"""CLI: `demo build` (train the bundled demo pair) and `demo info` (what is bundled).

The builder (`clues.builders.demo_pair`) and `clues.models` (where the pair lives) are imported
inside the handlers on purpose: they pull in torch (the builder also transformers and tokenizers),
and every `clues` command would pay for that at start-up.
"""

from __future__ import annotations

import json
from pathlib import Path

from clues.commands import print_json
from clues.errors import InputError


def register(subparsers) -> None:
    demo = subparsers.add_parser("demo", help="the bundled offline demo model pair")
    commands = demo.add_subparsers(dest="demo_command", metavar="SUBCOMMAND")
    build = commands.add_parser("build", help="train the demo pair from scratch on synthetic biographies")
    build.add_argument("--out", default=None, help="output folder (default assets/demo-models)")
    build.add_argument("--seed", type=int, default=0, help="seed of initialisation and data order (default 0)")
    build.add_argument("--quick", action="store_true", help="tiny settings that finish in seconds (for tests)")
    build.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    build.add_argument("--only", choices=["small", "large", "learner"],
                       help="retrain this model alone, keeping the other of an earlier build with the same settings")
    build.add_argument("--recipe", choices=["plain", "world", "world-qa", "world-wide", "world-spellings",
                                            "world-covered"],
                       default="world-covered",
                       help="plain: the demo's own people only; world: beside them, biographies from a wider "
                            "vocabulary of names, places and organisations; world-qa: with QA pairs for half of "
                            "those; world-wide: world-qa with twice "
                            "as many world people; world-spellings: world-qa with some world people's cities "
                            "written in other common forms (USA, United Kingdom, the city alone); world-covered: "
                            "world-wide with every city, university, major and company of the wider vocabulary "
                            "dealt to some world person (default world-covered: the bundled "
                            "pair's recipe)")
    build.add_argument("--json", action="store_true", help="print the build report as JSON")
    build.set_defaults(func=run_build)
    info = commands.add_parser("info", help="sizes and measured numbers of the bundled pair")
    info.add_argument("--out", default=None, help="the pair's folder (default assets/demo-models)")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=run_info)
    demo.set_defaults(func=lambda args: demo.print_help() or 0)


def run_build(args) -> int:
    from clues.builders.demo_pair import DEFAULT_OUT, RECIPES, build  # heavy: see the module docstring

    if args.threads is not None and args.threads < 1:
        raise InputError("--threads must be at least 1")
    config = None if args.quick else RECIPES[args.recipe]
    report = build(args.out or DEFAULT_OUT, seed=args.seed, quick=args.quick, threads=args.threads, only=args.only,
                   config=config, log=(lambda message: None) if args.json else print)
    if args.json:
        print_json(report)
    else:
        print(f"built the demo pair in {report['wall_s']} s under {args.out or DEFAULT_OUT}")
    return 0


def run_info(args) -> int:
    from clues.models import DEMO_PAIR  # imports torch: see the module docstring

    folder = Path(args.out or DEMO_PAIR)
    path = folder / "build.json"
    if not path.is_file():
        raise InputError(f"{folder} holds no built demo pair (no build.json). Build it with "
                         "`python -m clues demo build`.")
    report = json.loads(path.read_text())
    if args.json:
        report["models"] = {k: {n: v for n, v in m.items() if n != "loss_curve"} for k, m in report["models"].items()}
        print_json(report)
        return 0
    print(f"demo pair in {folder} (recipe {report.get('recipe', 'plain')}, seed {report['seed']}, "
          f"built in {report['wall_s']} s)")
    for size, m in report["models"].items():
        spec = m["spec"]
        print(f"  {size:<6} {spec['layers']} layers × {spec['hidden']}, {m['parameters']:,} parameters, "
              f"{m['bytes'] / 1e6:.1f} MB, loss on seen facts {m['loss']['seen_bios']['facts']}, "
              f"QA EM seen {m['qa_em']['seen_qa']['mean']:.2f} / held-out {m['qa_em']['heldout_qa']['mean']:.2f}")
    att = report["name_attention"]
    print(f"  attention to the name before the company: large {att['name_attention_large']}, "
          f"small {att['name_attention_small']}; name in top-5 clues {att['name_in_top5_share']:.0%}")
    return 0
