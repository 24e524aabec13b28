"""One function ranks a text for every caller (issue 16, item 2): the Augmentation lab's preview
(`clues.ui.cache.ranked`, on the explorer's cached captures) and its "Build the augmented corpus"
(`rank_corpus` then `augment_corpus_csv`) give the same units, ranks and drops for a pair whose
tokenizers differ. Plus the oracle ranking, and the augmentation settings through the CLI.

Why the preview test fails on the code before `rank_text`: the lab's preview ranked "attention" and
"position" through the explorer's ContrastView of the pair, whose units are words when the two
tokenizers differ, and read one model's column of it; the corpus ranked the trained model's own
tokens. Here the two tokenizers differ, so for attention and position the preview's units (words)
were not the corpus's (tokens): `test_the_labs_preview_drops_what_its_corpus_drops` checks below
that those units are the trained model's tokens and not words on these texts.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from clues.augment import (
    MODES,
    AugmentSettings,
    augment_corpus_csv,
    augment_ranked,
    augmented_csv,
    mode_probabilities,
    rank_corpus,
    rank_text,
    ranked_oracle,
)
from clues.capture import capture_attention
from clues.cli import main
from clues.contrast import word_units
from clues.corpus import generate_biographies, write_tagged_csv
from clues.errors import InputError
from clues.models import load_model
from clues.text import parse_tagged, to_tagged

from tiny import SENTENCES, build_tokenizer, tiny_model_dir

pytest.importorskip("streamlit")
import clues.ui.cache as cache  # noqa: E402 — the app's cached wrappers; they run without a streamlit server

MAX_TOKENS = 512  # the sidebar's token limit (clues.ui.sidebar.MAX_TOKENS); the texts are far shorter
SETTINGS = AugmentSettings(alpha=0.7, beta=0.05, copies=3, style="mask", seed=5)
LAB_CASES = [("contrast", "small"), ("attention", "small"), ("attention", "large"), ("position", "small"),
             ("position", "large"), ("random", "small"), ("random", "large"), ("none", "small"),
             ("oracle", "small"), ("oracle", "large")]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A Llama and a GPT-2 with tokenizers of different vocabularies (the pair is compared per word)."""
    folder = tmp_path_factory.mktemp("two-tokenizers")
    large = tiny_model_dir(folder / "large", "llama", layers=3, hidden=32, heads=4, seed=1,
                           tokenizer=build_tokenizer(), initializer_range=0.3)
    small = tiny_model_dir(folder / "small", "gpt2", layers=2, hidden=32, heads=2, seed=2,
                           tokenizer=build_tokenizer(vocab_size=280, sentences=SENTENCES[:3]), initializer_range=0.3)
    return large, small


@pytest.fixture(scope="module")
def models(folders):
    return {name: load_model(folder, device="cpu", dtype="float32")
            for name, folder in zip(("large", "small"), folders)}


@pytest.fixture(scope="module")
def texts():
    return list(generate_biographies(4, seed=6))


def preview(item, mode, own, models, importance="total", distance=5):
    """What pages/augmentation.py shows for one text: its ranking, probabilities and drawn copies."""
    key = {"large": ("large-key",), "small": ("small-key",)}
    ranked = cache.ranked((key["large"], key["small"]), to_tagged(item), MODES[mode].ranking, own, MAX_TOKENS,
                          models["large"], models["small"], item, importance, distance)
    probabilities = mode_probabilities(ranked, mode, SETTINGS)
    versions, drops = augment_ranked([ranked], [probabilities], SETTINGS, return_drops=True)
    return ranked, versions[0], drops[0]


def tokens_of(model, text, special: bool = False) -> list[tuple[int, int]]:
    """The model's tokens as character spans, whitespace stripped (as RankedText keeps them); special:
    with the tokenizer's special tokens, as a capture reads the text."""
    encoded = model.tokenizer(text, return_offsets_mapping=True, add_special_tokens=special)
    spans = []
    for start, end in encoded["offset_mapping"]:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        spans.append((start, end))
    return spans


def test_the_pair_tokenizes_the_texts_differently(models, texts):
    for item in texts:
        assert tokens_of(models["large"], item.text) != tokens_of(models["small"], item.text)


@pytest.mark.parametrize("mode, own", LAB_CASES)
def test_the_labs_preview_drops_what_its_corpus_drops(models, texts, mode, own):
    cache.ranked.clear()
    corpus = rank_corpus(texts, f"{mode}:total", large=models["large"], small=models["small"], own=own, distance=5)
    previews = [preview(item, mode, own, models) for item in texts]
    words_somewhere = False
    for item, ranked, (shown, versions, drops) in zip(texts, corpus, previews):
        assert shown.text == ranked.text == item.text and shown.fields == ranked.fields
        for name in ("starts", "ends", "ranks"):
            assert np.array_equal(getattr(shown, name), getattr(ranked, name)), (item.text[:30], name)
        units = list(zip(ranked.starts.tolist(), ranked.ends.tolist()))
        if mode == "contrast":  # the pair's tokenizers differ: compared per word
            assert units == word_units(item.text)
        else:  # the trained model's tokens (the old preview ranked attention and position over words)
            assert units == tokens_of(models[own], item.text, special=MODES[mode].ranking in ("own", "position"))
            words_somewhere |= units != word_units(item.text)
        # the corpus of this text alone: the preview's versions and drops, row for row
        [versions_again], [drops_again] = augment_ranked([ranked], [mode_probabilities(ranked, mode, SETTINGS)],
                                                         SETTINGS, return_drops=True)
        assert versions_again == versions and np.array_equal(drops_again, drops)
        written = io.BytesIO()
        assert augment_corpus_csv(written, [ranked], mode, SETTINGS) == SETTINGS.copies + 1
        assert written.getvalue() == augmented_csv([shown], [mode_probabilities(shown, mode, SETTINGS)], SETTINGS)
    assert mode == "contrast" or words_somewhere  # so the old preview, over words, would differ
    # the whole corpus as the lab writes it is the corpus of the previews' rankings
    built = io.BytesIO()
    augment_corpus_csv(built, corpus, mode, SETTINGS)
    shown = [p[0] for p in previews]
    assert built.getvalue() == augmented_csv(shown, [mode_probabilities(r, mode, SETTINGS) for r in shown], SETTINGS)


