"""A training run's progress from what it logged: steps in all, the fraction done, the time left."""

from __future__ import annotations

import math


def total_steps(n_rows: int, batch_size: int, epochs: int) -> int:
    """Optimiser steps of a run over `n_rows` training rows."""
    return max(1, math.ceil(n_rows / max(1, batch_size))) * max(1, epochs)


def progress(step: int | None, total: int, elapsed_s: float | None) -> tuple[float, float | None]:
    """(fraction done, seconds left or None), from the last logged step and the time it took."""
    done = min(1.0, max(0.0, (step or 0) / total)) if total else 0.0
    if not step or elapsed_s is None or elapsed_s <= 0 or done <= 0:
        return done, None
    return done, elapsed_s * (1 - done) / done


def overall(parts, at_once: int = 1) -> tuple[float, float | None]:
    """(fraction done, seconds left or None) of several runs that share one device, `at_once` of them
    at a time: `parts` are (steps done, steps in all, seconds it has run). The time left is the steps
    left at the pace (seconds a step, evaluations included) of the steps done so far, over the runs
    going at once."""
    parts = list(parts)
    total = sum(t for _, t, _ in parts)
    done = sum(min(d, t) for d, t, _ in parts)
    if not total:
        return 0.0, None
    spent = sum(s or 0.0 for d, _, s in parts if d)
    if not done or spent <= 0:
        return done / total, None
    return done / total, spent / done * (total - done) / max(1, at_once)


def human_seconds(seconds: float | None) -> str:
    """45 s, 1 min 15 s, 2 h 05 min; "—" for None."""
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
