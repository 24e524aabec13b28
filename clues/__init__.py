"""clues: contrast the attention of a large and a small language model to find elusive clues.

The core library. It never imports streamlit; the app (app.py, pages/), the CLI (`python -m clues`)
and the notebook are three faces over it. The notebook's face is this package's top level:

    import clues
    clues.contrast_text("<name>Liam Thompson</name> was born on <date>January 5, 1990</date>.")

The verbs (clues/api.py) load torch only when first used, so `import clues` and the CLI start fast.
"""

import importlib

__version__ = "0.1.0"

FIELDS = ("name", "date", "city", "university", "major", "company")
"""The fact fields of a biography, in the order they appear in the standard template."""

# The top-level API: each name is read from its module on first use (module __getattr__, PEP 562).
# None of them is the name of a submodule: importing clues.contrast would replace such a name.
_API = {name: "clues.api" for name in (
    "load_pair", "contrast_text", "biographies", "read_corpus", "measure_clue_quality", "rank_corpus",
    "augment_corpus", "train_model", "compare_training", "evaluate_model", "read_runs", "Pair")}
_API |= {name: "clues.settings" for name in ("AugmentSettings", "TrainConfig", "DEFAULT_AUGMENT", "DEFAULT_TRAIN")}
_API |= {name: "clues.display" for name in ("TextContrast", "ClueQuality", "RunCurves", "Figures")}
__all__ = ["FIELDS", *_API]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'clues' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
