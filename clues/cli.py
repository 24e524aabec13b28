"""Command line: `python -m clues <command> …` (also the console script `clues`).

Each command group lives in `clues/commands/<group>.py` and exposes `register(subparsers)`,
adding its sub-parsers with `set_defaults(func=handler)`; a handler takes the parsed
arguments and returns an exit code. Errors of the project's own (`CluesError`) are printed
as one clear message with exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys

from clues.commands import analysis, data, demo, experiment, training
from clues.errors import CluesError

COMMAND_MODULES = (analysis, data, training, experiment, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clues",
        description="Find the elusive clues a large model notices and a small one misses; "
        "use them to augment, train and evaluate.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except CluesError as error:
        print(f"clues {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"clues {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
