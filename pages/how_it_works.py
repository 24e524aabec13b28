"""How it works: a short guided walkthrough of the method on the live example."""

import re
from dataclasses import replace
from pathlib import Path

import streamlit as st

from clues import augment, figures
from clues import text_views as markup
from clues.clue_quality import compare_definitions, summary_markdown
from clues.contrast import received
from clues.importance import IMPORTANCE
from clues.models import demo_report
from clues.ui import cache, importance_picker, show, sidebar
from clues.views import ViewSpec

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results.md"

IMAGE = re.compile(r"^\s*!\[(?P<alt>[^\]]*)\]\((?P<path>[^)\s]+)\)\s*$")


def show_markdown_with_images(text: str, folder: Path) -> None:
    """Markdown whose image lines (![alt](relative/path.png)) are drawn with st.image from the file,
    so the app serves them itself (a relative link in st.markdown would point at the page's URL)."""
    block: list[str] = []
    for line in text.splitlines():
        match = IMAGE.match(line)
        if match is None:
            block.append(line)
            continue
        st.markdown("\n".join(block))
        block = []
        path = (folder / match["path"]).resolve()
        if path.is_file() and path.is_relative_to(folder.resolve()):
            st.image(str(path), caption=match["alt"] or None)
        else:
            st.caption(f"(figure {match['path']} is missing: `python -m clues experiment` draws it)")
    st.markdown("\n".join(block))


ctx = sidebar.context()
st.title("How it works")
st.caption("Gao et al., *Enhancing elusive clues in knowledge learning by contrasting attention of language "
           "models* (AAAI 2025) — in six steps, on the text chosen in the sidebar, with the real figures.")
show.require(ctx)
item = ctx.item
c_importance, c_distance, c_bias = st.columns([2, 1, 2])
importance, far_distance = importance_picker.pick(c_importance, distance_where=c_distance,
                                              key="how_importance", distance_key="how_distance")
c_bias.caption("The steps below rank by this definition; step 4 compares them all.")
current = show.attempt("Reading the attention", cache.view, ctx.pair_key, ctx.tagged, ViewSpec("mean"),
                       ctx.max_tokens, ctx.large, ctx.small, item, importance, far_distance)
ranked = show.attempt("Ranking the tokens", cache.ranked, ctx.pair_key, ctx.tagged, "contrast", "small",
                      ctx.max_tokens, ctx.large, ctx.small, item, importance, far_distance)
result = current.result

def definitions_step() -> None:
    """Step 4: the same text ranked under every importance definition, by position, and by the
    reference code's row sum; then the measured reasoning for the default."""
    st.header("4 · Which attention counts? Definitions, a mistake and a control")
    st.markdown(
        "How the attention a token receives is summed up decides what the ranking finds. Below, the top-5 clues "
        "of this text under each definition, next to two controls: **position** (the first tokens, no attention "
        "at all) and the authors' released code, which sums each *row* of the map. Punctuation, special tokens "
        "and the first position (where models park spare attention) are never clues.")
    results = {name: show.attempt("Reading the attention", cache.view, ctx.pair_key, ctx.tagged, ViewSpec("mean"),
                                  ctx.max_tokens, ctx.large, ctx.small, item, name, far_distance).result
               for name in IMPORTANCE}
    compared = compare_definitions(results, has_name=item.span("name") is not None)
    table, mistake, total_max = compared.table, compared.row_sum_max, compared.total_max
    st.dataframe(table, hide_index=True, key="definitions-table",
                 column_config={"mean position": st.column_config.NumberColumn(
                     format="%.2f", help="mean relative position of the top-5 (0 = start, 1 = end)")})
    if mistake is not None:
        left, right = st.columns(2)
        left.metric("row-sum mistake: max |large − small|", f"{mistake:.1e}",
                    help="over the ranked tokens; softmax rows sum to 1, so this is rounding noise")
        right.metric("total: max |large − small|", f"{total_max:.1e}", help="over the ranked tokens")
        st.caption("The row sum of a softmax map is 1 for every token in every model, so the released code's "
                   "“importance” is ≈ 1/(i+1) in both and its contrast is rounding noise: whatever it ranks, "
                   "it is not attention. Its ranking is shown only to make the mistake visible.")
    else:
        st.caption("The two tokenizers differ, so this text is compared per word; the row-sum mistake is a "
                   "per-token quantity and is left out.")
    st.markdown(
        "**The position control.** Augmentation mode *position* drops tokens by their place in the text alone "
        "(earliest kept), with the same p(r) and the same exclusions. A gain from contrast-guided dropout counts "
        "as attention's only if it beats *position*: it is a mode in the Augmentation lab and a condition on the "
        "Training page.")
    measured = demo_report()
    if measured and measured.get("clue_quality"):
        st.markdown("**Why `total` is the default.** `clues clue-quality` on the bundled pair, measured when the "
                    "pair was built (not live; another pair chosen in the sidebar is not measured here): the share "
                    "of texts with a name token among the contrast top-5 as given, with a neutral sentence put "
                    "before the text so the name no longer opens it (*moved*), and the mean relative position of "
                    "the top-5 (0 = start, 1 = end):")
        st.markdown(summary_markdown(measured["clue_quality"]))
        st.markdown(
            "A ranking that finds the name only because it stands first falls apart on the moved texts — the "
            "position control shows what place alone achieves. The paper's column mean favours the end of the "
            "text, where the last tokens average only one or two queries. The paper's definition stays one "
            "choice away: *paper_mean* in the selector above, or `--importance paper_mean` on the command line.")


