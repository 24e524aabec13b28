"""Small display helpers the pages share: a plotly chart with its downloads, escaped HTML,
and the message shown while the pair or the text is missing."""

from __future__ import annotations

import streamlit as st

from clues.errors import CluesError
from clues.figures import PLOTLY_CONFIG
from clues.ui import state

# Streamlit writes inline code at 0.75em, 10.5 px in a caption: never below 14 px, so a command or a name in
# backticks is readable from the back row at 1280×800 like the text around it.
STYLE = "<style>code { font-size: max(0.875em, 14px) !important; }</style>"


def styles() -> None:
    """The app's few CSS rules (a style-only st.html takes no space on the page)."""
    st.html(STYLE)


def figure(fig, key: str, *, download: str | None = None, where=st) -> None:
    """Draw `fig` (its toolbar saves a PNG); with `download`, also offer it as standalone HTML."""
    where.plotly_chart(fig, config=PLOTLY_CONFIG, key=key, width="stretch")
    if download:
        # The HTML (with plotly.js inside, so it opens offline) is built only when clicked.
        where.download_button("Download as HTML", data=lambda: fig.to_html(include_plotlyjs=True),
                              file_name=f"{download}.html", mime="text/html", key=f"html-{key}",
                              on_click="ignore", icon=":material/download:")


def html(markup: str, where=st) -> None:
    """Show HTML built by clues.text_views (its text is escaped there)."""
    where.html(markup)


def stop() -> None:
    """End the page here (st.stop), telling the widget state that this run ended: the widgets it did
    not draw are off screen now (see clues/ui/state.py)."""
    state.end_run()
    st.stop()


def require(ctx, *, text: bool = True) -> None:
    """Stop the page with a message when the pair (or the text) is not there yet."""
    if not ctx.models_ready:
        if ctx.waiting_for_load:
            st.info(ctx.error)
        else:
            st.warning(ctx.error or "The model pair is not loaded; choose one in the sidebar.")
        stop()
    if text and ctx.item is None:
        st.info("Choose a text in the sidebar.")
        stop()


def error(message) -> None:
    st.error(str(message))


def attempt(what: str, function, *args, **kwargs):
    """Run a core call; a problem becomes an st.error message (never a traceback) and stops here.

    CluesError messages say what to fix; anything else (a model the libraries cannot run, say)
    is reported with its type and first line.
    """
    try:
        return function(*args, **kwargs)
    except CluesError as problem:
        st.error(str(problem))
    except Exception as problem:  # noqa: BLE001 — shown to the user instead of a traceback
        first = str(problem).strip().splitlines()[0] if str(problem).strip() else ""
        st.error(f"{what} failed: {type(problem).__name__}" + (f": {first}" if first else ""))
    stop()
