"""The sidebar every page shares: the model pair, the device and precision, the memory the pair
needs, and the text to analyse. `context()` returns what the page works on."""

from __future__ import annotations

import os
import re
import time
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import streamlit as st
import torch

from clues import models
from clues.classroom import MODEL_REFUSED, upload_refusal
from clues.corpus import generate_biographies
from clues.errors import CluesError
from clues.memory import human_bytes, human_count
from clues.text import parse_tagged, to_tagged
from clues.ui import cache, seat, show, state
from clues.ui.cache import ModelSpec, PairSpec

CUSTOM = "custom"
SOURCES = {"demo": "Demo biography", "generated": "Generated biography (seed)",
           "csv": "Row of an uploaded tagged CSV", "free": "Free text (tags optional)"}
DEVICES = ["auto", "cpu"]
DTYPES = ["auto", "float32", "bfloat16", "float16"]
AUTOLOAD_BYTES = 2 * 1024 ** 3  # local pairs smaller than this load without a click
MAX_TOKENS = 512
FREE_TEXT_IN_URL = 2000  # characters of free text a link carries
_LOADED = "_clues_load_clicked"
UPLOAD = "_clues_upload"  # (name, bytes, uploader key) of the last uploaded tagged CSV, shared by all pages


def demo_refs() -> tuple[str, str]:
    """The bundled demo pair (CLUES_DEMO_LARGE / CLUES_DEMO_SMALL override it)."""
    return (os.environ.get("CLUES_DEMO_LARGE") or models.DEMO_LARGE,
            os.environ.get("CLUES_DEMO_SMALL") or models.DEMO_SMALL)


def slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.split("(")[0].lower()).strip("-")


def presets() -> dict[str, tuple[str, tuple[str, str]]]:
    """slug → (label, (large, small)); the demo pair first, with its overridable folders. In class mode,
    the pairs the teacher configured (the demo pair when none)."""
    mode = seat.mode()
    if mode.on:
        return _class_pairs(mode.pairs)
    out = {}
    for index, (label, pair) in enumerate(models.PRESET_PAIRS.items()):
        out["demo" if index == 0 else slug(label)] = (label, demo_refs() if index == 0 else pair)
    return out


def _class_pairs(pairs) -> dict[str, tuple[str, tuple[str, str]]]:
    out = {}
    for large, small in pairs or [demo_refs()]:
        if (large, small) == demo_refs():
            out["demo"] = (next(iter(models.PRESET_PAIRS)), (large, small))
        else:
            label = f"{Path(large).name} / {Path(small).name}"
            out[slug(label)] = (label, (large, small))
    return out


def demo_biography():
    """The demo text: the first experiment person, in the paper's single template."""
    return generate_biographies(1, seed=0, varied=False)[0]


@dataclass
class Context:
    pair: PairSpec
    large: object | None = None  # LoadedModel
    small: object | None = None
    item: object | None = None  # TaggedText
    source: str = ""
    max_tokens: int | None = MAX_TOKENS
    error: str | None = None
    waiting_for_load: bool = False

    @property
    def models_ready(self) -> bool:
        return self.large is not None and self.small is not None

    @property
    def tagged(self) -> str:
        return to_tagged(self.item)

    @property
    def pair_key(self) -> tuple:
        return self.pair.key


# The context of the script run in progress: set by render(), cleared by forget(). Streamlit runs a
# session's script in its own thread, so a run never sees another session's context.
_CURRENT: ContextVar[Context | None] = ContextVar("clues_sidebar_context", default=None)


def context() -> Context:
    """The context app.py built for this run.

    A page that runs without app.py (the first request of a fresh server went straight to its URL,
    see clues/ui/navigation.py) runs the app's frame here, which runs the page again inside it, and
    then stops this outer run.
    """
    ctx = _CURRENT.get()
    if ctx is not None:
        return ctx
    # Imported here: navigation draws this sidebar, so importing it at the top would be circular.
    from clues.ui import navigation  # noqa: PLC0415

    navigation.run()
    st.stop()


