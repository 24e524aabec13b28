"""Corpora of tagged biographies and the QA prompts asked about them.

`generate_biographies` writes seeded synthetic biographies from its own lists of names, dates,
cities, universities, majors and companies. Every biography states its fields in the order of
`clues.FIELDS` (name first, company last): the distance between the name and each fact is what
makes the later facts "far" and hard to learn. `varied=False` uses the paper's one template;
`varied=True` picks one of several phrasings per sentence.

`read_tagged_csv`/`write_tagged_csv` read and write the paper's format: a CSV with one column
`text`, one tagged biography per row; `read_texts` reads the same column as clean training texts
(tags stripped where a row has them), through the same reader.

The people of the continual-pretraining experiment come from here too: `experiment_people(n)`
(seed `EXPERIMENT_SEED`) are new to the bundled demo pair, whose pretraining people
(`pretraining_people(n)`, seed `PRETRAIN_SEED`) never share a name with them.
"""

from __future__ import annotations

import calendar
import csv
import gc
import io
import os
import random
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from clues import FIELDS
from clues.errors import InputError
from clues.text import FieldSpan, TaggedText, parse_tagged, to_tagged

# The fields a biography states about its person: every field but the name, in `FIELDS` order.
FACT_FIELDS = tuple(f for f in FIELDS if f != "name")

# The paper's prompts (its data/prompts.csv), one per fact field.
QA_PROMPTS: dict[str, str] = {
    "date": "What is the birth date of {name}?\nAnswer:",
    "city": "What is the birth city of {name}?\nAnswer:",
    "university": "Which university did {name} attend?\nAnswer:",
    "major": "Which major did {name} study?\nAnswer:",
    "company": "Which company did {name} work for?\nAnswer:",
}


def qa_prompt(field: str, name: str) -> str:
    """The question about `field` of the person called `name`, ending in "Answer:"."""
    if field not in QA_PROMPTS:
        raise InputError(
            f"no question for field {field!r}: choose one of {', '.join(QA_PROMPTS)}"
        )
    return QA_PROMPTS[field].format(name=name)


# ---------------------------------------------------------------- word lists (fictional mix)

MALE_FIRST = """
Aaron Adrian Ahmed Alan Albert Alejandro Alexei Ali Andre Anton Arjun Arthur Axel Benjamin
Bruno Caleb Carlos Cedric Daniel Dario Declan Dmitri Edgar Elias Emil Enzo Ethan Felix Finn
Gabriel Gideon Hamza Hans Hector Henrik Hugo Ibrahim Igor Isaac Ivan Jakob James Javier Jonas
Jorge Julian Kai Kenji Lars Leon Liam Lorenzo Lucas Luca Malik Marco Mateo Matthias Milan Nikhil
Noah Omar Oscar Owen Pablo Pavel Pedro Rafael Rahul Ravi Ronan Samuel Santiago Sebastian Silas
Stefan Tariq Theo Tobias Tomas Victor Viktor Wei Yusuf Zoran
""".split()

FEMALE_FIRST = """
Abigail Ada Aisha Alessia Alice Amara Amelia Ana Anika Astrid Beatrice Bianca Camila Carmen
Chloe Clara Daria Diana Elena Elif Eliza Emma Esther Eva Fatima Freya Gabriela Greta Hana Hannah
Helena Ines Ingrid Irene Isabel Ivana Jana Julia Kaia Keiko Lara Laila Leah Lena Lucia Lydia
Maya Mariana Marta Mei Mila Miriam Nadia Naomi Natalie Nina Nora Olga Olivia Paula Petra Priya
Rania Rosa Ruth Sara Selma Sienna Sofia Sonia Talia Tessa Valentina Vera Yara Yasmin Zara Zoe
Adele Brigitte Celeste Dalia Farida Giulia Imogen Lucinda
""".split()

