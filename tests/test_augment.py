"""Dropout probability, the three drop styles, reproducibility, the settings object, and properties
under hypothesis."""

import hashlib
import io
import json
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clues.augment as augment_module
import clues.settings
from clues.augment import (
    MODES,
    AugmentSettings,
    RankedText,
    augment_corpus,
    augment_corpus_csv,
    augment_ranked,
    augmented_csv,
    check_mode,
    corpus_probabilities,
    dropout_probability,
    flat_probability,
    rank_corpus,
    ranked_from_tokens,
    summary,
    write_augmented_csv,
)
from clues.corpus import generate_biographies
from clues.errors import InputError

S = AugmentSettings  # S(copies=3, seed=7): the defaults, but for what a test names

TEXT = "Liam Thompson was born on January 5, 1990. He spent his early years in Melbourne, Australia."


def test_dropout_probability_formula():
    ranks = np.array([-1, 0, 1, 20, 1000])
    expected = [0.0, 0.0, 0.7 * (1 - np.exp(-0.05)), 0.7 * (1 - np.exp(-1.0)), 0.7 * (1 - np.exp(-50))]
    assert np.allclose(dropout_probability(ranks, 0.7, 0.05), expected)


def test_random_mode_drops_at_rate_alpha():
    ranked = [ranked_from_tokens(TEXT)] * 200
    probabilities = [flat_probability(r.ranks, 0.6, 0.0) for r in ranked]
    out = augment_ranked(ranked, probabilities, S(copies=10, seed=0, style="mask", placeholder="\u2588"))
    droppable = int((ranked[0].ranks >= 0).sum())
    dropped = [copy.count("\u2588") for versions in out for copy in versions[1:]]
    assert abs(np.mean(dropped) / droppable - 0.6) < 0.02


@pytest.mark.parametrize("style", ["space", "remove", "mask"])
def test_styles(style):
    ranked = ranked_from_tokens(TEXT)
    everything = np.where(ranked.ranks >= 0, 1.0, 0.0)
    [[original, copy]] = augment_ranked([ranked], [everything], S(copies=1, seed=0, style=style))
    assert original == TEXT
    kept = [ch for ch in copy if ch not in " _"]
    assert kept == [ch for ch in TEXT if ch in ".,"]  # only punctuation survives
    if style == "space":
        assert len(copy) == len(TEXT)
    if style == "mask":
        assert copy.count("_") == int((ranked.ranks >= 0).sum())


def test_augment_returns_what_it_dropped():
    text = "one two three four five six"
    starts = np.array([0, 4, 8, 14, 19, 24])
    ends = np.array([3, 7, 13, 18, 23, 27])
    ranked = RankedText(text, starts, ends, np.arange(6))
    probabilities = np.full(6, 0.5)
    versions, [masks] = augment_ranked([ranked], [probabilities], S(copies=5, seed=3, style="space"),
                                       return_drops=True)
    assert versions == augment_ranked([ranked], [probabilities], S(copies=5, seed=3, style="space"))
    copies = versions[0][1:]
    masked = augment_ranked([ranked], [probabilities], S(copies=5, seed=3, style="mask"))[0][1:]
    assert masks.shape == (5, 6) and masks.dtype == bool
    assert masks.any() and not masks.all()
    for copy, mask in zip(copies, masks):
        chars = list(text)
        for s, e, m in zip(starts, ends, mask):
            if m:
                chars[s:e] = " " * (e - s)
        assert copy == "".join(chars)
    for version, mask in zip(masked, masks):  # the same units go in every style
        assert version.split() == [("_" if m else text[s:e]) for s, e, m in zip(starts, ends, mask)]


