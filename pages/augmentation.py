"""Augmentation lab: drop tokens with p(r) = α(1 − e^(−βr)) by their clue rank and see what is left."""

import io

import pandas as pd
import streamlit as st

from clues import augment, figures
from clues import text_views as markup
from clues.errors import CluesError
from clues.ui import cache, importance_picker, show, sidebar, state

ctx = sidebar.context()
st.title("Augmentation lab")
st.caption("The token of rank r (0 = strongest clue) is dropped with probability p(r) = α(1 − e^(−βr)): "
           "strong clues stay, the rest thins out, so training has to lean on the clues. Punctuation and "
           "special tokens are never dropped. Moving α or β only recomputes probabilities — the attention "
           "is read once per text.")
show.require(ctx)


def ranking_choice(mode: str) -> tuple[str, int]:
    """The importance definition (it ranks the contrast and attention modes; position, none and
    random do not read it, which the caption says)."""
    c_importance, c_distance, c_note = st.columns([1.6, 0.8, 1.6])
    importance, distance = importance_picker.pick(c_importance, distance_where=c_distance,
                                                  key="aug_importance", distance_key="aug_distance")
    if augment.MODES[mode].ranking in ("contrast", "own"):
        c_note.caption(importance_picker.describe(importance, distance))
    else:
        c_note.caption(f"Mode **{mode}** does not rank by attention: the importance choice is not used. "
                       "Position is the control: it keeps the start of the text, whatever the models read.")
    return importance, distance


@st.fragment
def lab():
    """Everything below the sidebar: moving a control reruns only this part of the page."""
    c_mode, c_alpha, c_beta = st.columns([1.3, 1, 1])
    mode = state.radio("Mode", list(augment.MODES), "mode", "contrast", where=c_mode, horizontal=True,
                       help="\n".join(f"- **{m.name}**: {m.description}" for m in augment.MODES.values()))
    c_mode.caption(augment.MODES[mode].description)
    default = augment.DEFAULT_AUGMENT
    alpha = state.slider("α (highest drop probability)", 0.0, 1.0, "alpha", default.alpha, where=c_alpha, step=0.05)
    beta = state.slider("β (how fast p rises with rank)", 0.0, 0.3, "beta", default.beta, where=c_beta, step=0.005,
                        format="%.3f")
    c_copies, c_seed, c_style, c_whose = st.columns([1, 1, 1.3, 1])
    copies = state.number("Copies (K)", 1, 50, "copies", default.copies, where=c_copies)
    seed = state.number("Seed", 0, 10 ** 9, "aug_seed", default.seed, where=c_seed)
    style = state.selectbox("Drop style", list(augment.DROP_STYLES), "style", default.style, where=c_style,
                            help="\n".join(f"- **{s}**: {h}" for s, h in augment.DROP_STYLE_HELP.items()))
    c_style.caption(augment.DROP_STYLE_HELP[style])
    settings = augment.AugmentSettings(alpha=float(alpha), beta=float(beta), copies=int(copies), style=style,
                                       seed=int(seed))
    attention_of = "small"
    if augment.MODES[mode].ranking in ("own", "position", "oracle", None):
        attention_of = state.selectbox("Model trained", ["small", "large"], "attention_of", "small",
                                       where=c_whose,
                                       help="The model you will train: its own attention ranks attention mode, "
                                            "its tokens are the units of the other modes.")
    importance, distance = ranking_choice(mode)
    st.caption("Drop style matters: in a CPU trial, *remove* stopped a tiny absolute-position model from "
               "learning (every later token shifts), while *mask* worked.")

    # the ranking `clues augment` and "Build the augmented corpus" below give this text
    ranked = show.attempt("Ranking the tokens", cache.ranked, ctx.pair_key, ctx.tagged, augment.MODES[mode].ranking,
                          attention_of, ctx.max_tokens, ctx.large, ctx.small, ctx.item, importance, distance)
    probabilities = show.attempt("Drop probabilities", augment.mode_probabilities, ranked, mode, settings)
    augmented, drops = show.attempt("Augmentation", augment.augment_ranked, [ranked], [probabilities], settings,
                                    return_drops=True)
    augmented, drops = augmented[0], drops[0]  # this one text: its K + 1 versions, [K, U] dropped units
    text = ranked.text
    units = [text[s:e] for s, e in zip(ranked.starts, ranked.ends)]
    summary = augment.summary([ranked], [probabilities])

    st.markdown("**Drop probability of each token** (darker = more likely dropped; underline = fact field; "
                "hover for rank and probability)")
    show.html(markup.probability_text(text, ranked.starts, ranked.ends, probabilities, ranked.ranks,
                                      ranked.fields))

    st.markdown(f"**{int(copies)} sample copies** (struck = dropped in that copy)")
    for index in range(int(copies)):
        show.html(markup.struck_copy(text, ranked.starts, ranked.ends, drops[index]))
    with st.expander(f"The copies as the model reads them (style: {style})"):
        for version in augmented[1:]:
            st.code(version, language=None, wrap_lines=True)

    left, right = st.columns([1.2, 1])
    with left:
        n_ranks = int((ranked.ranks >= 0).sum())
        curve = figures.dropout_curve(augment.MODES[mode].probability, alpha, beta, n_ranks, mode=mode,
                                      probabilities=probabilities, ranks=ranked.ranks, tokens=units)
        show.figure(curve, "dropout-curve", download="dropout-curve")
    with right:
        m1, m2 = st.columns(2)
        m1.metric("Expected drop rate", f"{summary['expected_drop_rate']:.1%}",
                  help="mean drop probability over the droppable tokens")
        m2.metric("Droppable tokens", f"{n_ranks} / {len(units)}")
        if summary["field_survival"]:
            show.figure(figures.survival_bars(summary["field_survival"]), "survival", download="field-survival")

    frame = pd.DataFrame({"text": augmented, "source": 0, "copy": range(len(augmented))})
    st.download_button("Download this text's augmented copies (CSV)", frame.to_csv(index=False), "augmented.csv",
                       "text/csv", key="dl-augmented", on_click="ignore")

    with st.expander("Augment a whole corpus"):
        c_n, c_cseed = st.columns(2)
        n = state.number("Generated biographies", 1, 5000, "aug_n", 50, where=c_n)
        corpus_seed = state.number("Corpus seed", 0, 10 ** 9, "aug_corpus_seed", 0, where=c_cseed)
        if st.button("Build the augmented corpus", key="build-corpus"):
            texts = cache.generated(int(n), int(corpus_seed))
            try:
                with st.spinner(f"Ranking and augmenting {len(texts)} biographies…"):
                    corpus = io.BytesIO()
                    ranked_all = augment.rank_corpus(texts, f"{mode}:{importance}", large=ctx.large,
                                                     small=ctx.small, own=attention_of, distance=distance)
                    rows = augment.augment_corpus_csv(corpus, ranked_all, mode, settings)
            except CluesError as error:
                show.error(error)
            else:
                st.session_state["_aug_corpus"] = (f"augmented-{mode}.csv", corpus.getvalue(), rows)
        built = st.session_state.get("_aug_corpus")
        if built:
            st.download_button(f"Download {built[2]} rows ({built[0]})", built[1], built[0], "text/csv",
                               key="dl-corpus", on_click="ignore")


lab()
