"""How much memory a model's weights need once loaded: its parameters (counted from the tensor
shapes in its files, or guessed from its name, e.g. "Qwen2.5-7B", "pythia-160m") × the bytes of the
precision it loads in; and sizes written for people.

A `.gguf` file is no measure of that: its weights are quantized (4–8 bits each) and are dequantized
to ordinary floats when loaded, so a 335 MB file can take 2.3 GB. Its parameter count is read from
the tensor shapes in its header (the `gguf` package's reader maps the file; nothing is dequantized).
"""

from __future__ import annotations

import json
import math
import re
import struct
from pathlib import Path

_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*([bBmM])(?![a-zA-Z])")
_BYTES = {"float32": 4, "fp32": 4, "bfloat16": 2, "bf16": 2, "float16": 2, "fp16": 2}
KNOWN_SIZES = {"gpt2": 124e6, "gpt2-medium": 355e6, "gpt2-large": 774e6, "gpt2-xl": 1.56e9}


def guess_parameters(ref: str) -> float | None:
    """Parameters guessed from a hub id such as "Qwen2.5-7B" or "pythia-160m"; None if unknown."""
    name = ref.rstrip("/").split("/")[-1].lower()
    if name in KNOWN_SIZES:
        return KNOWN_SIZES[name]
    matches = list(_SIZE.finditer(name.replace("_", "-")))
    if not matches:
        return None
    match = matches[-1]  # the last size-looking token wins ("llama-3-8b")
    value, unit = float(match.group(1)), match.group(2).lower()
    return value * (1e9 if unit == "b" else 1e6)


def gguf_parameters(path: str | Path) -> int:
    """Parameters in a `.gguf` file: the elements of its tensors, from their shapes (not dequantized)."""
    # Imported here: `gguf` is an optional dependency (the gguf extra), needed only for .gguf files.
    from gguf import GGUFReader  # noqa: PLC0415

    return int(sum(int(tensor.n_elements) for tensor in GGUFReader(str(path), "r").tensors))


def safetensors_parameters(path: str | Path) -> int:
    """Parameters in a `.safetensors` file, from the tensor shapes in its JSON header."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    return int(sum(math.prod(entry["shape"]) for name, entry in header.items() if name != "__metadata__"))


def count_parameters(ref: str) -> int | None:
    """Parameters of a local model (a `.gguf` file, or a folder of `.safetensors`), from the tensor
    shapes in its files; None when there is nothing local to count."""
    path = Path(ref).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        try:
            return gguf_parameters(path)
        except ImportError:  # without the gguf package, the file size stands in
            return None
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        return sum(safetensors_parameters(f) for f in files) if files else None
    return None


def weight_file_bytes(ref: str) -> int | None:
    """Bytes of a local model's weight files on disk (its `.safetensors`, or the `.gguf` file), None
    when there is nothing local. A fallback only: a `.gguf` loads into far more than its file."""
    path = Path(ref).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return path.stat().st_size
    if not path.is_dir():
        return None
    return sum(f.stat().st_size for f in path.glob("*.safetensors")) or None


def local_memory_estimate(ref: str, dtype: str) -> tuple[float | None, str]:
    """`memory_estimate` of a model named by `ref`: its parameters counted from its local files, else
    the size of those files, else a guess from its name."""
    if not str(ref).strip():
        return None, "unknown"
    try:
        parameters = count_parameters(ref)
        measured = None if parameters else weight_file_bytes(ref)
    except (OSError, ValueError):
        parameters = measured = None
    return memory_estimate(ref, dtype, measured, parameters=parameters)


def bytes_per_parameter(dtype: str) -> int:
    """Bytes of one weight once loaded in `dtype` (auto counts as float32, what a CPU loads)."""
    return _BYTES.get(str(dtype).replace("torch.", ""), 4)


def memory_estimate(ref: str, dtype: str, measured: int | None = None, *,
                    parameters: int | None = None) -> tuple[float | None, str]:
    """(bytes the weights need once loaded, how it was found): the parameters counted from the files
    × the bytes of `dtype`; else `measured` bytes of the weight files; else the parameters guessed
    from the name × the bytes of `dtype` (auto counts as float32, what a CPU loads)."""
    if parameters:
        return float(parameters) * bytes_per_parameter(dtype), "counted from the weight files"
    if measured:
        return float(measured), "from the weight files"
    params = guess_parameters(ref)
    if params is None:
        return None, "unknown"
    return params * bytes_per_parameter(dtype), "guessed from the name"


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