def render(drawn: Callable[[], None] | None = None) -> Context:
    """Draw the sidebar and load the pair. `drawn` is called once every widget of the sidebar is drawn
    and before the models load (seconds on a fresh server): the frame draws its page list then."""
    show.styles()
    # Where the page says the pair is loading: made on every run, empty but while a load lasts, so the
    # page's elements keep their places from run to run (a moved st.tabs opens on its first tab again).
    notice = st.empty()
    sidebar = st.sidebar
    # The text comes first: it is what a class changes most, and at 1280×800 the pair's captions would
    # push its picker below the fold.
    text_box, pair_box = sidebar.container(), sidebar.container()
    pair = _pair_picker(pair_box)
    ctx = Context(pair=pair)
    load_box = pair_box.container()  # below the pair's widgets, filled once the text is chosen
    _text_picker(text_box, ctx)
    text_box.divider()
    if drawn is not None:
        drawn()
    _load_pair(load_box, ctx, notice)
    _CURRENT.set(ctx)
    return ctx


def forget() -> None:
    """Called by the frame when the page has run, so no page ever sees an earlier run's context.

    Plain Python, no Streamlit call: it must work while a page's st.stop() unwinds the run.
    """
    _CURRENT.set(None)


# -- model pair -----------------------------------------------------------------------------

def _pair_picker(sidebar) -> PairSpec:
    sidebar.subheader("Model pair")
    choices = presets()
    class_mode = seat.mode().on
    options = list(choices) + ([] if class_mode else [CUSTOM])
    if class_mode and st.query_params.get("pair", options[0]) not in options:
        sidebar.warning(MODEL_REFUSED)  # a link asked for a model of its own
    chosen = state.selectbox("Pair (large / small, one family)", options, "pair", options[0], where=sidebar,
                             format_func=lambda s: choices[s][0] if s in choices else "Any two models…")
    if chosen == CUSTOM:
        large = state.text_input("Large model", "large", "", where=sidebar,
                                 placeholder="hub id, local folder or .gguf path").strip()
        small = state.text_input("Small model", "small", "", where=sidebar,
                                 placeholder="hub id, local folder or .gguf path").strip()
        label = "custom pair"
    else:
        label, (large, small) = choices[chosen]
    trust = False if class_mode else sidebar.checkbox(
        "Trust remote code (runs code from the model's repository)", key="trust_remote_code", value=False,
        help="Some models ship their own Python code; this runs it on this machine when the model loads. "
             "Only for sources you trust. Never set by a link.")
    if trust:
        sidebar.caption("⚠️ Remote code is enabled: loading runs code from the model's repository.")
    with sidebar.expander("Device and precision", expanded=False):
        devices = DEVICES + _accelerators()
        device = state.selectbox("Device", devices, "device", "auto", url=False)
        dtype = state.selectbox("Precision (dtype)", DTYPES, "dtype", "auto", url=False)
        state.number("Max tokens per text", 16, 8192, "max_tokens", MAX_TOKENS, url=False, step=16,
                     help="Longer texts are cut here; attention maps grow with its square.")
    return PairSpec(ModelSpec(large, device, dtype, trust), ModelSpec(small, device, dtype, trust), label)


def _accelerators() -> list[str]:
    found = ["cuda"] if torch.cuda.is_available() else []
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        found.append("mps")
    return found


def _loaded_dtype(spec: ModelSpec) -> str:
    """The precision a model loads in (auto: bfloat16 on a GPU that has it, else float32)."""
    try:
        device = models.default_device() if spec.device == "auto" else torch.device(spec.device)
        return str(models.resolve_dtype(spec.dtype, device)).replace("torch.", "")
    except (CluesError, RuntimeError):
        return spec.dtype


def _estimate(sidebar, pair: PairSpec) -> float | None:
    parts, total, known = [], 0.0, True
    for name, spec in (("large", pair.large), ("small", pair.small)):
        path = Path(spec.ref).expanduser() if spec.ref else None
        modified = path.stat().st_mtime if path is not None and path.exists() else None
        value, how = cache.memory_estimate(spec.ref, _loaded_dtype(spec), modified)
        parts.append(f"{name} {human_bytes(value)}" + ("" if how == "counted from the weight files" else f" ({how})"))
        if value is None:
            known = False
        else:
            total += value
    needed = total if known else None
    sidebar.caption(f"Memory for the weights once loaded: **{human_bytes(needed) if known else 'unknown'}** "
                    f"({', '.join(parts)}); attention maps add a little per text.")
    return needed


