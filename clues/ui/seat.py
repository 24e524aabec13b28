"""Who is at this browser session: its id (what it started and follows in the run store) and the
server's class mode (clues/classroom.py)."""

from __future__ import annotations

import uuid

import streamlit as st

from clues.classroom import ClassMode, class_mode
from clues.errors import InputError

_SESSION = "_clues_session_id"


def session_id() -> str:
    """This browser session's id: a reload is a new session (Streamlit keeps no state across it)."""
    return st.session_state.setdefault(_SESSION, uuid.uuid4().hex)


def mode() -> ClassMode:
    """The server's class mode; a bad setting is said, and class mode stays on with its defaults."""
    try:
        return class_mode()
    except InputError as error:
        st.error(str(error))
        return ClassMode(on=True)
