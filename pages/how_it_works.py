"""How it works: the method as a lesson, on the live example — six steps a student who never read the
paper can follow, every term explained where it first appears (and in the glossary), every number
labelled with the corpus it comes from. The developer's record of the experiment is its report in docs/
(`clues.experiment.reported_headline`: docs/results.md or a more thorough docs/results-*.md)."""

from dataclasses import replace

import streamlit as st

from clues import augment, figures
from clues import text_views as markup
from clues.builders.experiment_report import lesson, paper_frames, paper_reference
from clues.clue_quality import compare_definitions, summary_markdown
from clues.contrast import received
from clues.experiment import FAR_FIELDS, on_bundled_pair, reported_headline
from clues.importance import IMPORTANCE
from clues.models import demo_report
from clues.ui import cache, importance_picker, show, sidebar
from clues.views import ViewSpec

# Every term the page uses, in the order a student meets it.
GLOSSARY = {
    "token": "the piece of text a model reads at a time: a word or part of one (“Wash” + “ington”).",
    "attention": "at each token, the model decides how much to look back at every earlier token; those "
                 "weights are its attention.",
    "query / key (q / k)": "the token that is looking (the query, a row of the map) and the token looked at "
                           "(the key, a column).",
    "softmax": "the step that turns a row of scores into weights that are positive and add up to 1 — so every "
               "row of the map sums to 1.",
    "causal attention map": "the table of all attention weights, query rows × key columns; “causal” because a "
                            "token can only look back, so everything above the diagonal is empty.",
    "layer, head": "a model computes attention many times in parallel (heads) and in a stack (layers); the "
                   "steps below average all of them.",
    "attention sink": "the first token, where models park attention they do not need; it receives huge weights "
                      "that mean nothing, so it is never a clue.",
    "importance": "how much attention a token receives from the tokens after it (definitions in step 4).",
    "far_mean's d": "the far_mean definition counts only queries at least d tokens after the key, to ignore "
                    "close neighbours.",
    "contrast": "importance in the large model minus importance in the small one.",
    "elusive clue": "a token with a high contrast: the large model relies on it, the small one overlooks it.",
    "rank r": "a token's place in the contrast ranking, counted from 0: r = 0 is the strongest clue.",
    "continual pretraining": "training an already trained model further on new text (here: biographies of new "
                             "people), with the same next-token objective.",
    "few-shot QA": "the test after training: the model sees a few solved questions (“When was Ana born? July "
                   "17, 1987”) and then a new one, and must complete the answer.",
    "EM (exact match)": "the share of answers that are exactly right.",
    "F1": "partial credit: how many words of the answer and the right answer overlap (SQuAD F1).",
    "recall probe": "a test of the stored fact itself: the biography's sentence up to the fact, with the "
                    "person's real name and every other fact taken from someone else.",
    "seed": "the number that fixes the random choices of one training run; the experiment repeats every "
            "condition with several seeds.",
    "std": "standard deviation: how far the seeds' results spread around their mean.",
    "paired by seed": "two conditions trained with the same seed see the same data order, so their difference "
                      "is taken seed by seed before averaging.",
    "95% interval": "the range that holds the true mean difference with 95% confidence; if it excludes 0, the "
                    "difference is consistent across seeds.",
    "LoRA": "training only small added matrices instead of all weights, to save memory (the paper uses it for "
            "its largest models; the demo trains all weights of a tiny model).",
}


def glossary() -> None:
    with st.expander("Glossary: every term on this page"):
        st.markdown("\n".join(f"- **{term}**: {meaning}" for term, meaning in GLOSSARY.items()))


ctx = sidebar.context()
st.title("How it works")
st.caption("Gao et al., *Enhancing elusive clues in knowledge learning by contrasting attention of language "
           "models* (AAAI 2025), in six steps, on the text chosen in the sidebar. Each number says which texts "
           "it was measured on.")
show.require(ctx)
glossary()
item = ctx.item
c_importance, c_distance, c_bias = st.columns([2, 1, 2])
importance, far_distance = importance_picker.pick(c_importance, distance_where=c_distance,
                                              key="how_importance", distance_key="how_distance")
c_bias.caption(importance_picker.describe(importance, far_distance)
               + " Steps 2, 3 and 5 rank by this definition; step 4 compares them all.")