def _same_model(pair: PairSpec) -> bool:
    if pair.large.key == pair.small.key:
        return True
    large, small = Path(pair.large.ref).expanduser(), Path(pair.small.ref).expanduser()
    return large.exists() and small.exists() and large.resolve() == small.resolve() \
        and (pair.large.device, pair.large.dtype) == (pair.small.device, pair.small.dtype)


def _is_local(ref: str) -> bool:
    return bool(ref) and Path(ref).expanduser().exists()


def _load_pair(sidebar, ctx: Context, notice=None) -> None:
    pair = ctx.pair
    if not pair.large.ref or not pair.small.ref:
        sidebar.info("Name both models (hub id, local folder or .gguf file).")
        ctx.error = "No model pair chosen yet."
        return
    if (pair.large.ref, pair.small.ref) == demo_refs():
        try:
            models.check_demo_pair(pair.large.ref, pair.small.ref)
        except CluesError as error:
            ctx.error = str(error)
            sidebar.error(ctx.error)
            return
    needed = _estimate(sidebar, pair)
    automatic = _is_local(pair.large.ref) and _is_local(pair.small.ref) and needed is not None \
        and needed < AUTOLOAD_BYTES
    if not automatic and st.session_state.get(_LOADED) != pair.key:
        # A link never starts a big (or unknown, or remote) load: only this click does.
        if needed is not None and needed >= AUTOLOAD_BYTES:
            sidebar.warning(f"This pair needs about {human_bytes(needed)} of memory once loaded: "
                            "press “Load pair” to load it.")
        if sidebar.button("Load pair", type="primary", key="load_pair",
                          help="Loads both models (downloads them first if they come from the hub)."):
            st.session_state[_LOADED] = pair.key
        else:
            ctx.waiting_for_load = True
            ctx.error = "Press “Load pair” in the sidebar to load the models."
            return
    try:
        ctx.large, ctx.small = _load_with_progress(sidebar, pair, notice or st.empty())
    except CluesError as error:
        ctx.large = ctx.small = None
        ctx.error = str(error)
        sidebar.error(str(error))
        return
    except Exception as error:  # noqa: BLE001 — a library failure is still shown as a message
        ctx.large = ctx.small = None
        ctx.error = f"Could not load the pair: {type(error).__name__}: {error}"
        sidebar.error(ctx.error)
        return
    if _same_model(pair):
        sidebar.warning("The large and the small model are the same model: their contrast (large − small) "
                        "is zero by construction, so no token stands out. Choose two sizes of one family.")
    for name, loaded in (("large", ctx.large), ("small", ctx.small)):
        sidebar.caption(f"**{name}** `{Path(loaded.ref).name or loaded.ref}` · {loaded.device} · "
                        f"{str(loaded.dtype).replace('torch.', '')} · {loaded.n_layers} layers × "
                        f"{loaded.n_heads} heads · {human_count(loaded.n_parameters)} parameters")


_READY: set[tuple] = set()  # keys of the models this process has loaded (st.cache_resource keeps them)


def _load_with_progress(sidebar, pair: PairSpec, notice):
    """Load both models; a model not loaded yet in this process shows which one loads, the pair's
    progress (model 1 of 2, 2 of 2) and the seconds each took."""
    specs = (("large", pair.large), ("small", pair.small))
    if all(spec.key in _READY for _, spec in specs):
        # _READY only guesses what the cache holds (it may have evicted a model): a spinner, which
        # appears only after half a second, covers a reload the guess missed
        with sidebar.spinner("Loading the model pair…"):
            return cache.load_spec(pair.large), cache.load_spec(pair.small)
    loaded = []
    started = time.monotonic()
    # The page waits for the pair: say so where the page will be (a fresh server's first view).
    notice.info("Loading the model pair — the first time after the server starts takes a few seconds; "
                 "its progress is in the sidebar.")
    with sidebar.status("Loading the model pair…", expanded=True) as box:
        bar = box.progress(0.0)
        for number, (name, spec) in enumerate(specs, start=1):
            shown = Path(spec.ref).name or spec.ref
            box.update(label=f"Loading the {name} model `{shown}` ({number} of 2)…")
            bar.progress((number - 1) / 2, text=f"{name} model `{shown}` ({number} of 2) · "
                                                f"{time.monotonic() - started:.0f} s so far")
            begun = time.monotonic()
            loaded.append(cache.load_spec(spec))
            _READY.add(spec.key)
            box.caption(f"{name} `{shown}` loaded in {time.monotonic() - begun:.1f} s")
        bar.progress(1.0, text=f"both models loaded in {time.monotonic() - started:.1f} s")
        box.update(label=f"Model pair loaded in {time.monotonic() - started:.1f} s", state="complete",
                   expanded=False)
    notice.empty()
    return tuple(loaded)


