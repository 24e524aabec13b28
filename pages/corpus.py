"""Corpus clues: at the word before a fact, which fields do the most-attended tokens belong to?
(The paper's figures 2 and 3, live, over N texts.)"""

import pandas as pd
import streamlit as st

from clues import FIELDS, figures
from clues.corpus import FACT_FIELDS
from clues.fields_by_rank import OTHER, count_field_ranks
from clues.text import to_tagged
from clues.ui import cache, show, sidebar, state

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

texts = [t for t in texts if t.span(field) is not None]
if not texts:
    st.warning(f"None of these texts has a tagged {field}.")
    show.stop()

bar = st.progress(0.0, text=f"Reading attention in {len(texts)} texts…")
per_text = []
for index, item in enumerate(texts):
    per_text.append(show.attempt(f"Reading text {index + 1}", cache.text_field_ranks, ctx.pair_key,
                                 to_tagged(item), field, int(k), ctx.max_tokens, ctx.large, ctx.small, item))
    bar.progress((index + 1) / len(texts), text=f"Reading attention: {index + 1} / {len(texts)} texts")
bar.empty()

fields = list(FIELDS) + [OTHER]
counts = count_field_ranks(per_text, int(k), fields)
counted = sum(1 for r in per_text if r)
figure = figures.field_rank_bars(
    counts, fields, title=f"Fields of the top-{k} tokens attended from the word before the {field} "
                          f"({counted} texts)")
show.figure(figure, "field-ranks", download=f"corpus-clues-{field}")

name_index = fields.index("name")
columns = st.columns(3)
for column, view in zip(columns, ("large", "small", "difference")):
    table = counts[view]
    share = table[:, name_index].sum() / max(1, table.sum())
    top1 = table[0, name_index] / max(1, table[0].sum())
    column.metric(f"{view}: name tokens among the top-{k}", f"{share:.0%}", help="share over all ranks")
    column.caption(f"rank 1 is a name token in {top1:.0%} of the texts")

rows = [{"view": view, "rank": rank + 1, **{f: int(counts[view][rank, i]) for i, f in enumerate(fields)}}
        for view in counts for rank in range(int(k))]
frame = pd.DataFrame(rows)
with st.expander("Counts (texts per rank and field)"):
    st.dataframe(frame, hide_index=True, key="counts-table")
st.download_button("Download the counts (CSV)", frame.to_csv(index=False), f"corpus-clues-{field}.csv", "text/csv",
                   key="dl-counts", on_click="ignore")
st.caption(f"{described}; the query word itself, special tokens and the first position (the attention "
           "sink) are not counted. Results are cached per pair, text and fact.")
