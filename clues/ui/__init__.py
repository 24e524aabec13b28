"""The app's streamlit helpers (the only part of clues that imports streamlit)."""


def ensure_navigation() -> None:
    """Make Streamlit use app.py's st.navigation although a pages/ folder sits next to it.

    Streamlit still treats a `pages/` folder as the old automatic multipage layout until the
    first st.navigation call; a first visit straight to a page's URL would then run that page
    on its own with an automatic menu. Switch the flag off and rerun once, through app.py.
    """
    import streamlit as st
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
