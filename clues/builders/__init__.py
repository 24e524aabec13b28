"""Builders of artefacts outside the core's way: the bundled demo pair (`demo_pair`) and the
experiment's report (`experiment_report`).

Their text templates are files under `templates/` (Python `str.format` fields: `{name}`,
`{count:,}`; a literal brace is doubled), shipped as package data and read with
`importlib.resources`, so they work from a source tree and from an installed wheel alike.
"""

from __future__ import annotations

from importlib import resources


def load_template(name: str) -> str:
    """The text of `templates/<name>` (e.g. "model_card.md")."""
    return resources.files(__name__).joinpath("templates").joinpath(name).read_text(encoding="utf-8")


def render_template(name: str, **values) -> str:
    """`templates/<name>` with its fields filled from `values`."""
    return load_template(name).format(**values)