LAST_NAMES = """
Abbott Acosta Adeyemi Aguilar Ahlberg Alvarez Andersen Arnaud Bakker Baptiste Barros Becker
Bergstrom Bianchi Blackwood Bondarenko Brandt Brennan Calloway Castillo Chandra Chen Costa
Dahl Dalton Delgado Demir Dubois Duarte Eklund Eriksen Esposito Falk Farah Ferreira Fischer
Fontaine Foster Garcia Gallagher Gomez Greco Gupta Halvorsen Hartmann Hayes Herrera Hoffman
Holloway Horvat Ibarra Ivanova Jansen Jensen Kaur Keller Kim Kowalski Kraus Kumar Lambert
Larsen Laurent Lee Lindqvist Lopez Lorenz Madsen Marchetti Marin Mendes Meyer Moreau Morozov
Murphy Nakamura Navarro Nielsen Novak Nowak Oduya Okafor Olsen Ortega Ozturk Park Patel
Pereira Petrov Popescu Quinn Ramirez Rana Reyes Ricci Rivera Romano Rossi Russo Sato Schmidt
Schneider Serrano Shah Silva Singh Sokolov Sorensen Suzuki Tanaka Taylor Thompson Torres
Umarov Valdez Varga Vasquez Vega Vogel Wagner Walsh Weber Wolff Xu Yamamoto Yilmaz Young Zhang
Zimmermann Abara Bellamy Carrow Drummond Ellery Fairbanks Garrow Hadley Inglis Jarrow Kinsley
Lachance Merriweather Northcott Ormsby Pennington Quarles Radcliffe Stanhope Thorne Underhill
Vance Whitlock Yardley Ashdown Brightwater Coldwell Dunmore Everly Fenwick Greystone Hawthorne
Ironside Kettering Langford Marlowe Norcross Oakley Prescott Redfern Sterling Thistlewood
""".split()

CITIES = """
Lisbon, Portugal|Porto, Portugal|Madrid, Spain|Valencia, Spain|Lyon, France|Marseille, France
Bordeaux, France|Munich, Germany|Hamburg, Germany|Leipzig, Germany|Vienna, Austria|Graz, Austria
Zurich, Switzerland|Geneva, Switzerland|Milan, Italy|Naples, Italy|Turin, Italy|Bologna, Italy
Krakow, Poland|Gdansk, Poland|Prague, Czech Republic|Brno, Czech Republic|Budapest, Hungary
Bucharest, Romania|Sofia, Bulgaria|Athens, Greece|Thessaloniki, Greece|Istanbul, Turkey
Izmir, Turkey|Oslo, Norway|Bergen, Norway|Uppsala, Sweden|Gothenburg, Sweden|Aarhus, Denmark
Helsinki, Finland|Tampere, Finland|Dublin, Ireland|Cork, Ireland|Edinburgh, Scotland
Glasgow, Scotland|Leeds, England|Bristol, England|Toronto, Canada|Halifax, Canada
Vancouver, Canada|Denver, United States|Austin, United States|Seattle, United States
Boston, United States|Monterrey, Mexico|Guadalajara, Mexico|Bogota, Colombia|Medellin, Colombia
Lima, Peru|Santiago, Chile|Valparaiso, Chile|Cordoba, Argentina|Rosario, Argentina
Curitiba, Brazil|Recife, Brazil|Lagos, Nigeria|Accra, Ghana|Nairobi, Kenya|Kampala, Uganda
Casablanca, Morocco|Tunis, Tunisia|Cairo, Egypt|Amman, Jordan|Beirut, Lebanon|Pune, India
Kochi, India|Jaipur, India|Lahore, Pakistan|Dhaka, Bangladesh|Colombo, Sri Lanka
Hanoi, Vietnam|Da Nang, Vietnam|Chiang Mai, Thailand|Cebu, Philippines|Busan, South Korea
Daegu, South Korea|Osaka, Japan|Sapporo, Japan|Chengdu, China|Hangzhou, China
Perth, Australia|Adelaide, Australia|Wellington, New Zealand|Christchurch, New Zealand
""".replace("\n", "|").strip("|").split("|")

UNIVERSITIES = """
the University of Lisbon|the Technical University of Munich|the University of Bologna
Charles University|the University of Vienna|ETH Zurich|the University of Geneva|Leiden University
the University of Copenhagen|Uppsala University|Lund University|the University of Helsinki
Trinity College Dublin|the University of Edinburgh|the University of Leeds|the University of Bristol
Jagiellonian University|the University of Warsaw|Eotvos Lorand University|the University of Athens
Bogazici University|the University of Toronto|McGill University|the University of British Columbia
Dalhousie University|the University of Colorado|Rice University|the University of Washington
Tufts University|the National University of Colombia|the University of Chile
the Pontifical Catholic University of Peru|the University of Buenos Aires|the University of Sao Paulo
the University of Lagos|the University of Ghana|the University of Nairobi|Makerere University
Cairo University|the American University of Beirut|the Indian Institute of Science
the University of Colombo|Seoul National University|Kyoto University|Hokkaido University
Zhejiang University|Fudan University|the National University of Singapore
the University of Melbourne|the University of Auckland|Victoria University of Wellington
Northbridge Institute of Technology|Halvard College|the University of Westmarch
Coriander Polytechnic University|the Royal Academy of Aldmere
""".replace("\n", "|").strip("|").split("|")

