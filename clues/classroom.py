"""Class mode: one server, a class of students, no one reaching past their seat.

Off by default (a teacher on localhost may load any model and stop any run). `CLUES_CLASS=1` in the
server's environment turns it on; then
- models load only from the pairs the teacher configured (`CLUES_CLASS_PAIRS`, default the bundled
  demo pair), never from a path or hub id a student types, and no model's remote code runs;
- a student stops only the runs their session follows (started, or shared by starting the same
  comparison), and a shared run stops only when no other session follows it;
- each browser session may have at most `CLUES_CLASS_MAX_RUNS` runs of its own queued or running
  (shared runs do not count);
- an uploaded CSV is refused above `CLUES_CLASS_MAX_UPLOAD_MB` (Streamlit's server.maxUploadSize
  stays the hard cap).

Every refusal is one line, written here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from clues.errors import InputError

MAX_RUNS = 5  # one default comparison of the Training page
MAX_UPLOAD_MB = 5.0


@dataclass(frozen=True)
class ClassMode:
    on: bool = False
    pairs: tuple[tuple[str, str], ...] = ()  # (large, small) the teacher configured; () → the demo pair
    max_runs: int = MAX_RUNS
    max_upload_mb: float = MAX_UPLOAD_MB


def class_mode(environ: Mapping[str, str] | None = None) -> ClassMode:
    """The class mode the server's environment asks for (a bad number is an InputError naming it)."""
    environ = os.environ if environ is None else environ
    on = environ.get("CLUES_CLASS", "").strip().lower() in ("1", "true", "yes", "on")
    return ClassMode(on=on, pairs=parse_pairs(environ.get("CLUES_CLASS_PAIRS", "")),
                     max_runs=int(_number(environ, "CLUES_CLASS_MAX_RUNS", MAX_RUNS)),
                     max_upload_mb=_number(environ, "CLUES_CLASS_MAX_UPLOAD_MB", MAX_UPLOAD_MB))


def parse_pairs(text: str) -> tuple[tuple[str, str], ...]:
    """'large,small;large2,small2' → ((large, small), (large2, small2))."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        refs = [ref.strip() for ref in item.split(",")]
        if len(refs) != 2 or not all(refs):
            raise InputError(f"CLUES_CLASS_PAIRS: {item!r} is not 'large,small' (pairs are separated by ';').")
        pairs.append((refs[0], refs[1]))
    return tuple(pairs)


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = -1
    if value <= 0:
        raise InputError(f"{name} must be a number > 0, not {raw!r}.")
    return value


# -- the rules, each refusal one line ----------------------------------------------------------

MODEL_REFUSED = "Class mode: only the model pairs the teacher configured can be loaded here."


def run_limit(mode: ClassMode, active_own: int, new: int) -> None:
    """Refuse queueing `new` runs when the session would then have more than its cap of its own."""
    if mode.on and active_own + new > mode.max_runs:
        runs = f"{mode.max_runs} run{'s' if mode.max_runs != 1 else ''}"
        raise InputError(f"Class mode: a session may have {runs} of its own queued or running; "
                         f"you have {active_own} and this needs {new} more — wait for yours to end or stop one.")


def stop_refusal(mode: ClassMode, run_id: int, session: str, followers: set[str]) -> str | None:
    """Why this session may not stop run `run_id` (None: it may ask to)."""
    if mode.on and session not in followers:
        return f"You can stop only runs you started: run #{run_id} belongs to another session."
    return None


def after_leaving(run_id: int, others: set[str]) -> str | None:
    """What a session is told when it stopped following a run others still follow (None: it stops)."""
    if not others:
        return None
    sessions = "1 other session follows" if len(others) == 1 else f"{len(others)} other sessions follow"
    return f"Run #{run_id} is shared: {sessions} it, so it goes on (you no longer follow it)."


def upload_refusal(mode: ClassMode, size_bytes: int) -> str | None:
    if mode.on and size_bytes > mode.max_upload_mb * 1e6:
        return (f"Class mode: uploads are capped at {mode.max_upload_mb:g} MB; this file is "
                f"{size_bytes / 1e6:.1f} MB.")
    return None
