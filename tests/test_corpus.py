import csv
import datetime
import io
import os
import re
from pathlib import Path

import pytest

from clues import FIELDS, corpus
from clues.corpus import (
    EXPERIMENT_MAX,
    QA_PROMPTS,
    experiment_names,
    experiment_people,
    generate_biographies,
    pretraining_people,
    qa_prompt,
    read_tagged_csv,
    read_texts,
    write_tagged_csv,
)
from clues.errors import InputError
from clues.text import parse_tagged, to_tagged

# The paper's released biographies: $CLUES_PAPER_DATA, else the folder beside the checkout
# (../shared/data/paper-biographies from the repository root).
PAPER_SIBLING = Path(__file__).resolve().parents[2] / "shared" / "data" / "paper-biographies"
PAPER = Path(os.environ["CLUES_PAPER_DATA"]) if os.environ.get("CLUES_PAPER_DATA") else PAPER_SIBLING


def paper_file(name: str) -> Path:
    path = PAPER / name
    if not path.exists():
        pytest.skip(f"paper data not found: no {path} (set CLUES_PAPER_DATA to the folder holding the "
                    f"paper's {name}, or put it in ../shared/data/paper-biographies beside the checkout)")
    return path


def test_word_lists_are_big_enough_and_distinct():
    sizes = {"first": (corpus.MALE_FIRST + corpus.FEMALE_FIRST, 150), "last": (corpus.LAST_NAMES, 150),
             "city": (corpus.CITIES, 60), "university": (corpus.UNIVERSITIES, 50),
             "major": (corpus.MAJORS, 50), "company": (corpus.COMPANIES, 60)}
    for name, (items, least) in sizes.items():
        assert len(items) >= least, name
        assert len(set(items)) == len(items), name
        assert all(item == item.strip() and "<" not in item for item in items)
    assert not set(corpus.MALE_FIRST) & set(corpus.FEMALE_FIRST)
    assert all(re.fullmatch(r"[^,]+, [^,]+", city) for city in corpus.CITIES)


def test_generation_is_seeded_and_reproducible():
    assert generate_biographies(50, seed=3) == generate_biographies(50, seed=3)
    assert generate_biographies(50, seed=3) != generate_biographies(50, seed=4)


@pytest.mark.parametrize("varied", [True, False])
def test_every_biography_has_all_fields_once_in_order(varied):
    bios = generate_biographies(300, seed=1, varied=varied)
    assert len(bios) == 300
    for bio in bios:
        assert [s.field for s in bio.spans] == list(FIELDS)
        assert to_tagged(bio) and parse_tagged(to_tagged(bio)) == bio
    assert len({b.name for b in bios}) == 300


def test_standard_template_is_the_papers():
    bio = generate_biographies(1, seed=0, varied=False)[0]
    v = {f: bio.value(f) for f in FIELDS}
    he, his = ("He", "his") if bio.text.split(". ")[1].startswith("He ") else ("She", "her")
    assert bio.text == (
        f"{v['name']} was born on {v['date']}. {he} spent {his} early years in {v['city']}. "
        f"{he} received mentorship and guidance from faculty members at {v['university']}. "
        f"{he} completed {his} education with a focus on {v['major']}. "
        f"{he} had a professional role at {v['company']}.")


def test_varied_templates_vary_but_keep_the_facts():
    varied = generate_biographies(200, seed=2)
    standard = generate_biographies(200, seed=2, varied=False)
    assert len({b.text.split(". ")[1].split(" ")[1] for b in varied}) > 1
    for a, b in zip(varied, standard):  # same people, same facts, only the wording differs
        assert [a.value(f) for f in FIELDS] == [b.value(f) for f in FIELDS]


def test_pronouns_match_the_first_name():
    male, female = set(corpus.MALE_FIRST), set(corpus.FEMALE_FIRST)
    for bio in generate_biographies(400, seed=5):
        words = set(re.findall(r"\b[A-Za-z]+\b", bio.text))
        first = bio.name.split()[0]
        if first in male:
            assert not words & {"She", "she", "Her", "her"} and words & {"He", "he", "His", "his"}
        else:
            assert first in female
            assert not words & {"He", "he", "His", "his", "him"} and words & {"She", "she", "Her", "her"}


def test_dates_are_real_dates():
    for bio in generate_biographies(300, seed=6):
        datetime.datetime.strptime(bio.value("date"), "%B %d, %Y")


def test_many_unique_names():
    bios = generate_biographies(30_000, seed=0)  # beyond first×last, so middle initials appear
    names = [b.name for b in bios]
    assert len(set(names)) == len(names)
    assert any(re.fullmatch(r"\S+ [A-Z]\. \S+", n) for n in names) is (
        len(names) > len(corpus.MALE_FIRST + corpus.FEMALE_FIRST) * len(corpus.LAST_NAMES))


@pytest.mark.parametrize("n", [0, -1, 2.5])
def test_bad_counts(n):
    with pytest.raises(InputError):
        generate_biographies(n)


