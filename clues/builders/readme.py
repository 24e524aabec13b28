"""Sections of a markdown file that a command writes: the text between `<!-- NAME:start -->` and
`<!-- NAME:end -->`. The README's measured numbers live in such sections, written by the command that
measured them (`clues demo build`: the clue-quality table; `clues experiment`: what the demo shows), and
a test checks each against the data it came from."""

from __future__ import annotations

import re
from pathlib import Path


def _pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- {re.escape(name)}:start -->\n)(.*?)(<!-- {re.escape(name)}:end -->)", re.DOTALL)


def section(path: str | Path, name: str) -> str | None:
    """The text of section `name` of the file, or None when the file or the section is missing."""
    path = Path(path)
    if not path.is_file():
        return None
    found = _pattern(name).search(path.read_text(encoding="utf-8"))
    return found.group(2) if found else None


def write_section(path: str | Path, name: str, text: str) -> bool:
    """Replace section `name` of the file by `text`; False (nothing written) when the file or the section
    is missing."""
    path = Path(path)
    if section(path, name) is None:
        return False
    body = text if text.endswith("\n") else text + "\n"
    old = path.read_text(encoding="utf-8")
    path.write_text(_pattern(name).sub(lambda m: m.group(1) + body + m.group(3), old, count=1), encoding="utf-8")
    return True
