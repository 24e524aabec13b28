"""Clue explorer: what the large and the small model attend to in one text, and the contrast."""

import hashlib

import streamlit as st

from clues import figures
from clues import text_views as markup
from clues.contrast import query_rows, ranked_table, received, unit_before_field
from clues.ui import cache, importance_picker, show, sidebar, state
from clues.views import VIEWS, view_spec

ctx = sidebar.context()
st.title("Clue explorer")
st.caption("Importance of a token = the attention it **receives** from the later tokens (how it is summed "
           "up is the *importance* choice below). Contrast = large − small: tokens the large model notices and "
           "the small one misses are the "
           "*elusive clues*.")
show.require(ctx)
large, small = ctx.large, ctx.small

# -- view controls -------------------------------------------------------------------------
c_view, c_layer, c_head, c_opts = st.columns([1.3, 1.2, 1.2, 1.3])
# the names alone fit the box at 1280 px; the description is written under it
view = state.selectbox("Aggregation", list(VIEWS), "view", "mean", where=c_view,
                       help="\n".join(f"- **{v.name}**: {v.description}" for v in VIEWS.values()))
c_view.caption(VIEWS[view].description)
layer = state.get("layer", large.n_layers - 1)
head = state.get("head", 0)
if VIEWS[view].needs_layer:
    layer = state.slider("Layer (large model)", 0, large.n_layers - 1, "layer", large.n_layers - 1, where=c_layer)
if VIEWS[view].needs_head:
    head = state.slider("Head (large model)", 0, large.n_heads - 1, "head", 0, where=c_head)
same_scale = state.checkbox("Same colour scale", "same", True, where=c_opts)
log_scale = state.checkbox("Log colour scale", "log", False, where=c_opts)
spec = view_spec(view, layer or 0, head or 0, (large.n_layers, large.n_heads),
                 (small.n_layers, small.n_heads))
if VIEWS[view].needs_layer:
    c_layer.caption(f"small model: layer {spec.small_layer} (same relative depth)"
                    + (f", head {spec.small_head}" if VIEWS[view].needs_head else ""))
if VIEWS[view].needs_head and spec.small_head != spec.large_head:
    c_head.caption(f"The small model has {small.n_heads} heads: its head {small.n_heads - 1} stands in for "
                   f"head {spec.large_head}.")

# -- importance definition -----------------------------------------------------------------
c_importance, c_distance, c_bias = st.columns([2, 1, 2])
importance, distance = importance_picker.pick(c_importance, distance_where=c_distance)
c_bias.caption(importance_picker.describe(importance, distance))

with st.spinner("Reading the attention of both models…"):
    current = show.attempt("Reading the attention", cache.view, ctx.pair_key, ctx.tagged, spec, ctx.max_tokens,
                           large, small, ctx.item, importance, distance)
result = current.result
for note in dict.fromkeys(result.large_maps.notes + result.small_maps.notes):
    st.info(note)
if result.level == "word":
    st.info("The two tokenizers split this text differently, so both models are compared per word.")

# -- heatmaps ------------------------------------------------------------------------------
tokens = current.tokens
clip = None if log_scale else 99.5
# The columns of the ranked units set the colour scales: the attention sink (position 0, left out of
# the ranking) and special tokens saturate instead of washing out every other cell.
ranked_columns = [c.index for c in result.clues if c.rank is not None] or None
top_k = int(state.get("top_k", 10))
marked = [c.index for c in result.top(top_k)]  # their axis labels are always written
heat_large, heat_small = figures.heatmap_pair(current.large, current.small, tokens, columns=ranked_columns,
                                              same_scale=same_scale, log=log_scale, clip=clip, marked=marked,
                                              titles=(f"Large model · {spec.describe('large')}",
                                                      f"Small model · {spec.describe('small')}"))
left, right = st.columns(2)
with left:
    show.figure(heat_large, "heat-large", download="attention-large")
with right:
    show.figure(heat_small, "heat-small", download="attention-small")