def test_drops_are_split_per_text():
    ranked = [ranked_from_tokens(TEXT), ranked_from_tokens("Ana was born."), ranked_from_tokens(TEXT[:20])]
    probabilities = [flat_probability(r.ranks, 0.5, 0.0) for r in ranked]
    versions, drops = augment_ranked(ranked, probabilities, S(copies=4, seed=1, style="mask", placeholder="\u2588"),
                                     return_drops=True)
    assert [d.shape for d in drops] == [(4, len(r.ranks)) for r in ranked]
    for r, text_versions, text_drops in zip(ranked, versions, drops):
        assert not text_drops[:, r.ranks < 0].any()  # never-dropped units stay
        assert [v.count("\u2588") for v in text_versions[1:]] == text_drops.sum(axis=1).tolist()
    assert augment_ranked([], [], return_drops=True) == ([], [])


def test_same_seed_same_corpus_other_seed_other_corpus():
    texts = generate_biographies(30, seed=0)
    ranked = rank_corpus(texts, "random")  # no model: words
    first = augment_corpus(ranked, "random", S(alpha=0.5, copies=3, seed=7))
    again = augment_corpus(ranked, "random", S(alpha=0.5, copies=3, seed=7))
    other = augment_corpus(ranked, "random", S(alpha=0.5, copies=3, seed=8))
    assert first.equals(again) and not first.equals(other)
    assert len(first) == 30 * 4 and set(first["copy"]) == {0, 1, 2, 3}
    originals = first[first["copy"] == 0]["text"].tolist()
    assert originals == [t.text for t in texts]


def test_none_mode_copies_the_originals_for_equal_steps():
    texts = generate_biographies(5, seed=0)
    frame = augment_corpus(rank_corpus(texts, "none"), "none", S(copies=2))
    assert len(frame) == 15 and frame.groupby("source")["text"].nunique().eq(1).all()


def test_summary_counts_field_survival():
    texts = generate_biographies(10, seed=0)
    ranked = [ranked_from_tokens(t.text, spans=t.spans) for t in texts]
    stats = summary(ranked, [flat_probability(r.ranks, 0.7, 0) for r in ranked])
    assert stats["expected_drop_rate"] == pytest.approx(0.7)
    assert set(stats["field_survival"]) == {"name", "date", "city", "university", "major", "company"}
    assert stats["field_survival"]["name"] == pytest.approx(0.3)


@pytest.mark.parametrize("alpha,beta,copies,style,message", [
    (1.5, 0.05, 10, "space", "α = 1.5 is outside"), (-0.1, 0.0, 1, "space", "α = -0.1"),
    (0.7, -1.0, 10, "space", "β = -1.0"), (0.7, float("inf"), 10, "space", "β = inf"),
    (0.7, 0.05, 0, "space", "copies = 0"), (0.7, 0.05, -1, "space", "copies = -1"),
    (0.7, 0.05, 1001, "space", "copies = 1001"), (0.7, 0.05, 10**6, "space", "copies = 1000000"),
    (0.7, 0.05, 10, "blank", "Unknown drop style 'blank'"),
])
def test_bad_settings_are_one_line_errors(alpha, beta, copies, style, message):
    settings_ = AugmentSettings(alpha=alpha, beta=beta, copies=copies, style=style)
    with pytest.raises(InputError, match=message) as caught:
        settings_.check()
    assert "\n" not in str(caught.value)


def test_settings_check_returns_them_and_takes_the_extremes():
    for good in (S(), S(alpha=0.0, beta=0.0, copies=1), S(alpha=1.0, copies=1000, style="remove"),
                 S(style="space", placeholder="")):
        assert good.check() is good
    with pytest.raises(InputError, match="placeholder"):
        S(style="mask", placeholder="").check()
    assert S() == augment_module.DEFAULT_AUGMENT and S().style == "mask"


def test_the_mode_names_are_the_modes():
    """clues.settings lists the mode names without importing numpy (the CLI's --help): they are the modes."""
    assert clues.settings.MODE_NAMES == tuple(MODES)
    assert check_mode("oracle") == "oracle"
    with pytest.raises(InputError, match="Unknown mode 'clever'"):
        check_mode("clever")


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80),
       alpha=st.floats(0, 1), beta=st.floats(0, 1), seed=st.integers(0, 2**32 - 1),
       style=st.sampled_from(["space", "remove", "mask"]))