def test_rank_text_is_what_rank_corpus_gives_one_text(models, texts):
    """rank_text on maps captured one text at a time (as the preview captures) equals the batched corpus."""
    item = texts[0]
    maps = {name: capture_attention(model, item.text, per_layer=True, rollout=True) for name, model in models.items()}
    for mode, own in LAB_CASES:
        alone = rank_text(item, MODES[mode].ranking, maps, own=own, tokenizer=models[own].tokenizer)
        [batched] = rank_corpus([item], mode, large=models["large"], small=models["small"], own=own)
        assert np.array_equal(alone.starts, batched.starts) and np.array_equal(alone.ranks, batched.ranks), mode


# ---- the oracle control ------------------------------------------------------------------

def test_oracle_ranks_the_name_first_and_the_rest_in_an_order_fixed_by_the_text(models, texts):
    tokenizer = models["small"].tokenizer
    orders = []
    for item in texts:
        ranked = ranked_oracle(item.text, tokenizer, item.spans)
        name = np.array([f == "name" for f in ranked.fields])
        droppable = ranked.ranks >= 0
        n = int((name & droppable).sum())
        assert n >= 2  # first and last name
        assert sorted(ranked.ranks[name & droppable].tolist()) == list(range(n))  # the name: ranks 0 … n − 1
        rest = ranked.ranks[~name & droppable]
        assert sorted(rest.tolist()) == list(range(n, int(droppable.sum())))  # the rest after it, each rank once
        again = ranked_oracle(item.text, tokenizer, item.spans)
        assert np.array_equal(again.ranks, ranked.ranks)  # the same text, the same order
        orders.append(rest - n)
    # other texts, other orders: not text order, and not the same permutation from one text to the next
    assert any(not np.array_equal(order, np.arange(order.size)) for order in orders)
    shortest = min(order.size for order in orders)
    assert len({tuple(np.argsort(order)[:shortest].tolist()) for order in orders}) == len(orders)


def test_oracle_order_depends_on_the_text_not_on_the_call(models):
    tokenizer = models["small"].tokenizer
    a = parse_tagged("<name>Liam Thompson</name> was born in Melbourne and worked at the British Museum.")
    b = parse_tagged("<name>Liam Thompson</name> was born in Madrid and worked at the British Museum.")
    first, second = ranked_oracle(a.text, tokenizer, a.spans), ranked_oracle(b.text, tokenizer, b.spans)
    np.random.seed(123)  # no global random state involved
    assert np.array_equal(ranked_oracle(a.text, tokenizer, a.spans).ranks, first.ranks)
    assert not np.array_equal(first.ranks, second.ranks)


def test_oracle_needs_the_name_tagged(models):
    untagged = parse_tagged("Liam Thompson was born in <city>Melbourne, Australia</city>.")
    with pytest.raises(InputError, match="name tagged"):
        ranked_oracle(untagged.text, models["small"].tokenizer, untagged.spans)
    with pytest.raises(InputError, match="name tagged"):
        rank_corpus([untagged], "oracle", small=models["small"])
    with pytest.raises(InputError, match="name tagged"):
        ranked_oracle("Liam Thompson was born.")  # no tags at all


# ---- augmentation settings through the CLI ---------------------------------------------------

@pytest.mark.parametrize("command", ["augment", "experiment"])
@pytest.mark.parametrize("flag, value, message", [("--copies", "0", "copies = 0"), ("--alpha", "1.5", "α = 1.5"),
                                                  ("--beta", "-1", "β = -1"), ("--style", "blank", "drop style")])
def test_cli_refuses_bad_augmentation_settings_in_one_line(folders, tmp_path, capsys, command, flag, value, message):
    """`clues augment` and `clues experiment` check the same AugmentSettings, before any model loads."""
    large, small = folders
    source = tmp_path / "bios.csv"
    write_tagged_csv(source, generate_biographies(2, seed=0))
    if command == "augment":
        args = ["augment", "--large", str(large), "--small", str(small), "--input", str(source),
                "--out", str(tmp_path / "out" / "aug.csv")]
    else:
        args = ["experiment", "--large", str(large), "--small", str(small), "--people", "2", "--epochs", "1",
                "--out", str(tmp_path / "out"), "--store", str(tmp_path / "runs.sqlite"), "--report", ""]
    assert main([*args, flag, value]) != 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.err.strip().splitlines() == [captured.err.strip()], captured.err
    assert captured.err.startswith(f"clues {command}: error: ") and message in captured.err
    assert not (tmp_path / "out").exists()
