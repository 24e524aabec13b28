"""How much memory a model's weights need: measured from its files, or guessed from its name
(e.g. "Qwen2.5-7B", "pythia-160m") at the chosen precision; and sizes written for people.
"""

from __future__ import annotations

import re

_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*([bBmM])(?![a-zA-Z])")
_BYTES = {"float32": 4, "fp32": 4, "bfloat16": 2, "bf16": 2, "float16": 2, "fp16": 2}
KNOWN_SIZES = {"gpt2": 124e6, "gpt2-medium": 355e6, "gpt2-large": 774e6, "gpt2-xl": 1.56e9}


def guess_parameters(ref: str) -> float | None:
    """Parameters guessed from a hub id such as "Qwen2.5-7B" or "pythia-160m"; None if unknown."""
    name = ref.rstrip("/").split("/")[-1].lower()
    if name in KNOWN_SIZES:
        return KNOWN_SIZES[name]
    match = None
    for match in _SIZE.finditer(name.replace("_", "-")):
        pass  # the last size-looking token wins ("llama-3-8b")
    if match is None:
        return None
    value, unit = float(match.group(1)), match.group(2).lower()
    return value * (1e9 if unit == "b" else 1e6)


def memory_estimate(ref: str, dtype: str, measured: int | None) -> tuple[float | None, str]:
    """(bytes the weights need, how it was found): measured from the files, or guessed from the
    name at the chosen dtype (auto counts as float32 on a CPU)."""
    if measured:
        return float(measured), "from the weight files"
    params = guess_parameters(ref)
    if params is None:
        return None, "unknown"
    return params * _BYTES.get(dtype, 4), "guessed from the name"


def human_count(value: float) -> str:
    """37 k, 3.4 M, 1.2 B (e.g. a number of parameters)."""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.1f} {unit}" if value < 10 * size else f"{value / size:.0f} {unit}"
    return f"{value:.0f}"


def human_bytes(value: float | None) -> str:
    """881 B, 881.9 KB, 3.2 GB; "unknown" for None."""
    if value is None:
        return "unknown"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"