# -- text source -------------------------------------------------------------------------

def _text_picker(sidebar, ctx: Context) -> None:
    sidebar.subheader("Text")
    source = state.radio("Text source", list(SOURCES), "src", "demo", where=sidebar,
                         format_func=lambda s: SOURCES[s], label_visibility="collapsed")
    ctx.max_tokens = int(state.get("max_tokens", MAX_TOKENS))
    try:
        if source == "demo":
            ctx.item, ctx.source = demo_biography(), "the demo biography"
        elif source == "generated":
            seed = state.number("Seed", 0, 10 ** 9, "seed", 1, where=sidebar)
            ctx.item, ctx.source = cache.generated(1, int(seed))[0], f"generated biography, seed {seed}"
        elif source == "csv":
            texts, name = upload_picker(sidebar, "sidebar_upload")
            if texts:
                row = state.number(f"Row (0–{len(texts) - 1})", 0, len(texts) - 1, "row", 0, where=sidebar)
                ctx.item, ctx.source = texts[int(row)], f"row {row} of {name}"
        else:
            raw = state.text_area("Text", "free_text", to_tagged(demo_biography()), where=sidebar, height=200,
                                  url_max=FREE_TEXT_IN_URL,
                                  help="Mark facts with <name>…</name>, <date>, <city>, <university>, "
                                       "<major>, <company> tags if you like; plain text works too.")
            if len(raw) > FREE_TEXT_IN_URL:
                sidebar.caption(f"⚠️ The link (the address bar) does not carry this text: it is longer than "
                                f"{FREE_TEXT_IN_URL:,} characters. Share the text itself with the link.")
            else:
                sidebar.caption(f"The link (the address bar) carries this text (up to {FREE_TEXT_IN_URL:,} "
                                "characters).")
            if not raw.strip():
                sidebar.warning("The text is empty: type or paste some text.")
            else:
                ctx.item, ctx.source = parse_tagged(raw), "free text"
    except CluesError as error:
        ctx.item = None
        sidebar.error(str(error))
    if ctx.item is not None:
        fields = ", ".join(ctx.item.fields) or "no tagged fields"
        sidebar.caption(f"{len(ctx.item.text)} characters · {fields}")


def upload_picker(where, key: str):
    """An uploader for a tagged CSV (shared across pages); returns (biographies, file name)."""
    upload = where.file_uploader("Tagged CSV (a `text` column)", type=["csv"], key=key,
                                 help="One biography a row with inline tags, e.g. "
                                      "<name>Ana Herrera</name> was born on <date>July 17, 1987</date>.")
    had_file = f"_clues_had_file_{key}"
    refusal = upload_refusal(seat.mode(), upload.size) if upload is not None else None
    if refusal:
        where.warning(refusal)
        state.mark_drawn(key)
        st.session_state[had_file] = True
        return [], upload.name
    if upload is not None:
        st.session_state[UPLOAD] = (upload.name, upload.getvalue(), key)
    elif state.was_on_screen(key) and st.session_state.get(had_file):
        # The user removed the file from this uploader (it showed one in the last run): forget it.
        stored = st.session_state.get(UPLOAD)
        if stored is not None and stored[2] == key:
            del st.session_state[UPLOAD]
    state.mark_drawn(key)
    st.session_state[had_file] = upload is not None
    stored = st.session_state.get(UPLOAD)
    if stored is None:
        where.info("Upload a tagged CSV to pick a row.")
        return [], None
    name, data, _ = stored
    if upload is None:
        where.caption(f"Using `{name}`, uploaded earlier.")
    try:
        return cache.read_upload(data, name), name
    except CluesError as error:
        where.error(str(error))
        return [], name