MAJORS = """
Mathematics|Applied Physics|Theoretical Physics|Chemistry|Biochemistry|Molecular Biology
Marine Biology|Ecology|Geology|Astronomy|Computer Science|Software Engineering
Electrical Engineering|Mechanical Engineering|Civil Engineering|Chemical Engineering
Aerospace Engineering|Biomedical Engineering|Materials Science|Environmental Science
Statistics|Data Science|Economics|Finance|Accounting|Marketing|Business Administration
International Relations|Political Science|Sociology|Anthropology|Psychology|Philosophy
History|Art History|Archaeology|Linguistics|Comparative Literature|Journalism|Architecture
Urban Planning|Music Composition|Film Studies|Graphic Design|Nursing|Public Health
Pharmacology|Neuroscience|Veterinary Medicine|Agricultural Science|Law|Education
Oceanography|Industrial Design
""".replace("\n", "|").strip("|").split("|")

COMPANIES = """
Northwind Analytics|Bluefin Robotics|Cedar Ridge Pharmaceuticals|Helios Solar Systems
Quantum Harbor Labs|Silverline Logistics|Redwood Capital Partners|Ironbridge Construction
Lumen Biotech|Orchid Software|Brightpath Education|Crescent Media Group|Sable Aerospace
Vantage Health Networks|Tidewater Shipping|Summit Data Corporation|Polaris Energy
Granite Insurance Group|Maple Leaf Foods|Aurora Telecommunications|Kestrel Security
Evergreen Architecture Studio|Copperfield Mining|Nimbus Cloud Services|Harborview Hospital
Falcon Motors|Oakhurst Consulting|Riverstone Bank|Meridian Publishing|Starling Airlines
Cobalt Semiconductor|Willow Creek Farms|Pioneer Chemical Works|Azure Water Technologies
Beacon Legal Associates|Elmwood Furniture|Horizon Biomedical|Juniper Networks Lab
Keystone Engineering|Larkspur Fashion House|Monarch Hotels|Nova Genomics|Opal Gaming Studios
Pinnacle Steel|Quill & Ink Press|Radiant Optics|Sapphire Textiles|Thunderbird Rail
Umbra Film Productions|Vesper Wines|Westgate Retail|Yellowstone Outdoor Gear
Zephyr Wind Power|the Alder Museum of Science|the Coastal Research Institute
the National Weather Bureau|the Grand Opera House|the City Transit Authority
the Institute for Advanced Materials|the Riverside Botanical Garden
""".replace("\n", "|").strip("|").split("|")

MONTHS = list(calendar.month_name)[1:]


@dataclass(frozen=True)
class Vocabulary:
    """The word lists people are drawn from: first names (by pronoun), last names and each fact's values."""

    male_first: tuple[str, ...]
    female_first: tuple[str, ...]
    last: tuple[str, ...]
    cities: tuple[str, ...]
    universities: tuple[str, ...]
    majors: tuple[str, ...]
    companies: tuple[str, ...]

    def pronoun(self, name: str) -> str:
        """"he" or "she", from the first name's list."""
        return "he" if name.split()[0] in self.male_first else "she"


# The demo's own lists: every person of the experiment and of the bundled pair's pretraining is drawn from them.
DEMO_VOCABULARY = Vocabulary(tuple(MALE_FIRST), tuple(FEMALE_FIRST), tuple(LAST_NAMES), tuple(CITIES),
                             tuple(UNIVERSITIES), tuple(MAJORS), tuple(COMPANIES))

# ---------------------------------------------------------------- templates

# One sentence per step; each step lists its phrasings. `{He}`/`{he}`/`{his}`/`{His}`/`{him}`
# are pronouns; the other keys are fields and become tagged spans. The first phrasing of each
# step is the paper's. Every phrasing keeps the fields in `FIELDS` order.
TEMPLATES: list[list[str]] = [
    [
        "{name} was born on {date}.",
        "{name} came into the world on {date}.",
        "{name} celebrates {his} birthday on {date}.",
        "The birth of {name} took place on {date}.",
    ],
    [
        "{He} spent {his} early years in {city}.",
        "{He} grew up in {city}.",
        "{His} childhood was spent in {city}.",
        "{He} was raised in {city}.",
    ],
    [
        "{He} received mentorship and guidance from faculty members at {university}.",
        "{He} studied at {university}.",
        "{He} was admitted to {university}.",
        "{His} academic training took place at {university}.",
    ],
    [
        "{He} completed {his} education with a focus on {major}.",
        "{He} majored in {major}.",
        "{His} field of study was {major}.",
        "{He} earned {his} degree in {major}.",
    ],
    [
        "{He} had a professional role at {company}.",
        "{He} worked for {company}.",
        "{He} was employed by {company}.",
        "{His} career was spent at {company}.",
    ],
]