def test_punctuation_survives_and_seed_reproduces(text, alpha, beta, seed, style):
    ranked = ranked_from_tokens(text)
    probability = dropout_probability(ranked.ranks, alpha, beta)
    options = S(copies=3, seed=seed, style=style, placeholder="\x00")
    out = augment_ranked([ranked], [probability], options)
    assert out == augment_ranked([ranked], [probability], options)
    punctuation = [text[s:e] for s, e, r in zip(ranked.starts, ranked.ends, ranked.ranks) if r < 0 and e > s]
    for copy in out[0][1:]:
        rest = copy
        for mark in punctuation:  # every never-droppable unit is still there, in order
            at = rest.find(mark)
            assert at >= 0
            rest = rest[at + len(mark):]


# ---- the vectorised renderer against saved output and a per-character reference ----------

def _golden_corpus():
    """Biographies plus edge cases: empty and blank texts, tabs and newlines, non-Latin-1 text."""
    texts = [t.text for t in generate_biographies(120, seed=5)]
    texts += ["", " ", "Zoë Ångström, café owner.", "  leading and trailing  ", "東京 was\tborn\non 5 May.", "a"]
    ranked = [ranked_from_tokens(t) for t in texts]
    shuffle = np.random.default_rng(1)
    for item in ranked:  # a ranking that is not text order
        droppable = item.ranks >= 0
        item.ranks[droppable] = shuffle.permutation(int(droppable.sum()))
    return ranked


def _reference_copy(item: RankedText, dropped: np.ndarray, style: str, placeholder: str) -> str:
    """One copy rendered character by character, the slow and obvious way."""
    text, chars = item.text, list(item.text)
    previous_end = 0
    for start, end, drop in zip(item.starts.tolist(), item.ends.tolist(), dropped.tolist()):
        cut_from = start
        if style == "remove" and start > 0 and text[start - 1] in " \t\n":
            cut_from = max(start - 1, previous_end)
        previous_end = end
        if not drop:
            continue
        if style == "space":
            chars[start:end] = [" "] * (end - start)
        else:
            chars[cut_from:end] = [""] * (end - cut_from)
            if style == "mask":
                chars[start] = placeholder
    return "".join(chars)


# sha256 of the output of the implementation before the per-copy rewrite (the same for every version since)
GOLDEN = {("space", 0, True): "86b2415e9f289d5e", ("space", 0, None): "a82a639cd2b66e77",
          ("space", 7, True): "fd2eb362eca2e045", ("space", 7, None): "894dd8f08b29d7e8",
          ("remove", 0, True): "e3df50f84b95accd", ("remove", 0, None): "0d0e7713ec6112df",
          ("remove", 7, True): "1aeeecccea9c1e5c", ("remove", 7, None): "c56e492f1076d7b6",
          ("mask", 0, True): "cb250e96e21442e2", ("mask", 0, None): "a6d40b4435980749",
          ("mask", 7, True): "880ac1b512ddb1b3", ("mask", 7, None): "0bf3ce7f959fb3e6"}


@pytest.mark.parametrize("style,seed,latin", sorted(GOLDEN, key=str))
def test_augmented_corpus_is_byte_identical_to_saved_output(style, seed, latin):
    """latin=True: Latin-1 texts only (the one-byte path); None: all texts (the four-byte path)."""
    items = [r for r in _golden_corpus() if latin is None or (max(map(ord, r.text), default=0) < 256) == latin]
    probabilities = [dropout_probability(r.ranks, 0.7, 0.05) for r in items]
    versions, drops = augment_ranked(items, probabilities, S(copies=4, seed=seed, style=style, placeholder="[M]"),
                                     return_drops=True)
    for item, text_versions, text_drops in zip(items, versions, drops):
        assert text_versions[0] == item.text
        assert text_versions[1:] == [_reference_copy(item, d, style, "[M]") for d in text_drops]
    digest = hashlib.sha256(json.dumps(versions, ensure_ascii=True).encode())
    for d in drops:
        digest.update(np.packbits(d).tobytes() + bytes(str(d.shape), "ascii"))
    assert digest.hexdigest()[:16] == GOLDEN[(style, seed, latin)]


