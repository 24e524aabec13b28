"""clues: contrast the attention of a large and a small language model to find elusive clues.

The core library. It never imports streamlit; the app (app.py, pages/) and the CLI
(`python -m clues`) are two faces over it.
"""

__version__ = "0.1.0"

FIELDS = ("name", "date", "city", "university", "major", "company")
"""The fact fields of a biography, in the order they appear in the standard template."""
