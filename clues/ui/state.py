"""Widgets whose values survive page switches and live in the URL (st.query_params), so a link
reopens the same view.

Each wrapper takes the widget's key and a default. The value comes from, in order: what the
user set in this session, the URL (parsed and checked; a bad value falls back to the default),
the default. After the widget runs its value is written back to the session and, for keys
marked `url=True`, to the URL.

What a widget shows is always what is applied. A widget that a run does not draw (its page stopped
early, another page ran) is unmounted in the browser, which forgets its value: when it is drawn again
its remembered value is written to st.session_state before it is created, so Streamlit sends that
value to the browser instead of letting it show the widget's default. The frame calls `begin_run()`
at the start of every full run and `end_run()` when the page has ended (normally or by `show.stop()`),
so the keys on screen in the last ended run are known.

Every draw gives the widget its current value as its default, because the browser shows the default
whenever it mounts an element without a value of its own (after an unmount, or when it applies two
runs' output at once and skips the value-carrying one). A default is not a set_value: a widget the user
is changing keeps what they set.

The URL. Streamlit pushes a browser history entry for every message that changes the query string,
so a run writes the URL once, when it ends (`end_run`), and only values that differ from their
default: opening a page adds no entry of its own, and each deliberate change adds one. The page
links in the sidebar (`link_params`) carry the state of the page they open, so a page switch is one
entry too. A run that finds in the URL something other than what this session last wrote there (Back,
Forward, a link) takes the URL's values, a missing one meaning the default: Back restores the state
of that entry instead of landing on an entry that shows the same thing.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import streamlit as st

_STORE = "_clues_params"
_DRAWN = "_clues_drawn"  # keys of the widgets this full run has drawn so far
_ON_SCREEN = "_clues_on_screen"  # keys of the widgets the browser shows from the last ended run
_ENDED = "_clues_run_ended"
_URL_TEXT = "_clues_url_text"  # key → its value as the URL writes it, for values that are not the default
_PENDING = "_clues_url_pending"  # key → text (None: not in the URL) of the url widgets this full run drew
_WRITTEN = "_clues_url_written"  # (page, params) the last ended run left in the URL
_PAGE = "_clues_page"  # url path of the page this run shows
_PAGE_KEYS = "_clues_page_keys"  # page → the url keys it draws (the sidebar's not counted)
_SIDEBAR_KEYS = "_clues_sidebar_keys"
_URL_WINS = "_clues_url_wins"  # this run opened a URL this session did not write


def _store() -> dict:
    return st.session_state.setdefault(_STORE, {})


def _from_url(key: str, default, parse: Callable[[str], Any], valid: Callable[[Any], bool]):
    raw = st.query_params.get(key)
    if raw is None:
        return default
    try:
        value = parse(raw)
    except (TypeError, ValueError):
        return default
    return value if valid(value) else default


def begin_run() -> None:
    """Called by the frame at the start of every full script run (not fragment reruns)."""
    session = st.session_state
    drawn = session.get(_DRAWN, set())
    if session.get(_ENDED, True):
        session[_ON_SCREEN] = set(drawn)
    else:  # the last run was interrupted (a newer click): the browser still shows the earlier widgets too
        session[_ON_SCREEN] = set(session.get(_ON_SCREEN, set())) | drawn
    session[_DRAWN] = set()
    session[_ENDED] = False
    session[_PENDING] = {}
    session[_URL_WINS] = True


def open_page(page: str) -> None:
    """Called by the frame once it knows the page (its url path): whether this run's URL is one this
    session wrote (a click on a widget) or not (Back, Forward, a link, a first visit)."""
    session = st.session_state
    session[_PAGE] = page
    session[_URL_WINS] = (page, st.query_params.to_dict()) != session.get(_WRITTEN)


def sidebar_drawn() -> None:
    """Called by the frame after the sidebar: its url keys travel in every page link."""
    st.session_state[_SIDEBAR_KEYS] = set(st.session_state.get(_PENDING, {}))


def link_params(page: str) -> dict[str, str]:
    """The query parameters of a link to `page`: its state and the sidebar's, as its run will write them."""
    session = st.session_state
    keys = session.get(_SIDEBAR_KEYS, set()) | session.get(_PAGE_KEYS, {}).get(page, set())
    texts = session.get(_URL_TEXT, {})
    return {key: texts[key] for key in sorted(keys) if key in texts}