def test_zero_copies_gives_the_originals():
    """Users' settings ask for 1 copy or more (`AugmentSettings.check`); the core also writes the
    originals alone (the plain condition)."""
    ranked = [ranked_from_tokens(TEXT), ranked_from_tokens("")]
    probabilities = [flat_probability(r.ranks, 0.5, 0.0) for r in ranked]
    assert augment_ranked(ranked, probabilities, S(copies=0)) == [[TEXT], [""]]
    with pytest.raises(InputError, match="copies = 0"):
        S(copies=0).check()


@pytest.mark.parametrize("style", ["space", "mask"])
def test_units_out_of_text_order_render_like_the_reference(style):
    """Units given in another order than the text's take the general path for the owners of characters.
    (Not the remove style: it widens each unit up to the end of the one before it in the array, and so
    assumes text order, as every ranking in clues gives it.)"""
    forward = ranked_from_tokens(TEXT)
    order = np.arange(len(forward.starts))[::-1]
    item = RankedText(TEXT, forward.starts[order], forward.ends[order], forward.ranks[order])
    probability = flat_probability(item.ranks, 0.5, 0.0)
    [versions], [drops] = augment_ranked([item], [probability], S(copies=6, seed=2, style=style, placeholder="[M]"),
                                         return_drops=True)
    assert versions[1:] == [_reference_copy(item, d, style, "[M]") for d in drops]


# ---- the CSV writer: the same bytes as the DataFrame's to_csv ------------------------------

AWKWARD_LATIN = ["Smith, John was born in Paris, France.", 'He said "hello", then left.', 'say"hi" and ""',
                 "two\nlines, here", "carriage\r\nreturn and \r alone", "Zoë Ångström, café owner.", "", " ",
                 ",,,", '"', "\n", "a", "  spaces  around  ", "tab\there; semi;colon", "naïve façade — ok"]
AWKWARD_WIDE = AWKWARD_LATIN + ["Zoë Ünal 北京", "emoji 🎉 party, \"yes\" 👍🏽", "東京 was\tborn\non 5 May."]


def _pandas_csv(tmp_path, ranked, mode, settings_) -> bytes:
    path = tmp_path / "pandas.csv"
    augment_corpus(ranked, mode, settings_).to_csv(path, index=False)
    return path.read_bytes()


def _ranked_texts(texts, seed=1):
    ranked = [ranked_from_tokens(t) for t in texts]
    shuffle = np.random.default_rng(seed)
    for item in ranked:  # a ranking that is not text order
        droppable = item.ranks >= 0
        item.ranks[droppable] = shuffle.permutation(int(droppable.sum()))
    return ranked


@pytest.mark.parametrize("style", ["space", "remove", "mask"])
@pytest.mark.parametrize("copies", [0, 1, 10, 12])
def test_csv_writer_is_byte_identical_to_pandas_on_a_generated_corpus(tmp_path, style, copies):
    ranked = _ranked_texts([t.text for t in generate_biographies(60, seed=3)])
    options = S(alpha=0.7, beta=0.05, copies=copies, seed=4, style=style, placeholder="[M]")
    expected = _pandas_csv(tmp_path, ranked, "position", options)
    path = tmp_path / "sub" / "writer.csv"
    assert augment_corpus_csv(path, ranked, "position", options) == 60 * (copies + 1)
    assert path.read_bytes() == expected
    probabilities = corpus_probabilities(ranked, "position", options)
    assert augmented_csv(ranked, probabilities, options) == expected