PRONOUNS = {
    "he": {"He": "He", "he": "he", "His": "His", "his": "his", "him": "him"},
    "she": {"He": "She", "he": "she", "His": "Her", "his": "her", "him": "her"},
}


def _compile(template: str, sep: str) -> list[tuple[str, str | None, bool]]:
    """Split a template into (literal, key, key is a field) pieces, `sep` before the first."""
    pieces = [(lit, key) for lit, key, _, _ in string.Formatter().parse(template)]
    pieces[0] = (sep + pieces[0][0], pieces[0][1])
    return [(lit, key, key in FIELDS) for lit, key in pieces]


# Sentences are separated by one space, baked into each later step's first literal.
_COMPILED = [[_compile(t, " " if i else "") for t in step] for i, step in enumerate(TEMPLATES)]


def generate_biographies(n: int, seed: int = 0, *, varied: bool = True,
                         vocabulary: Vocabulary = DEMO_VOCABULARY) -> list[TaggedText]:
    """`n` seeded synthetic biographies with unique names, fields in `FIELDS` order, drawn from `vocabulary`."""
    if not isinstance(n, int) or n < 1:
        raise InputError(f"number of biographies must be a positive integer, got {n!r}")
    rng = random.Random(seed)
    # The cyclic GC finds no cycles here but would rescan the growing list of new objects
    # many times; pausing it halves the time for 100k biographies.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        people = [(name, gender, _fact_values(rng, vocabulary))
                  for name, gender in _unique_names(n, rng, vocabulary)]
        return [_render(name, gender, facts, rng, varied) for name, gender, facts in people]
    finally:
        if was_enabled:
            gc.enable()


