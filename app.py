"""clues — the interactive lab. Run with `streamlit run app.py`.

The entry point: the sidebar (model pair, text) is drawn here on every page, then the chosen
page runs. Pages live in pages/ and stay thin: widgets → one cached core call → figures.
"""

import streamlit as st

from clues.ui import ensure_navigation, sidebar

ensure_navigation()
st.set_page_config(page_title="clues · elusive clues lab", page_icon=":material/search:", layout="wide")

PAGES = [
    st.Page("pages/explorer.py", title="Clue explorer", icon=":material/search:", default=True),  # at /
    st.Page("pages/corpus.py", title="Corpus clues", icon=":material/bar_chart:", url_path="corpus"),
    st.Page("pages/augmentation.py", title="Augmentation lab", icon=":material/content_cut:", url_path="augmentation"),
    st.Page("pages/training.py", title="Training", icon=":material/show_chart:", url_path="training"),
    st.Page("pages/how_it_works.py", title="How it works", icon=":material/school:", url_path="how_it_works"),
]

page = st.navigation(PAGES)
sidebar.render()
try:
    page.run()
finally:
    sidebar.forget()  # the context lives for this run only