def end_run() -> None:
    """Called when the page has ended, normally or by an early stop (show.stop): the URL is written
    once, in one message (one history entry at most)."""
    session = st.session_state
    session[_ENDED] = True
    session[_URL_WINS] = False  # a fragment rerun after this run keeps what the user set
    pending = session.get(_PENDING, {})
    _write_url(pending)
    own = set(pending) - session.get(_SIDEBAR_KEYS, set())
    session.setdefault(_PAGE_KEYS, {}).setdefault(session.get(_PAGE, ""), set()).update(own)


def _write_url(texts: dict) -> None:
    """Put `texts` (key → text, None: leave out) in the URL in one message, if that changes it."""
    params = st.query_params.to_dict()
    wanted = dict(params)
    for key, text in texts.items():
        if text is None:
            wanted.pop(key, None)
        else:
            wanted[key] = text
    if wanted != params:
        st.query_params.from_dict(wanted)
    st.session_state[_WRITTEN] = (st.session_state.get(_PAGE, ""), wanted)


def was_on_screen(key: str) -> bool:
    """Whether the browser shows the widget `key` now: it was drawn in the last ended run, or this
    full run has drawn it already — a fragment rerun (st.fragment, no begin_run) draws again the
    widgets its full run drew, and must keep what the user just set in them."""
    session = st.session_state
    return key in session.get(_ON_SCREEN, set()) or key in session.get(_DRAWN, set())


def mark_drawn(key: str) -> None:
    """Note that this run draws the widget `key` (the wrappers below do it themselves)."""
    st.session_state.setdefault(_DRAWN, set()).add(key)


def _prepare(key: str, default, parse, valid, url: bool, keep: Callable[[Any], bool] = lambda v: False):
    """`keep(value)`: a remembered value the URL cannot carry, kept when the URL has none."""
    store = _store()
    from_url = url and st.session_state.get(_URL_WINS, True) and not (
        key in store and key not in st.query_params and keep(store[key]))
    moved = False
    if key not in store or from_url:
        value = _from_url(key, default, parse, valid) if url else default
        moved = key in store and store[key] != value
        store[key] = value
    if not valid(store[key]):
        store[key] = default
    # A widget the browser does not show right now (not drawn in the last ended run) is mounted again
    # with its remembered value; one on screen keeps what the user just set, unless Back or a link
    # brought another value.
    if moved or not was_on_screen(key) or key not in st.session_state or not valid(st.session_state[key]):
        st.session_state[key] = store[key]
    mark_drawn(key)


def _remember(key: str, value, url: bool, fmt: Callable[[Any], str] = str, default=None) -> None:
    """Remember the value; for a url widget, note what the URL will say when the run ends."""
    _store()[key] = value
    if url:
        text = fmt(value)
        # A default is left out of the URL, but one a link spells out stays: taking it out would push a
        # second history entry for the same page (one more Back press).
        _note_url(key, None if value == default and st.query_params.get(key) != text else text)


def _note_url(key: str, text: str | None) -> None:
    texts = st.session_state.setdefault(_URL_TEXT, {})
    if text is None:
        texts.pop(key, None)
    else:
        texts[key] = text
    st.session_state.setdefault(_PENDING, {})[key] = text
    if st.session_state.get(_ENDED):  # a fragment rerun (st.fragment): one changed widget, written now
        _write_url({key: text})


def get(key: str, default=None):
    """The remembered value of a widget (even while its page is not shown)."""
    return _store().get(key, default)


def set_value(key: str, value) -> None:
    """Change a widget's value before it is drawn (e.g. a button that picks a preset)."""
    _store()[key] = value
    st.session_state[key] = value


def _as_type(key: str, kind: type) -> None:
    """Give a numeric widget's value the widget's type (an int remembered for a float slider).
    Only when it differs: any write to st.session_state[key] makes Streamlit send the value to the
    browser, which would undo a value the user is changing while this run is in flight."""
    if type(st.session_state[key]) is not kind:
        st.session_state[key] = kind(st.session_state[key])


