"""Every `clues` command the README and docs/ name exists in the CLI, and docs/contracts.md's list
of command groups names every command and subcommand there is (and nothing else)."""

import argparse
import re
from pathlib import Path

import pytest

from clues.cli import build_parser

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

# `clues CMD [SUB]` where a command starts: at the start of a code line or span, maybe after
# .venv/bin/, or after `python -m` / `accelerate launch -m`. A word may be alternatives: runs list|show.
INVOCATION = re.compile(r"(?:(?:^|(?<=[\s`]))-m\s+clues|^(?:\.venv/bin/)?clues)\s+([a-z][\w|-]*)(?:\s+([a-z][\w|-]*))?")


def commands() -> dict[str, set[str]]:
    """{command: its subcommands (empty when it has none)} of the CLI's parser."""
    def choices(parser):
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return actions[0].choices if actions else {}
    return {name: set(choices(sub)) for name, sub in choices(build_parser()).items()}


def code_of(markdown: str) -> list[str]:
    """The code in a markdown text: each line of a fenced block (its # comments left out) and each
    inline `span`, stripped."""
    pieces, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            pieces.append(re.sub(r"\s#\s.*$", "", line).strip())
        else:
            pieces += [span.strip() for span in re.findall(r"`([^`\n]+)`", line)]
    return pieces


def named_commands(markdown: str) -> list[tuple[str, str | None]]:
    """(command, subcommand or None) for every `clues` invocation in the markdown's code; a piped
    continuation of the same command (`clues runs list | runs show ID`) counts too."""
    found = []
    for code in code_of(markdown):
        for match in INVOCATION.finditer(code):
            command, word = match.groups()
            for name in command.split("|"):
                following = [word] + re.findall(rf"\|\s*{re.escape(name)}\s+([a-z][\w|-]*)", code[match.end():])
                found += [(name, sub) for words in following for sub in (words or "").split("|") or [None]]
    return [(command, sub or None) for command, sub in found]


def test_the_extraction_finds_what_a_reader_sees():
    text = ("```bash\npython -m clues runs list | runs show ID   # clues or positions?\n"
            ".venv/bin/clues bios --n 5\n```\nRun `clues augment|contrast --device-map auto`, "
            "`accelerate launch -m clues train …` or `clues demo build`; clues or positions?\n"
            "```\nclues/  the core library\n  clue_quality.py   clues or positions?\n```\n")
    assert sorted(set(named_commands(text))) == [
        ("augment", None), ("bios", None), ("contrast", None), ("demo", "build"), ("runs", "list"),
        ("runs", "show"), ("train", None)]


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(REPO)) for d in DOCS])
def test_every_command_a_doc_names_exists(doc):
    known = commands()
    named = named_commands(doc.read_text(encoding="utf-8"))
    missing = sorted({c for c, _ in named if c not in known})
    assert not missing, f"{doc.name} names clues command(s) the CLI does not have: {missing}"
    bad = sorted({f"{c} {s}" for c, s in named if c in known and known[c] and s not in known[c]})
    assert not bad, f"{doc.name} names subcommand(s) the CLI does not have: {bad}"


def test_contracts_lists_every_command_group():
    text = (REPO / "docs" / "contracts.md").read_text(encoding="utf-8")
    section = text.split("## CLI command groups", 1)[1].split("\n## ", 1)[0]
    listed: set[tuple[str, str | None]] = set()
    for span in re.findall(r"`([^`\n]+)`", section.split("\n", 1)[1]):
        command, _, subs = span.partition(" ")
        listed |= {(command, sub or None) for sub in subs.split("|")}
    known = commands()
    expected = {(c, s) for c, subs in known.items() for s in (sorted(subs) or [None])}
    assert listed == expected, (f"contracts.md lists {sorted(listed - expected, key=str)} that the CLI does "
                                f"not have and omits {sorted(expected - listed, key=str)}")
