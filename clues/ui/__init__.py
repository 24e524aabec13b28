"""The app's streamlit helpers (the only part of clues that imports streamlit)."""


def ensure_navigation(*, from_page: bool = False) -> None:
    """Make Streamlit use app.py's st.navigation although a pages/ folder sits next to it.

    Streamlit treats a `pages/` folder as the old automatic multipage layout until the first
    st.navigation call. app.py switches that off before it calls st.navigation. When the first
    visit of a fresh server goes straight to a page's URL, the old layout runs that page on its
    own (`from_page`): switch it off and rerun once through app.py, on a real server only —
    streamlit's AppTest resets the flag before every run, and a rerun would swallow its clicks.
    """
    import streamlit as st
    from streamlit import runtime
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        if from_page and runtime.exists():
            st.rerun()
