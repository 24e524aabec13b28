"""The app's frame: its pages (files in pages/), st.navigation over them, and the shared sidebar.

app.py calls `run()` on every script run: the sidebar is drawn, then the chosen page runs.

A fresh server needs one more step. Streamlit treats a `pages/` folder next to the entry file as its
older automatic multipage layout until some session calls st.navigation; from then on it ignores the
folder in all sessions (st.navigation's documentation). So when a fresh server's first request goes
straight to a page's URL (/training), Streamlit runs pages/training.py on its own, without app.py.
That page's first line, `sidebar.context()`, finds no context and calls `run()` itself: st.navigation
takes over, the same URL resolves to the same page, which runs inside the frame; then the outer run
stops. Only public Streamlit API is used, and no rerun is needed (clicks of that run are kept).

The page list in the sidebar is ours (st.page_link), not st.navigation's: its links carry the state of
the page they open (clues/ui/state.py), so the page's run finds its URL already written and a page
switch is one browser history entry. st.navigation's own list drops the query string, and the run that
writes it back pushes a second entry (Back then lands on the same page). Streamlit's automatic list
of the pages/ folder, which a fresh server shows before any session has called st.navigation, is
switched off (`client.showSidebarNavigation = false`, .streamlit/config.toml); ours is drawn before
the models load, so it is there from the first paint.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import streamlit as st

from clues.ui import sidebar, state

# The tab's icon is a file of the app, served by the app itself: a Material icon or an emoji as
# page_icon makes the browser fetch it from another host (fonts.gstatic.com, a CDN), even offline.
ICON = Path(__file__).resolve().parents[2] / "assets" / "icon.png"


class PageFile(NamedTuple):
    path: str  # relative to app.py
    title: str
    icon: str  # an emoji: drawn as text in the page list, nothing to fetch
    url_path: str  # "" for the default page, at /


PAGES = (
    PageFile("pages/explorer.py", "Clue explorer", "🔍", ""),
    PageFile("pages/corpus.py", "Corpus clues", "📊", "corpus"),
    PageFile("pages/augmentation.py", "Augmentation lab", "✂️", "augmentation"),
    PageFile("pages/training.py", "Training", "📈", "training"),
    PageFile("pages/how_it_works.py", "How it works", "🎓", "how_it_works"),
)


def pages() -> list[st.Page]:
    return [st.Page(page.path, title=page.title, icon=page.icon, url_path=page.url_path or None,
                    default=not page.url_path) for page in PAGES]


def _page_links(where) -> None:
    for page in PAGES:
        where.page_link(page.path, label=page.title, icon=page.icon,
                        query_params=state.link_params(page.url_path) or None)


def run() -> None:
    """Draw the frame and run the page the URL names."""
    st.set_page_config(page_title="clues · elusive clues lab", page_icon=str(ICON) if ICON.is_file() else None,
                       layout="wide")
    state.begin_run()
    page = st.navigation(pages(), position="hidden")
    state.open_page(page.url_path)
    links = st.sidebar.container()  # drawn above the sidebar, filled once the sidebar's state is known

    def sidebar_drawn() -> None:  # before the models load: the page list shows from the first paint
        state.sidebar_drawn()
        _page_links(links)

    sidebar.render(sidebar_drawn)
    try:
        page.run()
        state.end_run()  # an early stop ends the run through show.stop()
    finally:
        sidebar.forget()  # the context lives for this run only