def _current(key: str):
    """The value the widget `key` is drawn with in this run (given to it as its default too)."""
    return st.session_state[key]


def _bool(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def selectbox(label: str, options: Sequence, key: str, default=None, *, where=st, url: bool = True,
              **kwargs):
    options = list(options)
    default = options[0] if default is None or default not in options else default
    parse = type(default) if not isinstance(default, str) else str
    _prepare(key, default, parse, lambda v: v in options, url)
    value = where.selectbox(label, options, index=options.index(_current(key)), key=key, **kwargs)
    _remember(key, value, url, default=default)
    return value


def radio(label: str, options: Sequence, key: str, default=None, *, where=st, url: bool = True, **kwargs):
    options = list(options)
    default = options[0] if default is None or default not in options else default
    _prepare(key, default, str, lambda v: v in options, url)
    value = where.radio(label, options, index=options.index(_current(key)), key=key, **kwargs)
    _remember(key, value, url, default=default)
    return value


def slider(label: str, lo, hi, key: str, default, *, where=st, url: bool = True, step=None, **kwargs):
    number = float if isinstance(default, float) or isinstance(step, float) else int
    lo, hi, default = number(lo), number(hi), number(default)
    default = min(max(default, lo), hi)
    _prepare(key, default, number, lambda v: isinstance(v, (int, float)) and lo <= v <= hi, url)
    _as_type(key, number)
    if hi <= lo:  # a one-value range cannot be a slider
        _remember(key, lo, url, default=default)
        return lo
    value = where.slider(label, lo, hi, _current(key), key=key, step=step, **kwargs)
    _remember(key, value, url, (lambda v: f"{v:g}") if number is float else str, default)
    return value


def number(label: str, lo, hi, key: str, default, *, where=st, url: bool = True, step=None, **kwargs):
    kind = float if isinstance(default, float) else int
    lo = kind(lo) if lo is not None else None
    hi = kind(hi) if hi is not None else None

    def valid(v):
        return isinstance(v, (int, float)) and (lo is None or v >= lo) and (hi is None or v <= hi)

    default = kind(default)
    _prepare(key, default, kind, valid, url)
    _as_type(key, kind)
    value = where.number_input(label, min_value=lo, max_value=hi, value=_current(key), key=key, step=step,
                                 **kwargs)
    _remember(key, value, url, (lambda v: f"{v:g}") if kind is float else str, default)
    return value


def checkbox(label: str, key: str, default: bool = False, *, where=st, url: bool = True, **kwargs) -> bool:
    _prepare(key, bool(default), _bool, lambda v: isinstance(v, bool), url)
    value = where.checkbox(label, _current(key), key=key, **kwargs)
    _remember(key, value, url, lambda v: "1" if v else "0", bool(default))
    return value


def text_input(label: str, key: str, default: str = "", *, where=st, url: bool = True, **kwargs) -> str:
    _prepare(key, default, str, lambda v: isinstance(v, str), url)
    value = where.text_input(label, _current(key), key=key, **kwargs)
    _remember(key, value, url, default=default)
    return value


def text_area(label: str, key: str, default: str = "", *, where=st, url_max: int = 0, **kwargs) -> str:
    """A text up to `url_max` characters travels in the URL; a longer one (or any, with 0) does not,
    and its parameter leaves the URL so a link never carries an older text."""
    _prepare(key, default, str, lambda v: isinstance(v, str), url_max > 0, keep=lambda v: len(v) > url_max)
    value = where.text_area(label, _current(key), key=key, **kwargs)
    _remember(key, value, False)
    if url_max > 0:
        _note_url(key, value if len(value) <= url_max and value != default else None)
    return value


def multiselect(label: str, options: Sequence, key: str, default: Sequence, *, where=st, url: bool = True,
                **kwargs) -> list:
    options = list(options)
    default = [d for d in default if d in options]

    def parse(raw: str):
        return [p for p in raw.split(",") if p]

    _prepare(key, default, parse, lambda v: isinstance(v, list) and all(x in options for x in v), url)
    value = where.multiselect(label, options, list(_current(key)), key=key, **kwargs)
    _remember(key, list(value), url, lambda v: ",".join(map(str, v)), default)
    return value