st.header("1 · The problem: far facts are learned badly")
st.markdown(
    "A biography names a person and then states facts about them. When a model reads it during continual "
    "pretraining, the link it must learn is *name → fact*. The farther a fact is from the name, the weaker "
    "that link — and the worse the model answers questions about it afterwards. Small models suffer most.")
name_span = item.span("name")
if name_span is not None:
    distances = {s.field: sum(1 for c in result.clues if name_span.end <= c.start < s.start and c.text.strip())
                 for s in item.spans if s.field != "name"}
    if distances:
        cols = st.columns(len(distances))
        for col, (field, distance) in zip(cols, distances.items()):
            col.metric(field, f"{distance} tokens", help="tokens between the end of the name and the fact")
        st.caption("Distance from the name to each fact in this text: the company comes last, farthest away.")
else:
    st.caption("Tag the name and the facts (<name>…</name>, <company>…</company>) to see their distances.")

st.header("2 · What the two models look at")
st.markdown(
    "Read the text with a **large** and a **small** model of one family and ask: how much attention does each "
    "token *receive* from the later tokens, averaged over all layers and heads? Summed down its column of the "
    "causal attention map — a row sum would be 1 for every token. Here: "
    + importance_picker.describe(importance, far_distance))
large, small, contrast = received(result)
top = [c.index for c in result.top(10)]
show.figure(figures.received_bars(current.tokens, large, small, contrast=contrast, top=top), "how-received")

st.header("3 · The contrast: elusive clues")
st.markdown(
    "Subtract: **large − small**. Tokens the large model relies on and the small one overlooks get a high "
    "contrast — these are the *elusive clues*. Boxed below: the top 10.")
show.html(markup.contrast_text_html(item.text, result.clues, 10, cut_tokens=max(
    result.large_maps.truncated_tokens, result.small_maps.truncated_tokens)))
with st.expander("The whole contrast map"):
    ranked_columns = [c.index for c in result.clues if c.rank is not None]  # the sink saturates
    show.figure(figures.contrast_heatmap(current.difference, current.tokens, clip=99.5, columns=ranked_columns,
                                         causal_blank=True), "how-contrast")

definitions_step()

st.header("5 · Dropout guided by the clues")
settings = replace(augment.DEFAULT_AUGMENT, copies=1)
alpha, beta = settings.alpha, settings.beta
st.markdown(
    f"Train on copies of each text in which the token of clue rank r is dropped with probability "
    f"p(r) = α(1 − e^(−βr)) (here α = {alpha}, β = {beta}): the clues survive, the rest thins out, so the "
    "model must use the clues to predict what follows. The original text is kept as well.")
probabilities = augment.mode_probabilities(ranked, "contrast", settings)
left, right = st.columns([1, 1.3])
with left:
    show.figure(figures.dropout_curve(augment.dropout_probability, alpha, beta, int((ranked.ranks >= 0).sum()),
                                      mode="contrast",
                                      probabilities=probabilities, ranks=ranked.ranks,
                                      tokens=[item.text[s:e] for s, e in zip(ranked.starts, ranked.ends)]),
                "how-curve")
with right:
    _, drops = augment.augment_ranked([ranked], [probabilities], settings, return_drops=True)
    drops = drops[0][0]  # the first text's first copy: [U] dropped or not
    st.markdown("One augmented copy (struck = dropped):")
    show.html(markup.struck_copy(item.text, ranked.starts, ranked.ends, drops))
    st.caption(f"{int(drops.sum())} of {int((ranked.ranks >= 0).sum())} droppable tokens dropped in this copy. "
               "Try other α, β and drop styles in the Augmentation lab.")

st.header("6 · The result")
if RESULTS.is_file():
    text = RESULTS.read_text(encoding="utf-8")
    st.markdown("The numbers measured here are in **docs/results.md** (written by `python -m clues experiment`):")
    with st.expander("docs/results.md", expanded=True):
        show_markdown_with_images(text, RESULTS.parent)
else:
    st.markdown(
        "In the paper, contrast-guided dropout improves QA on the far facts more than random dropout or dropout "
        "guided by the model's own attention. The numbers for this project come from "
        "`python -m clues experiment` (it writes docs/results.md); or run your own comparison on the "
        "**Training** page.")
st.page_link("pages/training.py", label="Open the Training page", icon=":material/show_chart:")