current = show.attempt("Reading the attention", cache.view, ctx.pair_key, ctx.tagged, ViewSpec("mean"),
                       ctx.max_tokens, ctx.large, ctx.small, item, importance, far_distance)
ranked = show.attempt("Ranking the tokens", cache.ranked, ctx.pair_key, ctx.tagged, "contrast", "small",
                      ctx.max_tokens, ctx.large, ctx.small, item, importance, far_distance)
result = current.result
headline = reported_headline()  # of the reported experiments, the one on the default model that tried the most
published = headline[1] if headline else None
told = lesson(published) if published else None
told_report = f"docs/{headline[0].with_suffix('.md').name}" if headline else None


def problem_step() -> None:
    """Step 1: far facts are learned badly — the paper's Table 1, the demo's plain training, this text."""
    st.header("1 · The problem: far facts are learned badly")
    st.markdown(
        "A biography names a person and then states facts about them: birth date, city, university, major, "
        "company. A language model that keeps training on such texts (*continual pretraining*) must learn the "
        "link *name → fact*. Afterwards it is tested with *few-shot QA*: a few solved questions, then a new one "
        "(“Where did Ana Herrera work?”), scored by *exact match* (EM, the share of answers exactly right). The "
        "facts written far from the name are answered worst.")
    table1, _ = paper_frames(paper_reference())
    st.markdown("**In the paper** (Table 1: plain training on the paper's 100 released biographies, QA exact "
                "match; facts in the order they appear, the company farthest from the name):")
    st.dataframe(table1, hide_index=True, key="paper-table-1", width="stretch",
                 column_config={f: st.column_config.NumberColumn(format="%.2f") for f in table1.columns[1:]})
    if told:
        st.markdown(f"**In this demo** (the experiment's {told['people']} generated people, plain training, "
                    f"mean of {told['seeds']} seeds): QA exact match {told['plain_near']:.2f} on the near facts "
                    f"(date, city), {told['plain_far']:.2f} on the far ones ({', '.join(FAR_FIELDS)}) — "
                    + ("far facts are answered worse here too." if told["plain_far"] < told["plain_near"]
                       else "here the far facts are answered no worse."))
    name_span = item.span("name")
    if name_span is None:
        st.caption("Tag the name and the facts (<name>…</name>, <company>…</company>) to see their distances.")
        return
    distances = {s.field: sum(1 for c in result.clues if name_span.end <= c.start < s.start and c.text.strip())
                 for s in item.spans if s.field != "name"}
    if distances:
        cols = st.columns(len(distances))
        for col, (field, distance) in zip(cols, distances.items()):
            col.metric(field, f"{distance} tokens", help="tokens between the end of the name and the fact")
        st.caption("This text (the sidebar's): tokens between the name and each fact. A *token* is the piece of "
                   "text a model reads at a time, a word or part of one.")


def attention_step() -> None:
    """Step 2: what each model looks at, with the terms of an attention map explained."""
    st.header("2 · What the two models look at")
    st.markdown(
        "At every token a model decides how much to look back at each earlier token: its **attention**. The "
        "token looking is the *query* (q), the token looked at the *key* (k). A *softmax* turns each query's "
        "scores into weights that are positive and sum to 1, and the weights of all queries form the *causal "
        "attention map*: one row per query, one column per key, empty above the diagonal because a token only "
        "looks back. Models compute it in many *heads* and *layers*; here they are averaged.\n\n"
        "Read the text with a **large** and a **small** model of one family and ask, for each token: how much "
        "attention does it *receive* from the later tokens? That is its *importance*, read down its column "
        "(a row always sums to 1, so rows cannot tell tokens apart). "
        + importance_picker.describe(importance, far_distance))
    large, small, contrast = received(result)
    top = [c.index for c in result.top(10)]
    show.figure(figures.received_bars(current.tokens, large, small, contrast=contrast, top=top), "how-received")
    st.caption("The first token is left out of every ranking: it is the *attention sink*, where models park "
               "attention they do not need.")