def test_qa_prompts():
    assert set(QA_PROMPTS) == set(FIELDS) - {"name"}
    assert qa_prompt("city", "Ana Li") == "What is the birth city of Ana Li?\nAnswer:"
    assert qa_prompt("university", "Bo") == "Which university did Bo attend?\nAnswer:"
    assert all(p.endswith("?\nAnswer:") for p in QA_PROMPTS.values())
    for bad in ("name", "hobby"):
        with pytest.raises(InputError, match="date"):
            qa_prompt(bad, "Bo")


def test_qa_prompts_match_the_papers_file():
    path = paper_file("prompts.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        assert {row["field"]: row["prompt"] for row in csv.DictReader(handle)} == QA_PROMPTS


# ---------------------------------------------------------------- CSV


def test_write_then_read_round_trips(tmp_path):
    bios = generate_biographies(25, seed=7)
    path = tmp_path / "sub" / "bios.csv"
    write_tagged_csv(path, bios)
    assert path.read_text(encoding="utf-8").splitlines()[0] == "text"
    back = read_tagged_csv(path)
    assert list(back) == bios and back.skipped_empty == 0
    assert read_tagged_csv(str(path), max_rows=4) == bios[:4]


def test_read_from_file_objects():
    data = "text\n\"<name>Ana Li</name> was born on <date>May 1, 1990</date>.\"\n"
    for handle in (io.StringIO(data), io.BytesIO(data.encode()), io.BytesIO(b"\xef\xbb\xbf" + data.encode())):
        (bio,) = read_tagged_csv(handle)
        assert bio.name == "Ana Li" and bio.value("date") == "May 1, 1990"


def test_write_to_a_file_object():
    handle = io.StringIO()
    write_tagged_csv(handle, generate_biographies(2))
    assert [b.name for b in read_tagged_csv(io.StringIO(handle.getvalue()))] == [
        b.name for b in generate_biographies(2)]


def test_text_column_found_among_others(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("id,Text,extra\n1,<name>A</name> b,z\n2,,z\n", encoding="utf-8")
    rows = read_tagged_csv(path)
    assert [r.name for r in rows] == ["A"] and rows.skipped_empty == 1


def test_empty_rows_are_skipped_and_counted(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text('text\n"<name>A</name> b"\n\n"  "\n""\n"<name>C</name> d"\n', encoding="utf-8")
    rows = read_tagged_csv(path)
    assert [r.name for r in rows] == ["A", "C"] and rows.skipped_empty == 3


def _error(tmp_path, content: bytes | str, **kwargs) -> str:
    path = tmp_path / "bad.csv"
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    with pytest.raises(InputError) as error:
        read_tagged_csv(path, **kwargs)
    return str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_tagged_csv(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="folder"):
        read_tagged_csv(tmp_path)


def test_not_utf8(tmp_path):
    assert "UTF-8" in _error(tmp_path, "text\nJosé\n".encode("latin-1"))


def test_not_a_csv(tmp_path):
    assert "not a CSV" in _error(tmp_path, b"\x00\x01\x02binary")
    assert "not a readable CSV" in _error(tmp_path, 'text\n"unterminated\n')


def test_empty_file(tmp_path):
    assert "empty" in _error(tmp_path, "")


def test_no_text_column_names_the_columns(tmp_path):
    message = _error(tmp_path, "bio,age\nx,3\n")
    assert "no `text` column" in message and "'bio'" in message and "'age'" in message


def test_only_empty_rows(tmp_path):
    assert "no biographies" in _error(tmp_path, "text\n\n\"\"\n")


def test_malformed_tags_name_the_row(tmp_path):
    message = _error(tmp_path, 'text\n"<name>A</name>"\n"<name>B</date>"\n')
    assert "row 2" in message and "</date>" in message


def test_bad_max_rows(tmp_path):
    assert "max_rows" in _error(tmp_path, "text\nx\n", max_rows=0)


def test_read_texts_strips_tags_keeps_plain_rows_and_names_bad_rows(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('id,text\n1,"<name>Ana Lee</name> was born in <city>Oslo</city>."\n2,\n3,plain a < b <br>\n')
    assert read_texts(path) == ["Ana Lee was born in Oslo.", "plain a < b <br>"]
    path.write_text('text\nfine\n"<name>Ana <city>Oslo</city></name>"\n')
    with pytest.raises(InputError, match="row 2"):
        read_texts(path)
    path.write_text("body\nx\n")
    with pytest.raises(InputError, match="no `text` column"):
        read_texts(path)
    path.write_text("text\n\n")
    with pytest.raises(InputError, match="no texts"):
        read_texts(path)


def test_experiment_people_never_in_pretraining():
    excluded = experiment_names()
    pretraining = {p.name for p in pretraining_people(2200)}
    assert len(pretraining) == 2200 and not pretraining & excluded
    for n in (1, 7, 300, 2000, EXPERIMENT_MAX):
        assert {p.name for p in experiment_people(n)} <= excluded
    with pytest.raises(InputError, match="experiment people"):
        experiment_people(EXPERIMENT_MAX + 1)


@pytest.mark.parametrize("name", ["biography_synthetic.csv", "biography_real.csv"])
def test_reads_the_papers_release(name):
    path = paper_file(name)
    rows = read_tagged_csv(path)
    assert len(rows) >= 9 and rows.skipped_empty == 0
    assert all(set(r.fields) == set(FIELDS) for r in rows)
