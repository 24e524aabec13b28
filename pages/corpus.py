"""Corpus clues: at the word before a fact, which fields do the most-attended tokens belong to?
(The paper's figures 2 and 3, live, over N texts.)"""

import streamlit as st

from clues import FIELDS, figures
from clues.clue_quality import NEUTRAL_PREFIX, measure_clue_quality, ranking_label
from clues.corpus import FACT_FIELDS
from clues.importance import IMPORTANCE
from clues.text import to_tagged
from clues.ui import cache, importance_picker, show, sidebar, state

ctx = sidebar.context()
st.title("Corpus clues")
st.caption("Right before a fact (e.g. the word before the company) the model has to recall it. Which earlier "
           "tokens does it look at from there? For each text we take the top-k tokens by attention from that "
           "word — for the large model, the small one, and their difference — and count which field each "
           "belongs to, rank by rank. The paper found the large model looks back at the **name** more.")
show.require(ctx, text=False)

c_source, c_n, c_field, c_k = st.columns([1.4, 1, 1, 1])
source = state.radio("Corpus", ["generated", "uploaded"], "corpus_src", "generated", where=c_source,
                     format_func={"generated": "Generated biographies", "uploaded": "Uploaded tagged CSV"}.get,
                     horizontal=True)
n = state.slider("Texts (N)", 2, 300, "n", 30, where=c_n)
field = state.selectbox("Fact", list(FACT_FIELDS), "field", "company", where=c_field)
k = state.slider("Top-k", 1, 10, "k", 5, where=c_k)
if source == "generated":
    seed = state.number("Corpus seed", 0, 10 ** 9, "corpus_seed", 0, where=c_source)
    texts, described = cache.generated(int(n), int(seed)), f"{n} generated biographies (seed {seed})"
else:
    texts, name = sidebar.upload_picker(c_source, "corpus_upload")
    texts = texts[: int(n)]
    described = f"{len(texts)} biographies of {name}"
    if not texts:
        show.stop()

corpus = list(texts)  # every text, for the clue quality below (it needs no fact field)
texts = [t for t in texts if t.span(field) is not None]
if not texts:
    st.warning(f"None of these texts has a tagged {field}.")
    show.stop()

with st.spinner(f"Reading attention in {len(texts)} texts…"):
    ranks = show.attempt("Reading the attention", cache.corpus_field_ranks, ctx.pair_key,
                         tuple(to_tagged(item) for item in texts), field, int(k), ctx.large, ctx.small, tuple(texts))
figure = figures.field_rank_bars(
    ranks.counts, ranks.fields, title=f"Fields of the top-{k} tokens attended from the word before the {field} "
                                      f"({ranks.texts} texts)")
show.figure(figure, "field-ranks", download=f"corpus-clues-{field}")

columns = st.columns(3)
for column, view in zip(columns, ("large", "small", "difference")):
    column.metric(f"{view}: name tokens among the top-{k}", f"{ranks.share(view):.0%}", help="share over all ranks")
    column.caption(f"rank 0 (the most attended token) is a name token in {ranks.first_share(view):.0%} of the texts")

frame = ranks.frame()
with st.expander("Counts (texts per rank and field)"):
    st.dataframe(frame, hide_index=True, key="counts-table")
st.download_button("Download the counts (CSV)", frame.to_csv(index=False), f"corpus-clues-{field}.csv", "text/csv",
                   key="dl-counts", on_click="ignore")
st.caption(f"{described}; the query word itself, special tokens and the first position (the attention "
           "sink) are not counted. Results are cached per pair, text and fact.")


