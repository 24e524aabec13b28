"""clues — the interactive lab. Run with `streamlit run app.py`.

The entry point: the sidebar (model pair, text) is drawn on every page, then the chosen page runs
(clues/ui/navigation.py lists the pages). Pages live in pages/ and stay thin: widgets → one cached
core call → figures.
"""

from clues.ui import navigation

navigation.run()
