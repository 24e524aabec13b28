"""Fields of the top-k tokens attended from the word before a fact, counted rank by rank."""

import numpy as np

from clues import FIELDS
from clues.capture import capture_attention
from clues.contrast import contrast_maps, query_rows, unit_before_field
from clues.corpus import generate_biographies
from clues.fields_by_rank import OTHER, corpus_field_ranks, count_field_ranks, field_ranks, text_field_ranks
from clues.models import load_model
from clues.text import TaggedText, parse_tagged

from tiny import tiny_model_dir

TAGGED = ("<name>Liam Thompson</name> was born on <date>January 5, 1990</date>. He spent his early years in "
          "<city>Melbourne, Australia</city>. He had a professional role at <company>the British Museum</company>.")


def test_count_field_ranks_counts_texts_per_rank_and_field():
    fields = list(FIELDS) + [OTHER]
    per_text = [{"large": ["name", "date"], "small": ["other", "name"], "difference": ["name"]}, None,
                {"large": ["name", "nonsense"], "small": [], "difference": ["city", "name"]}]
    counts = count_field_ranks(per_text, 2, fields)
    assert set(counts) == {"large", "small", "difference"}
    assert counts["large"].shape == (2, len(fields))
    assert counts["large"][0, fields.index("name")] == 2
    assert counts["large"][1, fields.index("date")] == 1 and counts["large"][1, fields.index(OTHER)] == 1
    assert counts["difference"][1].sum() == 1


def test_field_ranks_follow_the_attention_from_the_word_before_the_fact(tmp_path):
    large = load_model(tiny_model_dir(tmp_path / "l", "llama", layers=3, seed=1))
    small = load_model(tiny_model_dir(tmp_path / "s", "llama", layers=2, seed=2))
    item = parse_tagged(TAGGED)
    large_maps, small_maps = capture_attention(large, item.text), capture_attention(small, item.text)
    ranks = text_field_ranks(large_maps, small_maps, item, "company", 5)
    result = contrast_maps(large_maps, small_maps, spans=item.spans)
    query = unit_before_field(result, item, "company")
    assert ranks == field_ranks(result, query, 5)
    rows = query_rows(result, query)
    eligible = [c for c in result.clues if c.rank is not None and c.index < query]
    strongest = max(eligible, key=lambda c: rows["large"][c.index])
    assert ranks["large"][0] == (strongest.field or OTHER)
    assert all(len(names) == 5 for names in ranks.values())
    untagged = parse_tagged(TAGGED.replace("<company>", "").replace("</company>", ""))
    assert untagged.text == item.text
    assert text_field_ranks(large_maps, small_maps, untagged, "company", 5) is None  # no company tagged
    assert np.isin(ranks["difference"], list(FIELDS) + [OTHER]).all()


def test_corpus_field_ranks_batched_equals_one_text_at_a_time(tmp_path):
    """The Corpus page's counts (one batched call) are the per-text counts it used to add up itself;
    texts without the fact are left out, and the shares are read from the counts."""
    large = load_model(tiny_model_dir(tmp_path / "l", "llama", layers=3, seed=1))
    small = load_model(tiny_model_dir(tmp_path / "s", "llama", layers=2, seed=2))
    items = generate_biographies(7, seed=3) + [TaggedText("No facts here at all.", ())]
    counted = corpus_field_ranks(large, small, items, "company", 4, batching={"batch_size": 3})
    fields = list(FIELDS) + [OTHER]
    one_by_one = count_field_ranks([text_field_ranks(capture_attention(large, i.text), capture_attention(small, i.text),
                                                     i, "company", 4) for i in items[:7]], 4, fields)
    assert counted.texts == 7 and counted.fields == fields
    for view, table in one_by_one.items():
        np.testing.assert_array_equal(counted.counts[view], table)
    name = fields.index("name")
    assert counted.share("large") == one_by_one["large"][:, name].sum() / one_by_one["large"].sum()
    assert counted.first_share("small") == one_by_one["small"][0, name] / one_by_one["small"][0].sum()
    frame = counted.frame()
    assert len(frame) == 3 * 4 and frame[frame["view"] == "large"]["name"].sum() == one_by_one["large"][:, name].sum()