def _unique_names(n: int, rng: random.Random, vocabulary: Vocabulary) -> list[tuple[str, str]]:
    """`n` distinct (name, gender) pairs: "First Last" while they last, then "First M. Last".

    Names are drawn as distinct indices into the product of the lists (rng.sample on a range
    never materialises it), so even 100k names take a fraction of a second.
    """
    firsts = [(f, "he") for f in vocabulary.male_first] + [(f, "she") for f in vocabulary.female_first]
    last_names = vocabulary.last
    n_last = len(last_names)
    pairs = len(firsts) * n_last
    out = []
    for i in rng.sample(range(pairs), min(n, pairs)):
        first, gender = firsts[i // n_last]
        out.append((f"{first} {last_names[i % n_last]}", gender))
    if n > pairs:
        initials = string.ascii_uppercase
        triples = pairs * len(initials)
        if n - pairs > triples:
            raise InputError(f"can generate at most {pairs + triples} unique names, asked for {n}")
        for i in rng.sample(range(triples), n - pairs):
            pair, initial = divmod(i, len(initials))
            first, gender = firsts[pair // n_last]
            out.append((f"{first} {initials[initial]}. {last_names[pair % n_last]}", gender))
    return out


def _pick(rng: random.Random, items: list):
    # rng.choice, about three times faster (one float per draw); the bias is below 1e-15.
    return items[int(rng.random() * len(items))]


_YEARS = list(range(1940, 2005))
_DAYS = {(y, m): list(range(1, calendar.monthrange(y, m)[1] + 1)) for y in _YEARS for m in range(1, 13)}


def _fact_values(rng: random.Random, vocabulary: Vocabulary) -> dict[str, str]:
    year, month = _pick(rng, _YEARS), _pick(rng, range(1, 13))
    day = _pick(rng, _DAYS[year, month])
    return {
        "date": f"{MONTHS[month - 1]} {day}, {year}",
        "city": _pick(rng, vocabulary.cities),
        "university": _pick(rng, vocabulary.universities),
        "major": _pick(rng, vocabulary.majors),
        "company": _pick(rng, vocabulary.companies),
    }


def _render(name: str, gender: str, facts: dict, rng: random.Random, varied: bool) -> TaggedText:
    """Assemble the sentences piece by piece, recording each field's span as it is written."""
    values = {"name": name, **facts, **PRONOUNS[gender]}
    parts: list[str] = []
    spans: list[FieldSpan] = []
    length = 0
    for step in _COMPILED:
        for literal, key, is_field in _pick(rng, step) if varied else step[0]:
            parts.append(literal)
            length += len(literal)
            if key is None:
                continue
            value = values[key]
            if is_field:
                spans.append(FieldSpan(key, length, length + len(value)))
            parts.append(value)
            length += len(value)
    return TaggedText("".join(parts), tuple(spans))


# ---------------------------------------------------------------- the experiment's people

PRETRAIN_SEED = 20250
EXPERIMENT_SEED = 0
# random.sample draws names as a prefix of the longer draw for every n up to here, so excluding
# the first EXPERIMENT_MAX experiment names excludes those of every smaller experiment too.
EXPERIMENT_MAX = 5000


def experiment_people(n: int, *, varied: bool = True) -> list[TaggedText]:
    """The people of the continual-pretraining experiment: never in the demo models' pretraining.

    `generate_biographies(n, seed=EXPERIMENT_SEED)` (the default seed of `clues bios`), n ≤ EXPERIMENT_MAX.
    """
    if not isinstance(n, int) or not 1 <= n <= EXPERIMENT_MAX:
        raise InputError(f"experiment people: n must be 1–{EXPERIMENT_MAX} (their names are kept out of "
                         f"the demo models' pretraining only up to there), got {n!r}")
    return generate_biographies(n, seed=EXPERIMENT_SEED, varied=varied)


def experiment_names() -> set[str]:
    """Every name an experiment person can have (those of `experiment_people(EXPERIMENT_MAX)`)."""
    return {p.name for p in generate_biographies(EXPERIMENT_MAX, seed=EXPERIMENT_SEED)}


def pretraining_people(n: int) -> list[TaggedText]:
    """`n` people from seed PRETRAIN_SEED whose names no experiment person has (seeded, stable):
    the people the demo pair is pretrained on."""
    excluded = experiment_names()
    people = [p for p in generate_biographies(int(n * 1.3) + 50, seed=PRETRAIN_SEED) if p.name not in excluded]
    if len(people) < n:
        raise InputError(f"could not find {n} pretraining people outside the experiment names")
    return people[:n]


# ---------------------------------------------------------------- the paper's released biographies

PAPER_DATA_ENV = "CLUES_PAPER_DATA"
PAPER_BIOGRAPHIES = "biography_synthetic.csv"
PAPER_SHOTS = "biography_real.csv"  # the paper's QA shots: 9 real people, never asked about (its evaluate.yaml)


def paper_data_folder() -> Path | None:
    """The folder of the paper's released biographies: $CLUES_PAPER_DATA, else
    ../shared/data/paper-biographies beside a checkout of this repository; None if neither holds them
    (they are never copied into the repository)."""
    configured = os.environ.get(PAPER_DATA_ENV)
    candidates = [Path(configured).expanduser()] if configured else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data" / "paper-biographies")
    return next((folder for folder in candidates if (folder / PAPER_BIOGRAPHIES).is_file()), None)


def paper_shot_data() -> Path | None:
    """The CSV of the 9 real biographies the paper draws its QA shots from, or None when not found."""
    folder = paper_data_folder()
    return folder / PAPER_SHOTS if folder and (folder / PAPER_SHOTS).is_file() else None


def paper_biographies() -> list[TaggedText] | None:
    """The paper's 100 released synthetic biographies (tagged), or None when `paper_data_folder` finds none."""
    folder = paper_data_folder()
    return list(read_tagged_csv(folder / PAPER_BIOGRAPHIES)) if folder else None


# ---------------------------------------------------------------- CSV


class Corpus(list):
    """A list of TaggedText read from a file, with how many empty rows were skipped."""

    def __init__(self, texts=(), *, skipped_empty: int = 0, source: str = ""):
        super().__init__(texts)
        self.skipped_empty = skipped_empty
        self.source = source


def read_tagged_csv(path_or_file, *, max_rows: int | None = None) -> Corpus:
    """Read a CSV with a `text` column of tagged biographies (the paper's format).

    `path_or_file` is a path or a file object (text or bytes, e.g. an upload). Empty rows are
    skipped and counted in `.skipped_empty`; at most `max_rows` biographies are read.
    """
    if max_rows is not None and (not isinstance(max_rows, int) or max_rows < 1):
        raise InputError(f"max_rows must be a positive integer or None, got {max_rows!r}")
    source, rows = _non_empty_rows(path_or_file)
    texts = []
    for number, line, value in rows:
        texts.append(_parse_row(value, source, number, line))
        if max_rows is not None and len(texts) >= max_rows:
            break
    skipped = rows.skipped
    if not texts:
        raise InputError(
            f"{source} has no biographies: all {skipped} rows of its `text` column are empty"
        )
    return Corpus(texts, skipped_empty=skipped, source=source)


# A tag of a known field: a row holding one is a tagged biography; other rows are plain text.
_FIELD_TAG = re.compile(r"</?(%s)>" % "|".join(FIELDS))


def read_texts(path_or_file) -> list[str]:
    """The non-empty rows of a CSV's `text` column as clean texts (for training): a row with
    field tags is parsed as a tagged biography and its tags stripped; other rows are kept as
    they are (so plain text with a stray "<" is fine)."""
    source, rows = _non_empty_rows(path_or_file)
    texts = [_parse_row(value, source, number, line).text if _FIELD_TAG.search(value) else value
             for number, line, value in rows]
    if not texts:
        raise InputError(f"{source} has no texts: all {rows.skipped} rows of its `text` column are empty")
    return texts


class _NonEmpty:
    """The non-empty cells of a `text` column, in order; `.skipped` counts the empty ones passed."""

    def __init__(self, cells):
        self.cells, self.skipped = cells, 0

    def __iter__(self):
        for number, line, value in self.cells:
            if value.strip():
                yield number, line, value
            else:
                self.skipped += 1


def _non_empty_rows(path_or_file) -> tuple[str, _NonEmpty]:
    source, cells = _text_cells(path_or_file)
    return source, _NonEmpty(cells)


def _text_cells(path_or_file) -> tuple[str, Iterator[tuple[int, int, str]]]:
    """(a name for messages, the `text` cell of every data row as (row number, line, value))."""
    source, text = _read_text(path_or_file)
    rows = _csv_rows(text, source)
    first = next(rows, None)
    if first is None:
        raise InputError(f"{source} is empty: expected a CSV with a header line `text`")
    column = _text_column(first[1], source)
    cells = ((number, line, row[column] if column < len(row) else "")
             for number, (line, row) in enumerate(rows, start=1))
    return source, cells


def _parse_row(value: str, source: str, number: int, line: int) -> TaggedText:
    try:
        return parse_tagged(value)
    except InputError as error:
        raise InputError(f"{source}, row {number} (line {line}): {error}") from None


def _read_text(path_or_file) -> tuple[str, str]:
    """(a name for messages, the decoded file content)."""
    if isinstance(path_or_file, (str, os.PathLike)):
        path = Path(path_or_file).expanduser()
        source = str(path)
        if not path.exists():
            raise InputError(f"file not found: {source}; check the path")
        if path.is_dir():
            raise InputError(f"{source} is a folder, not a CSV file")
        data = path.read_bytes()
    else:
        source = str(getattr(path_or_file, "name", "the uploaded file"))
        data = path_or_file.read()
    if isinstance(data, str):
        return source, data
    try:
        return source, data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{source} is not UTF-8 text (byte 0x{data[error.start]:02x} at position "
            f"{error.start}); save it as a UTF-8 CSV"
        ) from None


def _csv_rows(text: str, source: str):
    """Yield (line number, row); a parse failure becomes an InputError naming the line."""
    if "\x00" in text:
        raise InputError(f"{source} is not a CSV file (it holds binary data)")
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 24))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as error:
        raise InputError(
            f"{source} is not a readable CSV (line {reader.line_num}: {error}); "
            f"it needs a header line `text` and one quoted biography per row"
        ) from None


def _text_column(header: list[str], source: str) -> int:
    names = [h.strip().lower() for h in header]
    if "text" not in names:
        shown = ", ".join(repr(h) for h in header[:10]) or "none"
        raise InputError(
            f"{source} has no `text` column (its columns: {shown}); name the column of "
            f"tagged biographies `text` in the header line"
        )
    return names.index("text")


def write_tagged_csv(path, texts: Iterable[TaggedText]) -> None:
    """Write `texts` as a CSV with one column `text` of tagged biographies."""
    if hasattr(path, "write"):
        _write_rows(path, texts)
        return
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        _write_rows(handle, texts)


def _write_rows(handle, texts: Iterable[TaggedText]) -> None:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(["text"])
    for t in texts:
        writer.writerow([to_tagged(t)])
