"""The CLI's command groups, one module each (`register(subparsers)`), and what they share."""

from __future__ import annotations

import json
import sys


def print_json(payload) -> None:
    json.dump(payload, sys.stdout, indent=2, ensure_ascii=False, default=_json_default)
    sys.stdout.write("\n")


def _json_default(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "__dict__"):
        return vars(value)
    return str(value)


def add_augment_arguments(parser) -> None:
    """--alpha, --beta, --copies, --style, --placeholder, each showing its one default (`AugmentSettings`)."""
    from clues.settings import DEFAULT_AUGMENT as D
    from clues.settings import DROP_STYLES

    parser.add_argument("--alpha", type=float, default=D.alpha,
                        help=f"α, the highest drop probability, 0–1 (default {D.alpha})")
    parser.add_argument("--beta", type=float, default=D.beta,
                        help=f"β, how fast p(r) rises with rank, ≥ 0 (default {D.beta})")
    parser.add_argument("--copies", type=int, default=D.copies,
                        help=f"augmented copies per text, plus the original (default {D.copies})")
    parser.add_argument("--style", default=D.style, help=f"how a dropped token disappears: "
                        f"{' | '.join(DROP_STYLES)} (default {D.style})")
    parser.add_argument("--placeholder", "--mask-text", dest="placeholder", default=D.placeholder,
                        help=f"what the mask style writes for a dropped token (default {D.placeholder})")


def augment_settings(args, seed: int = 0):
    """The AugmentSettings of parsed `add_augment_arguments`, checked (one clear line when out of range)."""
    from clues.settings import AugmentSettings

    return AugmentSettings(alpha=args.alpha, beta=args.beta, copies=args.copies, style=args.style,
                           placeholder=args.placeholder, seed=seed).check()
