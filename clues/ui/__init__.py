"""The app's streamlit helpers (the only part of clues that imports streamlit)."""