def contrast_step() -> None:
    """Step 3: the contrast and the elusive clues in the text."""
    st.header("3 · The contrast: elusive clues")
    st.markdown(
        "Subtract: **large − small**. Tokens the large model relies on and the small one overlooks get a high "
        "contrast: these are the *elusive clues*. They are ranked r = 0, 1, 2, … from the strongest; "
        "punctuation, special tokens and the attention sink are never clues. Boxed below: the top 10, with "
        "their rank.")
    show.html(markup.contrast_text_html(item.text, result.clues, 10, cut_tokens=max(
        result.large_maps.truncated_tokens, result.small_maps.truncated_tokens)))
    with st.expander("The whole contrast map"):
        ranked_columns = [c.index for c in result.clues if c.rank is not None]  # the sink saturates
        show.figure(figures.contrast_heatmap(current.difference, current.tokens, clip=99.5, columns=ranked_columns,
                                             causal_blank=True, marked=[c.index for c in result.top(10)]),
                    "how-contrast")


def definitions_step() -> None:
    """Step 4: the same text ranked under every importance definition, by position, and by the
    reference code's row sum; then the measured reasoning for the default."""
    st.header("4 · Which attention counts? Definitions, a mistake and a control")
    st.markdown(
        "How the attention a token receives is summed up decides what the ranking finds: **total** adds its "
        "column, **paper_mean** (the paper's wording) averages it, **far_mean** averages only queries at least "
        "*d* tokens later. Below, the top-5 clues of this text under each, next to two controls: **position** "
        "(the first tokens, no attention at all) and the authors' released code, which sums each *row* of the "
        "map.")
    results = {name: show.attempt("Reading the attention", cache.view, ctx.pair_key, ctx.tagged, ViewSpec("mean"),
                                  ctx.max_tokens, ctx.large, ctx.small, item, name, far_distance).result
               for name in IMPORTANCE}
    compared = compare_definitions(results, has_name=item.span("name") is not None)
    table, mistake, total_max = compared.table, compared.row_sum_max, compared.total_max
    # "what it is" goes into the ranking column's help: four columns fit the page at 1280 px
    st.dataframe(table.drop(columns=["what it is"]), hide_index=True, key="definitions-table", width="stretch",
                 column_config={"ranking": st.column_config.TextColumn(help="; ".join(
                                    f"{r}: {w}" for r, w in zip(table["ranking"], table["what it is"]))),
                                "mean position": st.column_config.NumberColumn(
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
        st.markdown("**Why `total` is the default.** Measured on the bundled pair when it was built, by "
                    "`clues clue-quality`, on the two corpora named in the columns (not this text, and not a pair "
                    "chosen in the sidebar): the share of texts with a name token among the contrast top-5, in "
                    "brackets the same with a neutral sentence put before each text so the name no longer opens "
                    "it (*moved*), and the mean relative position of the top-5 (0 = start, 1 = end):")
        st.markdown(summary_markdown(measured["clue_quality"]))
        st.markdown(
            "A ranking that finds the name only because it stands first falls apart on the moved texts — the "
            "position control shows what place alone achieves. The paper's column mean favours the end of the "
            "text, where the last tokens average only one or two queries. The paper's definition stays one "
            "choice away: *paper_mean* in the selector above, or `--importance paper_mean` on the command line.")


def dropout_step() -> None:
    """Step 5: p(r) and one augmented copy of this text."""
    st.header("5 · Dropout guided by the clues")
    settings = replace(augment.DEFAULT_AUGMENT, copies=1)
    alpha, beta = settings.alpha, settings.beta
    st.markdown(
        f"Train on copies of each text in which the token of rank r (r = 0 is the strongest clue) is dropped "
        f"with probability p(r) = α(1 − e^(−βr)), here α = {alpha}, β = {beta}: p(0) = 0, so the strongest clue "
        "always stays, and p rises towards α down the ranking. The rest thins out, so the model must use the "
        "clues to predict what follows. Punctuation is never dropped; the original text is kept as well. "
        f"A dropped token becomes “{settings.placeholder}” (drop style *{settings.style}*).")
    probabilities = augment.mode_probabilities(ranked, "contrast", settings)
    left, right = st.columns([1, 1.3])
    with left:
        show.figure(figures.dropout_curve(augment.dropout_probability, alpha, beta, int((ranked.ranks >= 0).sum()),
                                          mode="contrast", probabilities=probabilities, ranks=ranked.ranks,
                                          tokens=[item.text[s:e] for s, e in zip(ranked.starts, ranked.ends)]),
                    "how-curve")
    with right:
        _, drops = augment.augment_ranked([ranked], [probabilities], settings, return_drops=True)
        drops = drops[0][0]  # the first text's first copy: [U] dropped or not
        st.markdown("One augmented copy of this text (struck = dropped):")
        show.html(markup.struck_copy(item.text, ranked.starts, ranked.ends, drops))
        st.caption(f"{int(drops.sum())} of {int((ranked.ranks >= 0).sum())} droppable tokens dropped in this copy. "
                   "Try other α, β and drop styles in the Augmentation lab.")


def result_step() -> None:
    """Step 6: what the paper reports, and what this demo measured (the reported experiment), drawn live."""
    st.header("6 · The result")
    _, table2 = paper_frames(paper_reference())
    st.markdown("**In the paper** (Table 2: the far facts of the paper's released biographies, QA exact match, "
                "plain training → contrast-guided dropout): large gains.")
    st.dataframe(table2, hide_index=True, key="paper-table-2", width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.2f") for c in table2.columns[1:]})
    if not told:
        st.markdown("This demo's own experiment has not been run yet: `python -m clues experiment` writes "
                    "docs/results.md and docs/results.json; or run a comparison on the **Training** page.")
        return
    best, best_value = told["best_other"]
    verdict = ("did not help: another condition answers the far facts better"
               if told["contrast_far"] < best_value else "helped: it answers the far facts best")
    st.markdown(
        f"**In this demo** — a tiny model trained on {told['people']} generated people it never saw, "
        f"{len(told['conditions'])} ways of training (*conditions*), each repeated with {told['seeds']} *seeds*, "
        + (f"up to {told['epochs']} *epochs* (passes over the data), each condition stopping at the epoch and "
           "with the dropout settings and learning rate that answered best on other people (*validation*), "
           if told["selected"] else f"{told['epochs']} *epochs* (passes over the data), ")
        + f"{told['copies']} augmented copies per text: "
        f"contrast-guided dropout **{verdict}**. Far-fact QA exact match at the end: contrast "
        f"{told['contrast_far']:.2f}, best other condition *{best}* {best_value:.2f}."
        + (" On these tiny models every augmented corpus answered the far facts worse than plain training."
           if told["augmented_below_plain"] else ""))
    show.figure(figures.experiment_curves(published["curves"]["em"], fields=FAR_FIELDS, metric="QA exact match",
                                          title="Far facts, QA exact match per epoch (mean over seeds; "
                                                f"{told['people']} generated people)"),
                "how-result-curves")
    st.markdown(
        "*none* trains on the original text repeated as often as the augmented conditions see copies; *plain* on "
        "the originals once (the paper's baseline); *random* drops tokens at random; *position* by place; "
        "*attention* by the small model's own attention; *oracle* always keeps the tagged name; *replace* swaps "
        "input tokens for random ones (a published baseline, D-AR).")
    show.figure(figures.paired_intervals(told["paired"], metric="em", label="QA exact match"), "how-result-paired")
    st.caption("Each line: contrast minus another condition, trained with the same seed (*paired by seed*), "
               "mean over the seeds with its *95% interval*. Left of the dashed line, contrast did worse; an "
               "interval that misses 0 is a consistent difference.")
    for row in told["paired"]:
        st.markdown(f"- contrast − {row['b']}: {row['text']}")
    st.caption(f"In the same experiment a name token was among the contrast top-{told['top_k']} in "
               f"{told['name_in_top_k']:.0%} of its {told['attention_texts']} biographies (step 4's table is "
               "measured on other corpora). How the experiment ran, every table and the command to reproduce "
               f"it: {told_report} in the repository.")
    if not on_bundled_pair(published):
        st.warning(f"{told_report} was measured on an earlier bundled pair (large weights' sha256 "
                   f"{published['fingerprints'].get('large', '?')}), not on the pair bundled now: "
                   "`bash scripts/bundle_pair.sh assets/demo-models experiments` reruns it.")


problem_step()
attention_step()
contrast_step()
definitions_step()
dropout_step()
result_step()
st.page_link("pages/training.py", label="Run your own comparison on the Training page", icon=":material/show_chart:")
