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