# -- clue quality: does a ranking find clues, or positions? ---------------------------------------
def clue_quality_section(corpus: list, described: str) -> None:
    """clues.clue_quality on this page's corpus: each importance definition's contrast ranking, the
    position ranking and the reference code's row sum; texts as given and with the field moved."""
    st.subheader("Clue quality: clues, or positions?")
    st.caption("For every way of ranking a text's tokens: how often a token of the chosen field (the name, "
               "by default) is among the top-k clues, the rank of the first one, and where the top-k sit in "
               "the text (0 = start, 1 = end). Then the same with a neutral sentence placed before every "
               "text, so the field is no longer at the start: a ranking that only finds positions falls "
               "apart there. The **position** ranking (earliest first) shows what position alone achieves.")
    present = [f for f in FIELDS if any(item.span(f) is not None for item in corpus)]
    if not present:
        st.info("These texts have no tagged fields: tag a name (<name>…</name>) to measure clue quality.")
        return
    c_field, c_k, c_importance, c_distance = st.columns([1, 1, 2, 1])
    quality_field = state.selectbox("Clue field", present, "quality_field", "name", where=c_field)
    quality_k = state.slider("Top-k clues", 1, 20, "quality_k", 5, where=c_k)
    importance, distance = importance_picker.pick(c_importance, distance_where=c_distance, show_distance=True,
                                                  key="corpus_importance", distance_key="corpus_distance")
    with st.spinner(f"Ranking {len(corpus)} texts, as given and moved…"):
        rankings = show.attempt("Measuring clue quality", cache.quality_rankings, ctx.pair_key,
                                tuple(to_tagged(item) for item in corpus), int(distance), ctx.large, ctx.small,
                                tuple(corpus))
    frame = show.attempt("Measuring clue quality", measure_clue_quality, rankings, field=quality_field,
                         k=int(quality_k))
    rankings = list(dict.fromkeys(frame["ranking"]))
    labels = {name: ranking_label(name) for name in rankings}
    show.figure(figures.clue_quality_figure(frame, k=int(quality_k), field=quality_field, highlight=importance,
                                            labels=labels),
                "clue-quality", download=f"clue-quality-{quality_field}")

    def share(ranking: str, texts: str) -> str:
        row = frame[(frame["ranking"] == ranking) & (frame["texts"] == texts)]
        return f"{row['share_in_top_k'].item():.0%}" if len(row) else "–"

    left, right = st.columns(2)
    # the moved share is a second measurement, not a change: a caption, never an arrow
    left.metric(f"{importance}: a {quality_field} token in the top-{quality_k}", share(importance, "as given"),
                help=importance_picker.describe(importance, distance))
    left.caption(f"texts as given; with the {quality_field} moved from the start: **{share(importance, 'moved')}**")
    right.metric(f"position only: a {quality_field} token in the top-{quality_k}", share("position", "as given"),
                 help="the control: the earliest tokens, whatever the models read")
    right.caption(f"texts as given; with the {quality_field} moved from the start: **{share('position', 'moved')}**")
    # four columns fit the page at 1280 px without scrolling sideways; the CSV below has every column
    shown = frame[["ranking", "texts", "share_in_top_k", "top_k_relative_position"]]
    st.dataframe(shown, hide_index=True, key="quality-table", width="stretch",
                 column_config={"ranking": st.column_config.TextColumn(help="; ".join(
                                    f"{name}: {label}" for name, label in labels.items())),
                                "share_in_top_k": st.column_config.NumberColumn(
                                    f"{quality_field} in top-{quality_k}", format="percent"),
                                "top_k_relative_position": st.column_config.NumberColumn(
                                    "position of the top-k", format="%.2f", help="0 = start, 1 = end")})
    st.download_button("Download the clue quality (CSV, with the rank of the first hit)", frame.to_csv(index=False),
                       f"clue-quality-{quality_field}.csv", "text/csv", key="dl-quality", on_click="ignore")
    definitions = [importance_picker.describe(name, distance) for name in IMPORTANCE]
    st.caption(f"{described}; moved = each text after “{NEUTRAL_PREFIX.strip()}”. Units as the contrast ranks "
               "them (first position, special tokens and punctuation left out); far_mean with d = "
               f"{distance}. The same numbers from the command line: `clues clue-quality`. "
               + " ".join(definitions))


clue_quality_section(corpus, described)
