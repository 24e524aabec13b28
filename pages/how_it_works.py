"""How it works: a short guided walkthrough of the method on the live example."""

import re
from pathlib import Path

import streamlit as st

from clues import augment, figures
from clues.contrast import received
from clues.ui import cache, show, sidebar
from clues.ui import html as markup
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
           "models* (AAAI 2025) — in five steps, on the text chosen in the sidebar, with the real figures.")
show.require(ctx)
item = ctx.item
current = show.attempt("Reading the attention", cache.view, ctx.pair_key, ctx.tagged, ViewSpec("mean"),
                       ctx.max_tokens, ctx.large, ctx.small, item)
ranked = show.attempt("Ranking the tokens", cache.ranked, ctx.pair_key, ctx.tagged, "contrast", ctx.max_tokens,
                      ctx.large, ctx.small, item)
result = current.result

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
    "token *receive*, averaged over all layers, heads and later tokens? (The column mean of the causal attention "
    "map — a row sum would be 1 for every token.)")
large, small, contrast = received(result)
top = [c.index for c in result.top(10)]
show.figure(figures.received_bars(current.tokens, large, small, contrast=contrast, top=top), "how-received")

st.header("3 · The contrast: elusive clues")
st.markdown(
    "Subtract: **large − small**. Tokens the large model relies on and the small one overlooks get a high "
    "contrast — these are the *elusive clues*. Boxed below: the top 10.")
show.html(markup.contrast_text(item.text, result.clues, 10))
with st.expander("The whole contrast map"):
    ranked_columns = [c.index for c in result.clues if c.rank is not None] or None  # the sink saturates
    zmax = figures.shared_range(abs(current.difference), clip=99.5, columns=ranked_columns)[1]
    show.figure(figures.contrast_heatmap(current.difference, current.tokens, zmax=zmax, causal_blank=True),
                "how-contrast")

st.header("4 · Dropout guided by the clues")
alpha, beta = 0.7, 0.05
st.markdown(
    f"Train on copies of each text in which the token of clue rank r is dropped with probability "
    f"p(r) = α(1 − e^(−βr)) (here α = {alpha}, β = {beta}): the clues survive, the rest thins out, so the "
    "model must use the clues to predict what follows. The original text is kept as well.")
probabilities = augment.mode_probabilities(ranked, "contrast", alpha, beta)
left, right = st.columns([1, 1.3])
with left:
    show.figure(figures.dropout_curve(alpha, beta, int((ranked.ranks >= 0).sum()), mode="contrast",
                                      probabilities=probabilities, ranks=ranked.ranks,
                                      tokens=[item.text[s:e] for s, e in zip(ranked.starts, ranked.ends)]),
                "how-curve")
with right:
    _, drops = augment.augment_ranked([ranked], [probabilities], copies=1, seed=0, return_drops=True)
    drops = drops[0][0]  # the first text's first copy: [U] dropped or not
    st.markdown("One augmented copy (struck = dropped):")
    show.html(markup.struck_copy(item.text, ranked.starts, ranked.ends, drops))
    st.caption(f"{int(drops.sum())} of {int((ranked.ranks >= 0).sum())} droppable tokens dropped in this copy. "
               "Try other α, β and drop styles in the Augmentation lab.")

st.header("5 · The result")
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
