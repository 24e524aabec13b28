"""The importance choice every page that ranks offers: which definition of received attention
(`clues.importance.IMPORTANCE`) turns the attention maps into a ranking, and far_mean's distance.

Each page keeps its own choice under its own URL keys (like its other widgets: `importance` on
the explorer, `aug_importance` in the augmentation lab, …), so a link reopens that page's view.
A page opened for the first time in a session starts from the definition chosen last on any
page, so the ranking explored is the one augmented and trained with unless the user says otherwise.
"""

from __future__ import annotations

import streamlit as st

from clues.importance import DEFAULT_DISTANCE, DEFAULT_IMPORTANCE, IMPORTANCE
from clues.ui import state

KEY = "importance"
DISTANCE_KEY = "distance"
MAX_DISTANCE = 256
_LAST = "_clues_last_importance"  # (importance, distance) chosen last on any page, this session


def label(name: str) -> str:
    """'total — total received from later tokens (…)': a definition's name and meaning in one line. The
    menu shows the name alone (it fits the box at 1280 px); pages write `describe` beside it."""
    return f"{name} — {IMPORTANCE[name].label}" if name in IMPORTANCE else name


def describe(name: str, distance: int = DEFAULT_DISTANCE) -> str:
    """One markdown line: which definition, and where it leans (its `bias`)."""
    definition = IMPORTANCE[name]
    text = definition.label.replace("at least d later", f"at least d = {distance} later") \
        if name == "far_mean" else definition.label
    return f"**{name}** ({text}): {definition.bias}."


def pick(where=st, *, key: str = KEY, distance_key: str = DISTANCE_KEY, distance_where=None,
         show_distance: bool = False) -> tuple[str, int]:
    """The importance selectbox in `where` and, for far_mean (or always, with `show_distance`), the
    distance d in `distance_where` (default: `where`); returns (importance, distance).

    The default is the choice made last on any page (else `DEFAULT_IMPORTANCE`)."""
    last_importance, last_distance = st.session_state.get(_LAST, (DEFAULT_IMPORTANCE, DEFAULT_DISTANCE))
    importance = state.selectbox(
        "Importance (attention received)", list(IMPORTANCE), key, last_importance, where=where,
        help="How the attention a token receives from later tokens becomes one number; the contrast is "
             "large − small of it.\n" + "\n".join(f"- **{n}**: {d.bias}" for n, d in IMPORTANCE.items()))
    distance = int(state.get(distance_key, last_distance))
    if importance == "far_mean" or show_distance:
        distance = int(state.number("far_mean distance d (tokens)", 1, MAX_DISTANCE, distance_key,
                                    last_distance, where=distance_where or where,
                                    help="far_mean averages only the queries at least d tokens later."))
    st.session_state[_LAST] = (importance, distance)
    return importance, distance
