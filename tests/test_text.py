import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from clues import FIELDS
from clues.errors import InputError
from clues.text import FieldSpan, TaggedText, parse_tagged, to_tagged, token_fields, with_value

from tiny import build_tokenizer

BIO = ("<name>Liam Thompson</name> was born on <date>January 5, 1990</date>. He spent his early "
       "years in <city>Melbourne, Australia</city>.")


def test_with_value_rewrites_one_value_and_moves_the_spans_after_it():
    t = parse_tagged(BIO + " <name>Liam</name> left.")
    shorter = with_value(t, "city", "Melbourne")
    assert shorter.value("city") == "Melbourne" and shorter.text.endswith("years in Melbourne. Liam left.")
    assert shorter.values("name") == ["Liam Thompson", "Liam"] and shorter.value("date") == "January 5, 1990"
    assert to_tagged(shorter) == to_tagged(t).replace("Melbourne, Australia", "Melbourne")
    longer = with_value(t, "date", "the fifth of January, 1990")
    assert longer.value("city") == "Melbourne, Australia" and longer.values("name")[1] == "Liam"
    with pytest.raises(InputError, match="no 'major' to rewrite"):
        with_value(t, "major", "Physics")


def test_parse_gives_clean_text_and_spans():
    t = parse_tagged(BIO)
    assert t.text == ("Liam Thompson was born on January 5, 1990. He spent his early years in "
                      "Melbourne, Australia.")
    assert t.spans[0] == FieldSpan("name", 0, 13)
    assert t.name == "Liam Thompson"
    assert t.value("date") == "January 5, 1990"
    assert t.value("city") == "Melbourne, Australia"
    assert t.value("major") is None and t.span("major") is None
    assert t.fields == ("name", "date", "city")
    for s in t.spans:
        assert t.text[s.start:s.end] == t.value(s.field)


def test_round_trip():
    assert to_tagged(parse_tagged(BIO)) == BIO


def test_plain_text_is_valid():
    t = parse_tagged("Just a sentence, 3 < 4 and 5 > 2.")
    assert t.spans == () and t.text == "Just a sentence, 3 < 4 and 5 > 2." and t.name is None


def test_repeated_field_keeps_all_spans():
    t = parse_tagged("<name>Ana</name> met <name>Bo</name>; <name>Ana</name> left.")
    assert t.values("name") == ["Ana", "Bo", "Ana"]
    assert t.span("name") == FieldSpan("name", 0, 3)
    assert t.value("name") == "Ana" and t.fields == ("name",)


def test_adjacent_tags():
    t = parse_tagged("<name>A</name><date>B</date>")
    assert t.text == "AB" and t.value("date") == "B"
    assert to_tagged(t) == "<name>A</name><date>B</date>"


@pytest.mark.parametrize("bad, words", [
    ("<name>Liam was born", ["<name>", "character 1", "never closed", "</name>"]),
    ("<name>Liam <date>1990</date></name>", ["nested", "<date>", "character 12", "<name>"]),
    ("Liam</name> was born", ["</name>", "character 5", "no matching"]),
    ("<name>Liam</date>", ["</date>", "character 11", "does not match", "</name>"]),
    ("<hobby>chess</hobby>", ["<hobby>", "character 1", "allowed tags", "<company>"]),
    ("x <Name>Liam</Name>", ["<Name>", "character 3", "lower-case"]),
    ("<name >Liam</name>", ["<name >", "malformed", "<name>"]),
    ("<name></name> x", ["empty", "<name>"]),
])
def test_bad_tags_raise_input_error_naming_tag_and_position(bad, words):
    with pytest.raises(InputError) as error:
        parse_tagged(bad)
    for word in words:
        assert word in str(error.value)


def test_non_string_is_input_error():
    with pytest.raises(InputError):
        parse_tagged(None)


def test_spans_are_sorted_and_to_tagged_rejects_overlap():
    t = TaggedText("ab cd", [FieldSpan("date", 3, 5), FieldSpan("name", 0, 2)])
    assert [s.field for s in t.spans] == ["name", "date"]
    assert to_tagged(t) == "<name>ab</name> <date>cd</date>"
    with pytest.raises(InputError):
        to_tagged(TaggedText("abcd", (FieldSpan("name", 0, 3), FieldSpan("date", 2, 4))))


def test_token_fields_with_plain_offsets():
    t = parse_tagged("<name>Liam Thompson</name> was born on <date>May 1</date>.")
    offsets = [(0, 0), (0, 4), (4, 13), (13, 17), (17, 22), (22, 25), (25, 29), (29, 31), (31, 32)]
    assert token_fields(offsets, t) == [None, "name", "name", None, None, None, "date", "date", None]
    assert token_fields(offsets, t.spans) == token_fields(offsets, t)


def test_token_fields_with_a_real_tokenizer():
    tokenizer = build_tokenizer()
    t = parse_tagged(BIO)
    encoded = tokenizer(t.text, return_offsets_mapping=True)
    offsets = encoded["offset_mapping"]
    fields = token_fields(offsets, t)
    assert offsets[0] == (0, 0) and fields[0] is None  # BOS
    for (start, end), field in zip(offsets[1:], fields[1:]):
        covered = {s.field for s in t.spans if start < s.end and end > s.start}
        assert covered == ({field} if field else set())
    # every character of every value is covered by a token tagged with its field
    for s in t.spans:
        tagged = [(a, b) for (a, b), f in zip(offsets, fields) if f == s.field]
        assert min(a for a, _ in tagged) <= s.start and max(b for _, b in tagged) >= s.end


def test_token_fields_accepts_a_tensor():
    t = parse_tagged("<name>Al</name> x")
    assert token_fields(torch.tensor([[0, 0], [0, 2], [2, 4]]), t) == [None, "name", None]


# ---------------------------------------------------------------- property tests

PIECES = st.one_of(
    st.text(alphabet="ab <>/ \n", max_size=6),
    st.sampled_from([f"<{f}>" for f in FIELDS] + [f"</{f}>" for f in FIELDS]
                    + ["<foo>", "</bar>", "<>", "< name>", "</ date >", "<NAME>", "<name/>"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=12))
def test_random_tag_soup_raises_only_input_error(pieces):
    text = "".join(pieces)
    try:
        t = parse_tagged(text)
    except InputError:
        return
    assert to_tagged(t) == text


PLAIN = st.text(alphabet=st.characters(blacklist_characters="<>", blacklist_categories=("Cs",)), max_size=8)
VALUE = st.text(alphabet=st.characters(blacklist_characters="<>", blacklist_categories=("Cs",)),
                min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(PLAIN, st.sampled_from(FIELDS), VALUE), max_size=6), PLAIN)
def test_valid_tagged_text_round_trips(chunks, tail):
    tagged = "".join(f"{plain}<{field}>{value}</{field}>" for plain, field, value in chunks) + tail
    t = parse_tagged(tagged)
    assert to_tagged(t) == tagged
    assert t.text == "".join(plain + value for plain, _, value in chunks) + tail
    assert [(s.field, t.text[s.start:s.end]) for s in t.spans] == [(f, v) for _, f, v in chunks]