@pytest.mark.parametrize("texts", [AWKWARD_LATIN, AWKWARD_WIDE], ids=["latin-1", "wide"])
@pytest.mark.parametrize("style", ["space", "remove", "mask"])
@pytest.mark.parametrize("alpha,copies", [(0.5, 3), (1.0, 2), (0.9, 101)])
def test_csv_writer_is_byte_identical_to_pandas_on_awkward_texts(tmp_path, texts, style, alpha, copies):
    """Commas, quotes, newlines and carriage returns inside texts, non-Latin-1 characters, empty texts,
    texts that are empty once dropped (α = 1: every droppable unit goes), three widths of copy number."""
    ranked = _ranked_texts(texts)
    options = S(alpha=alpha, beta=0.05, copies=copies, seed=9, style=style, placeholder="_")
    expected = _pandas_csv(tmp_path, ranked, "random", options)
    probabilities = corpus_probabilities(ranked, "random", options)
    assert augmented_csv(ranked, probabilities, options) == expected


@pytest.mark.parametrize("style", ["space", "remove", "mask"])
def test_csv_quotes_a_text_only_while_it_needs_quoting(style):
    """A unit that holds a `"` and a comma, always dropped: its copies need no quotes, the original does."""
    text = 'ab"c,d e'
    item = RankedText(text, np.array([0, 7]), np.array([6, 8]), np.array([0, -1]))
    probability = np.array([1.0, 0.0])
    options = S(alpha=1.0, copies=2, style=style)
    frame = augment_corpus([item], "random", options)
    dropped = {"space": "       e", "remove": " e", "mask": "_ e"}[style]
    assert frame["text"].tolist() == [text, dropped, dropped]
    expected = frame.to_csv(index=False).encode()
    head = ["text,source,copy", '"ab""c,d e",0,0', f"{dropped},0,1", ""]
    assert expected.startswith(os.linesep.join(head).encode())
    assert augmented_csv([item], [probability], options) == expected


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.text(alphabet=st.sampled_from(list('ab ,"\n\r\té.;') + ["Ü", "北"]), max_size=20),
                      max_size=4),
       alpha=st.floats(0, 1), seed=st.integers(0, 2**32 - 1), copies=st.integers(0, 12),
       style=st.sampled_from(["space", "remove", "mask"]))
def test_csv_writer_matches_pandas_on_any_text(texts, alpha, seed, copies, style):
    ranked = [ranked_from_tokens(t) for t in texts]
    options = S(alpha=alpha, beta=0.0, copies=copies, seed=seed, style=style)
    probabilities = corpus_probabilities(ranked, "random", options)
    frame = augment_corpus(ranked, "random", options)
    expected = frame.to_csv(index=False).encode()  # pandas' line ending (os.linesep) either way
    assert augmented_csv(ranked, probabilities, options) == expected


def test_csv_writer_takes_paths_and_file_objects(tmp_path):
    ranked = _ranked_texts([TEXT, "Zoë, 北京"])
    options = S(copies=2, seed=1)
    probabilities = corpus_probabilities(ranked, "contrast", options)
    expected = augmented_csv(ranked, probabilities, options)
    binary, text = io.BytesIO(), io.StringIO()
    assert write_augmented_csv(binary, ranked, probabilities, options) == 6
    write_augmented_csv(text, ranked, probabilities, options)
    write_augmented_csv(str(tmp_path / "out.csv"), ranked, probabilities, options)
    assert binary.getvalue() == text.getvalue().encode() == (tmp_path / "out.csv").read_bytes() == expected
    assert augmented_csv([], [], S(copies=3)) == augment_corpus([], "random", S(copies=3)).to_csv(
        index=False).encode()


@pytest.mark.parametrize("mode", list(MODES))
def test_corpus_probabilities_equal_one_text_at_a_time(mode):
    ranked = _ranked_texts([t.text for t in generate_biographies(20, seed=2)] + ["", ","])
    whole = corpus_probabilities(ranked, mode, S(alpha=0.6, beta=0.03))
    assert len(whole) == len(ranked)
    for item, probability in zip(ranked, whole):
        assert np.array_equal(probability, MODES[mode].probability(item.ranks, 0.6, 0.03))
        assert np.array_equal(probability, augment_module.mode_probabilities(item, mode, S(alpha=0.6, beta=0.03)))