st.caption("Rows attend to columns (causal: nothing above the diagonal). "
           + "Colour scales are set by the ranked tokens' columns"
           + (" (capped at their 99.5th percentile)" if clip else "")
           + ", so the first token's huge weights saturate instead of hiding the rest; hover a cell for its "
             "exact value. "
           + "Axes name every token where they fit, and always the top clues; hover a cell for any token. "
           + "Drag to zoom; double-click to reset; the camera icon saves a PNG.")

top_k = state.slider("Top-k clues to mark", 1, 50, "top_k", 10)
marked = [c.index for c in result.top(top_k)]
c_contrast, c_text = st.columns([1, 1])
with c_contrast:
    show.figure(figures.contrast_heatmap(current.difference, tokens, clip=clip, columns=ranked_columns,
                                         causal_blank=True, marked=marked),
                "heat-contrast", download="attention-contrast")
with c_text:
    st.markdown("**The text, shaded by contrast**")
    cut = max(result.large_maps.truncated_tokens, result.small_maps.truncated_tokens)
    shaded = markup.contrast_text_html(ctx.item.text, result.clues, top_k, cut_tokens=cut)
    show.html(shaded)
    table = ranked_table(result)
    st.markdown(f"**Ranked clues** ({len(table)} tokens ranked, rank 0 = strongest; the first position, "
                "special tokens and punctuation are never clues)")
    # four columns fit the half page at 1280 px without scrolling sideways; the CSV has every column
    # the position travels as the (hidden) index, so the shown table still says where each clue stands
    st.dataframe(table.set_index("position")[["rank", "token", "field", "contrast"]], hide_index=True, height=300,
                 key="ranked-table",
                 column_config={"rank": st.column_config.NumberColumn(help="0 = strongest clue: the r of p(r)"),
                                "contrast": st.column_config.NumberColumn(format="%.5f",
                                                                          help="importance large − small")})
    st.download_button("Download the ranking (CSV: each model's importance and the position too)",
                       table.to_csv(index=False), "clues-ranking.csv", "text/csv", key="dl-ranking", on_click="ignore")

large_received, small_received, contrast = received(result)
top = [c.index for c in result.top(top_k)]
show.figure(figures.received_bars(tokens, large_received, small_received, contrast=contrast, top=top),
            "received-bars", download="received-attention")

# -- importance against position: where the definition leans --------------------------------
c_bias_plot, c_bias_text = st.columns([2, 1])
with c_bias_plot:
    unranked = [c.index for c in result.clues if c.rank is None]
    show.figure(figures.importance_position_figure(
        large_received, small_received, contrast, tokens, hide=unranked, top=top,
        title=f"Importance against position · {importance}"), "importance-position")
c_bias_text.markdown(importance_picker.describe(importance, distance))
c_bias_text.caption("Each model's importance and their contrast, token by token from the start of the text "
                    "to its end; squares mark the top clues. Units left out of the ranking (the first "
                    "position, where models park spare attention, and special tokens) are gaps. A definition "
                    "whose contrast climbs towards one end ranks positions, not clues: compare total and "
                    "paper_mean here, and the position control on the Corpus page.")

# -- query-token mode ----------------------------------------------------------------------
st.subheader("Where does a token look?")
fact_fields = [f for f in ctx.item.fields if f != "name"]
c_field, c_query = st.columns([1, 2])
field = None
if fact_fields:
    field = state.selectbox("Fact", fact_fields, "fact", fact_fields[-1], where=c_field,
                            help="The query defaults to the word right before this fact: where the "
                                 "model has to recall it.")
default = unit_before_field(result, ctx.item, field) if field else None
choices = [c.index for c in result.clues if not c.special and c.text.strip()]
if default not in choices:
    default = choices[-1]
# A new fact or text gets its own widget, so the query jumps to that fact's default.
digest = hashlib.sha1(f"{ctx.tagged}|{field}".encode()).hexdigest()[:10]
labels = figures.token_labels(tokens)
query = c_query.selectbox("Query token", choices, index=choices.index(default), key=f"query-{digest}",
                          format_func=lambda i: labels[i])
rows = query_rows(result, query)
show.figure(figures.query_bars(tokens, rows, query), "query-bars", download="query-attention")
