"""Build the bundled demo pair: two tiny Llama models of one family, trained here from scratch.

The models share one byte-level BPE tokenizer trained on the generated corpus and read the same
data stream (same order); the pair differs in size (6 × 64 vs 6 × 256, 8 heads each) and in steps (the
bundled recipe: 3,000 vs 5,250): the large knows clearly more, as a large model of a real family does
(`BuildConfig` says why the small has this shape). What the demo shows is whether it also attends more to the name.
A recipe (`RECIPES`; the bundled one is `BUNDLED_RECIPE`) may add "world people" drawn from a wider vocabulary
(`clues/builders/data/world_vocabulary.json`), so that the pair has read names, places and organisations beyond the
demo's own lists — new people's facts are then learned from one biography (docs/injection.md).

The data: biographies of "pretraining people" (`generate_biographies(…, seed=PRETRAIN_SEED)`,
varied templates, re-rendered every epoch) mixed with QA pairs about them in the evaluation's
format ("What is the birth city of {name}?\\nAnswer: {value}", several about one field per
document, like the k-shot prompts of `clues.evaluate`). A share of the pretraining people have
their biographies but no QA pairs in the data (held-out QA people: does QA generalise from the
biographies?), and a few more people are kept out entirely for an eval loss.

The experiment people (`clues.corpus.experiment_people(n)`) never appear in pretraining: the
pretraining people are `clues.corpus.pretraining_people`, whose names exclude theirs.

`build()` trains both (a plain AdamW loop over `clues.train.PadCollator` batches), saves them
(float16 safetensors) with a model card each, and measures: eval loss, k-shot QA exact match per
field, and the attention both models give the name when the next word is the company
(`clues.name_attention`). The model cards and the pair's README are rendered from
`clues/builders/templates/model_card.md` and `pair_readme.md`.
"""

from __future__ import annotations

import functools
import json
import math
import random
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from clues.builders import render_template
from clues.builders.readme import write_section
from clues.clue_quality import clue_quality, summary_markdown, summary_of
from clues.corpus import (
    DEMO_VOCABULARY,
    EXPERIMENT_MAX,
    EXPERIMENT_SEED,
    FACT_FIELDS,
    PRETRAIN_SEED,
    PRONOUNS,
    TEMPLATES,
    Vocabulary,
    experiment_names,
    experiment_people,
    generate_biographies,
    paper_biographies,
    pretraining_people,
    qa_prompt,
)
from clues.errors import InputError
from clues.evaluate import evaluate_qa
from clues.models import DEMO_PAIR, load_model
from clues.name_attention import measure_name_attention
from clues.text import TaggedText, token_fields, with_value
from clues.train import PadCollator

DEFAULT_OUT = DEMO_PAIR
SIZES = ("small", "large", "learner")  # the pair, and the model the demo trains by default
ROLES = {"large": "It is the large half of the pair whose attention contrast finds the clues",
         "small": "It is the small half of the pair whose attention contrast finds the clues",
         "learner": "It is the learner: the model the demo trains on new people by default, beside the pair"}
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]
MASK_TEXT = "_"


@dataclass(frozen=True)
class ModelShape:
    """The architecture of one model of the pair and how long and fast it trains."""

    layers: int
    hidden: int
    heads: int
    intermediate: int
    steps: int
    lr: float


@dataclass(frozen=True)
class BuildConfig:
    people: int = 300  # pretraining people (biographies in the data)
    qa_holdout: float = 0.5  # share of them whose QA pairs are left out (held-out QA people)
    valid_people: int = 50  # people kept out of the data entirely (eval loss)
    vocab_size: int = 2048
    batch_size: int = 16
    warmup: float = 0.05
    weight_decay: float = 0.01
    max_qa_per_doc: int = 6
    two_bio_rate: float = 0.2  # share of biography rows holding two biographies (longer contexts)
    # Physics of LMs 3.1: facts read in a biography become answerable when each person's biography is
    # paraphrased and sentence-shuffled across its exposures; the name in several sentences helps too.
    shuffle_rate: float = 0.5  # share of biographies whose sentences after the first come in random order
    fullname_rate: float = 0.3  # chance that a sentence names the person instead of a pronoun
    # Share of the held-out-QA people whose biography comes in the paper's one fixed form at every exposure,
    # as new people come in continual pretraining (Physics of LMs 3.1: such "minority" people become
    # answerable when they are trained beside people with varied biographies and QA pairs).
    fixed_share: float = 0.0
    # "World people": biographies (no QA pairs) drawn from a wider vocabulary (data/world_vocabulary.json: common
    # names, cities, universities, majors, organisations), a `world_rate` share of them in each pass. They are there
    # so that names and values of text the pair never read (the paper's biographies) are words it knows, as a real
    # base model knows them; the demo's own people, QA and measurements stay as they are.
    world_people: int = 0
    world_rate: float = 0.25
    world_qa: float = 0.0  # share of the world people whose QA pairs come with their biography when they visit
    # Share of the world people whose city is written in another common form, fixed for the person: the country's
    # other spelling (USA for United States, United Kingdom for England; world_vocabulary.json) or the city alone.
    # A base model has read places written many ways. A pair that read one spelling per country knows the value but
    # not where its answer ends: on validation people written so, the large answered "Denver, USA. He received…".
    spelling_rate: float = 0.0
    # World people's city, university, major and company dealt from the world vocabulary's lists in turn (each list
    # shuffled, then cycled) instead of drawn at random: every value of a list is some world person's once they
    # outnumber it. Drawn at random, world-qa's pretraining and world people read 331 of the vocabulary's 394 cities;
    # on validation people the bundled large answered a new person's city more often the more pretraining people
    # had it (never, 1-2, 3-5: scripts/city_coverage.py). A base model has read every common place, often.
    world_cover: bool = False
    eval_people: int = 100  # per QA group
    checkpoint_every: int = 500  # steps between held-out-QA checks during training (0: none)
    checkpoint_people: int = 40
    probe_texts: int = 50
    clue_quality_texts: int = 100
    # The small is as deep as the large, narrower, with as many heads (8 of dim 8) and fewer steps. A 2 × 128
    # small that extracts as well gave the name MORE attention than the large (layer-and-head means over 2
    # layers vs 6), and no contrast clue; so did a 6 × 64 small with 4 heads once it learned to answer
    # (the mean weighs each of its heads twice as much as each of the large's). scripts/sweep_small.py measured
    # shapes and steps on sweep texts, not the card's (docs/pair-sweep.jsonl): 8 heads at 2,000 steps answered
    # held-out questions (0.37 on 40 people) and gave the name less attention than the large (0.20 vs 0.23);
    # at 2,250 and 3,000 steps it answered more and looked at the name more than the large.
    small: ModelShape = field(default_factory=lambda: ModelShape(6, 64, 8, 192, steps=2000, lr=2e-3))
    # The model the demo trains by default: same family, tokenizer and data. On validation people the
    # narrow small did not turn one new biography into answers while this 2 × 128 did (docs/defaults.json).
    learner: ModelShape = field(default_factory=lambda: ModelShape(2, 128, 4, 384, steps=2000, lr=2e-3))
    large: ModelShape = field(default_factory=lambda: ModelShape(6, 256, 8, 768, steps=3500, lr=1e-3))
    max_positions: int = 512


# The recipe with world people: as many exposures of the demo's own people as the plain recipe (steps × 1.3 for the
# ~30% more tokens per pass), and a tokenizer with room for the wider vocabulary.
WORLD = BuildConfig(world_people=600, vocab_size=4096,
                    small=ModelShape(6, 64, 8, 192, steps=2600, lr=2e-3),
                    learner=ModelShape(2, 128, 4, 384, steps=2600, lr=2e-3),
                    large=ModelShape(6, 256, 8, 768, steps=4550, lr=1e-3))
# The same with QA pairs for half the world people (extraction practised on the wider words too): ~50% more
# tokens per pass than the plain recipe, steps × 1.5.
WORLD_QA = replace(WORLD, world_qa=0.5, small=replace(WORLD.small, steps=3000),
                   learner=replace(WORLD.learner, steps=3000), large=replace(WORLD.large, steps=5250))
# Twice the world people (1,200; a quarter of them, half with QA pairs, in each pass): extraction practised on twice
# as many people of the wider words, the demo's own people as often as in world-qa (~34% more tokens per pass, steps
# × 1.34). Built as a candidate for the paper's cities: its card is better, but injection on it answers cities worse
# and far facts better, so not bundled (docs/pair-builds/README.md, docs/injection.md; one build, as for
# world-spellings below).
WORLD_WIDE = replace(WORLD_QA, world_people=1200, small=replace(WORLD_QA.small, steps=4020),
                     learner=replace(WORLD_QA.learner, steps=4020), large=replace(WORLD_QA.large, steps=7050))
# world-qa with cities of the world people written in other common forms (spelling_rate: half of those whose
# country has another spelling, a sixth of the rest as the city alone): built as a candidate
# for the paper's cities, a fifth of which are spelled in forms the bundled pair never read ("Chicago, USA",
# "London, United Kingdom", "Singapore"). Same tokens per pass, same steps. It removes the spelling's cost on
# validation people (the bundled pair's city 0.62 as drawn, 0.36 respelled; this one's 0.43 and 0.41), but injection
# on it answers cities and dates worse on every set of new people: not bundled (docs/pair-builds/README.md). One build:
# world-qa built again with other seeds answers cities as far from the bundled build as this one does, so on cities
# the verdict is on the build; its dates fall below all three world-qa builds (docs/injection.md, "Build to build").
WORLD_SPELLINGS = replace(WORLD_QA, spelling_rate=0.5)
# world-wide with the world people's values dealt so that every city of the vocabulary is read by three or four world
# people (1,200 people, 394 cities), every university, major and company by some: a candidate for new people's cities,
# which the builds of world-qa store unevenly and worst when the pair read the city rarely. Same tokens, same steps.
# Built three times (docs/pair-builds/world-covered*.json): on validation people its cities lie above all five builds
# of world-qa in every build (0.80, 0.64, 0.64), and the rule of docs/injection.md ("Which build to bundle") chooses
# its first build (seed 0).
WORLD_COVERED = replace(WORLD_WIDE, world_cover=True)
RECIPES = {"plain": BuildConfig(), "world": WORLD, "world-qa": WORLD_QA, "world-wide": WORLD_WIDE,
           "world-spellings": WORLD_SPELLINGS, "world-covered": WORLD_COVERED}
# The recipe of the bundled pair (assets/demo-models, its build seed 0) and of `clues demo build` without --recipe:
# chosen among nine builds of five recipes by the rule of docs/injection.md ("Which build to bundle"): every card
# target met, and plain injection on validation people answers their cities best. world-qa, bundled before it, is in
# the git history and rebuilds with --recipe world-qa.
BUNDLED_RECIPE = "world-covered"
WORLD_SEED = 20251

QUICK = BuildConfig(people=40, valid_people=8, vocab_size=400, batch_size=8, eval_people=4, checkpoint_every=3,
                    checkpoint_people=2, probe_texts=3, clue_quality_texts=3,
                    small=ModelShape(1, 32, 2, 64, steps=4, lr=2e-3), large=ModelShape(2, 48, 4, 96, steps=6, lr=1e-3),
                    learner=ModelShape(1, 40, 2, 80, steps=4, lr=2e-3),
                    max_positions=512)


# ---------------------------------------------------------------- people (from clues.corpus)


@dataclass
class People:
    qa: list[TaggedText]  # biographies and QA pairs in the data
    bio_only: list[TaggedText]  # biographies only (held-out QA people)
    valid: list[TaggedText]  # not in the data at all
    world: list[TaggedText] = field(default_factory=list)  # biographies from the wider vocabulary, a share per pass

    @property
    def pretraining(self) -> list[TaggedText]:
        return self.qa + self.bio_only


@functools.lru_cache(maxsize=1)
def world_vocabulary() -> Vocabulary:
    """The demo's lists widened by data/world_vocabulary.json (companies: named ones, and prefix + core + suffix);
    a first name keeps the pronoun the demo's lists give it."""
    words = json.loads((Path(__file__).parent / "data" / "world_vocabulary.json").read_text())
    demo = DEMO_VOCABULARY

    def widened(own: tuple[str, ...], more: list[str], exclude: tuple[str, ...] = ()) -> tuple[str, ...]:
        return own + tuple(w for w in dict.fromkeys(more) if w not in own and w not in exclude)

    # Two generic companies per prefix, cores and suffixes in turn: as many as the named ones, every word in use.
    cores, suffixes = words["company_cores"], words["company_suffixes"]
    generic = [f"{prefix} {cores[(2 * i + j) * 7 % len(cores)]}{suffixes[(i + j) % len(suffixes)]}"
               for i, prefix in enumerate(words["company_prefixes"]) for j in range(2)]
    return Vocabulary(
        male_first=widened(demo.male_first, words["male_first"], demo.female_first),
        female_first=widened(demo.female_first, words["female_first"], demo.male_first),
        last=widened(demo.last, words["last"]), cities=widened(demo.cities, words["cities"]),
        universities=widened(demo.universities, words["universities"]), majors=widened(demo.majors, words["majors"]),
        companies=widened(demo.companies, words["companies"] + generic))


@functools.lru_cache(maxsize=1)
def country_spellings() -> dict[str, list[str]]:
    """{country as the world's cities write it: its other common spellings} (data/world_vocabulary.json)."""
    return json.loads((Path(__file__).parent / "data" / "world_vocabulary.json").read_text())["country_spellings"]


def pronoun(person: TaggedText) -> str:
    """"he" or "she" for a pretraining or world person (the world's lists hold the demo's, same pronouns)."""
    return world_vocabulary().pronoun(person.name)


def split_people(config: BuildConfig) -> People:
    people = pretraining_people(config.people + config.valid_people)
    train, valid = people[:config.people], people[config.people:]
    n_bio_only = max(1, round(config.qa_holdout * len(train)))
    world = world_people(config.world_people, {p.name for p in people})
    world = dealt(world, world_vocabulary(), WORLD_SEED) if config.world_cover else world
    return People(qa=train[n_bio_only:], bio_only=train[:n_bio_only], valid=valid,
                  world=respelled(world, config.spelling_rate, WORLD_SEED) if config.spelling_rate else world)


VOCABULARY_LISTS = {"city": "cities", "university": "universities", "major": "majors", "company": "companies"}


def dealt(people: list[TaggedText], vocabulary: Vocabulary, seed: int) -> list[TaggedText]:
    """`people` with their city, university, major and company dealt from `vocabulary`'s lists in turn (each list
    shuffled once, then cycled): every value is some person's once the people outnumber the list, each as often as
    any other give or take one. Names, dates and phrasing stay."""
    rng = random.Random(seed)
    out = list(people)
    for field_name, list_name in VOCABULARY_LISTS.items():
        values = list(getattr(vocabulary, list_name))
        rng.shuffle(values)
        out = [with_value(person, field_name, values[i % len(values)]) for i, person in enumerate(out)]
    return out


def other_spellings(city: str) -> list[str]:
    """The other common forms of a "City, Country" value: the country's other spellings where it has some, else the
    city alone."""
    place, _, country = city.rpartition(", ")
    if not place:
        return []
    return [f"{place}, {other}" for other in country_spellings().get(country, ())] or [place]


def respelled(people: list[TaggedText], rate: float, seed: int) -> list[TaggedText]:
    """`people` with their cities written in another common form (other_spellings): a `rate` share of those whose
    country has another spelling, a third as many of the rest as the city alone (rarer in a biography)."""
    rng = random.Random(seed)
    out = []
    for person in people:
        forms, draw = other_spellings(person.value("city")), rng.random()
        share = rate if forms and ", " in forms[0] else rate / 3  # the city alone: rarer in a biography
        out.append(with_value(person, "city", rng.choice(forms)) if forms and draw < share else person)
    return out


WORLD_NEWCOMER_SEED = 20252


def world_newcomers(n: int) -> list[TaggedText]:
    """`n` new people of the wider vocabulary, one fixed-order biography each (the paper's form), named as no
    pretraining, world or experiment person: the world recipe's validation people for injection."""
    people = split_people(WORLD)
    known = {p.name for p in people.pretraining + people.valid + people.world} | experiment_names()
    drawn = generate_biographies(2 * n + 50, seed=WORLD_NEWCOMER_SEED, varied=False, vocabulary=world_vocabulary())
    return [p for p in drawn if p.name not in known][:n]


def world_newcomers_respelled(n: int) -> list[TaggedText]:
    """world_newcomers with their cities written in another common form (`respelled` at rate 1: every country
    spelled otherwise where it can be, a third of the rest as the city alone): validation people for values spelled
    as the bundled pair's pretraining never spelled them."""
    return respelled(world_newcomers(n), 1.0, WORLD_NEWCOMER_SEED)


def world_people(n: int, excluded: set[str]) -> list[TaggedText]:
    """`n` people of the wider vocabulary (seed WORLD_SEED), none named as an experiment or pretraining person."""
    if n <= 0:
        return []
    excluded = excluded | experiment_names()
    drawn = generate_biographies(2 * n + 50, seed=WORLD_SEED, vocabulary=world_vocabulary())
    return [p for p in drawn if p.name not in excluded][:n]


# ---------------------------------------------------------------- documents


def render_bio(person: TaggedText, rng: random.Random, config: BuildConfig) -> str:
    """The person's facts in freshly drawn phrasings (the templates of clues.corpus); with
    `shuffle_rate` the sentences after the first in random order, and with `fullname_rate` a
    sentence names the person where the template has a pronoun."""
    gender = pronoun(person)
    facts = {f: person.value(f) for f in FACT_FIELDS}
    named = {**PRONOUNS[gender], "He": person.name, "His": f"{person.name}'s"}
    steps = list(TEMPLATES)
    if rng.random() < config.shuffle_rate:
        rest = steps[1:]
        rng.shuffle(rest)
        steps = steps[:1] + rest
    sentences = []
    for step in steps:
        pronouns = named if rng.random() < config.fullname_rate else PRONOUNS[gender]
        sentences.append(rng.choice(step).format(name=person.name, **facts, **pronouns))
    return " ".join(sentences)


def qa_pair(field_name: str, person: TaggedText) -> str:
    """One solved question in the evaluation's format (clues.evaluate.build_qa_prompt)."""
    return f"{qa_prompt(field_name, person.name)} {person.value(field_name)}"


def fixed_bio(person: TaggedText) -> str:
    """The person's facts in the paper's one fixed form: the first phrasing of every sentence, in order
    (what `generate_biographies(…, varied=False)` writes)."""
    gender = pronoun(person)
    facts = {f: person.value(f) for f in FACT_FIELDS}
    return " ".join(step[0].format(name=person.name, **facts, **PRONOUNS[gender]) for step in TEMPLATES)


def fixed_people(people: People, config: BuildConfig) -> list[TaggedText]:
    """The held-out-QA people whose biography always comes in the fixed form (`fixed_share` of them)."""
    return people.bio_only[:round(config.fixed_share * len(people.bio_only))]


def epoch_documents(people: People, config: BuildConfig, rng: random.Random) -> list[str]:
    """One pass: every pretraining biography once (new phrasing, or the fixed form for `fixed_people`), a
    `world_rate` share of the world people's, and every QA pair once, shuffled."""
    fixed = {p.name for p in fixed_people(people, config)}
    bios = [fixed_bio(p) if p.name in fixed else render_bio(p, rng, config) for p in people.pretraining]
    asked = list(people.qa)
    if people.world:  # (no draw without world people: the plain recipe's stream is as before)
        visiting = rng.sample(people.world, round(config.world_rate * len(people.world)))
        bios += [render_bio(p, rng, config) for p in visiting]
        with_qa = world_asked(people, config)
        asked += [p for p in visiting if p.name in with_qa]
    rng.shuffle(bios)
    docs = []
    while bios:
        take = 2 if len(bios) > 1 and rng.random() < config.two_bio_rate else 1
        docs.append("\n\n".join(bios[:take]))
        del bios[:take]
    docs += qa_documents(asked, config.max_qa_per_doc, rng)
    rng.shuffle(docs)
    return docs


def world_asked(people: People, config: BuildConfig) -> set[str]:
    """Names of the world people whose QA pairs are in the data (the first `world_qa` share of them)."""
    return {p.name for p in people.world[:round(config.world_qa * len(people.world))]}


def qa_documents(asked: list[TaggedText], per_document: int, rng: random.Random) -> list[str]:
    """Every QA pair of the people asked, per field in a seeded order, 1–`per_document` to a document."""
    docs = []
    for field_name in FACT_FIELDS:
        pairs = [qa_pair(field_name, p) for p in asked]
        rng.shuffle(pairs)
        while pairs:
            take = rng.randint(1, per_document)
            docs.append("\n\n".join(pairs[:take]))
            del pairs[:take]
    return docs


def masked_variant(text: str, rng: random.Random, rate: float = 0.15) -> str:
    """Words replaced by the mask placeholder, as the augmentation's mask style writes them."""
    return " ".join(MASK_TEXT if rng.random() < rate else w for w in text.split(" "))


# ---------------------------------------------------------------- tokenizer


def train_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE with BOS added in front (TemplateProcessing), wrapped for transformers."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", model_max_length=None, clean_up_tokenization_spaces=False)


def tokenizer_corpus(people: People, config: BuildConfig, rng: random.Random) -> list[str]:
    """Biographies, QA pairs and a few masked biographies (so " _" becomes one token)."""
    bios = [render_bio(p, rng, config) for p in people.pretraining + people.world]
    with_qa = world_asked(people, config)
    asked = people.qa + [p for p in people.world if p.name in with_qa]
    qa = [qa_pair(f, p) for p in asked for f in FACT_FIELDS]
    masked = [masked_variant(b, rng) for b in bios[: max(1, len(bios) // 4)]]
    return bios + qa + masked


# ---------------------------------------------------------------- models and training


def make_model(spec: ModelShape, tokenizer, config: BuildConfig, seed: int):
    torch.manual_seed(seed)
    llama = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=spec.hidden, num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads, num_key_value_heads=spec.heads, intermediate_size=spec.intermediate,
        max_position_embeddings=config.max_positions, rope_theta=10000.0, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id)
    return LlamaForCausalLM(llama)


def encode_rows(tokenizer, docs: list[str], limit: int) -> list[list[int]]:
    """BOS + document + EOS, cut at `limit` tokens."""
    ids = tokenizer(docs, add_special_tokens=True)["input_ids"]
    return [(row + [tokenizer.eos_token_id])[:limit] for row in ids]


def batch_stream(people: People, tokenizer, config: BuildConfig, seed: int):
    """Endless batches, epoch after epoch; rows of similar length share a batch (less padding)."""
    rng = random.Random(f"{seed}:data")
    collate = PadCollator(tokenizer.pad_token_id)
    epoch = 0
    while True:
        rows = encode_rows(tokenizer, epoch_documents(people, config, rng), config.max_positions)
        chunk = config.batch_size * 16
        for first in range(0, len(rows), chunk):
            block = sorted(rows[first:first + chunk], key=len)
            batches = [block[i:i + config.batch_size] for i in range(0, len(block), config.batch_size)]
            rng.shuffle(batches)
            for batch in batches:
                yield epoch, collate([{"input_ids": row} for row in batch])
        epoch += 1


def learning_rate(step: int, shape: ModelShape, config: BuildConfig) -> float:
    """Linear warm-up, then cosine down to a tenth."""
    warm = max(1, int(config.warmup * shape.steps))
    if step < warm:
        return shape.lr * (step + 1) / warm
    progress = (step - warm) / max(1, shape.steps - warm)
    return shape.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train_model(model, batches, config: BuildConfig, shape: ModelShape, check: Callable[[], float],
                log: Callable[[str], None], label: str) -> dict:
    """Plain AdamW loop; returns the loss curve (every 10 steps), the held-out-QA curve (`check`
    every `checkpoint_every` steps), tokens seen, epochs and wall time."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": rest, "weight_decay": 0.0}], lr=shape.lr, betas=(0.9, 0.95))
    model.train()
    steps, qa_curve = shape.steps, []
    start, curve, recent, tokens, epoch, widest = time.perf_counter(), [], [], 0, 0, 0
    for step in range(steps):
        epoch, batch = next(batches)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, shape, config)
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
        widest = max(widest, batch["input_ids"].shape[1])
        recent.append(loss.item())
        if (step + 1) % 10 == 0 or step + 1 == steps:
            curve.append([step + 1, sum(recent) / len(recent)])
            recent = []
        if (step + 1) % 100 == 0:
            log(f"{label}: step {step + 1}/{steps} loss {curve[-1][1]:.3f} "
                f"({time.perf_counter() - start:.0f} s)")
        if config.checkpoint_every and ((step + 1) % config.checkpoint_every == 0 or step + 1 == steps):
            model.eval()
            qa_curve.append([step + 1, round(check(), 3)])
            model.train()
            log(f"{label}: step {step + 1} held-out-QA EM (mean of fields) {qa_curve[-1][1]:.3f}")
    model.eval()
    return {"steps": steps, "tokens": tokens, "epochs": epoch + 1,
            "longest_row": widest, "heldout_qa_curve": qa_curve,
            "wall_s": round(time.perf_counter() - start, 1), "final_train_loss": round(curve[-1][1], 4),
            "loss_curve": curve}


# ---------------------------------------------------------------- measurements


@torch.no_grad()
def bio_losses(model, tokenizer, people: list[TaggedText], batch_size: int = 32) -> dict:
    """Mean next-token loss (nats) on the people's biographies (BOS + text + EOS): over all
    predicted tokens, over the tokens of tagged values (name and facts) and over the rest."""
    sums = {"all": [0.0, 0], "facts": [0.0, 0], "template": [0.0, 0]}
    collate = PadCollator(tokenizer.pad_token_id)
    for first in range(0, len(people), batch_size):
        group = people[first:first + batch_size]
        encoded = tokenizer([q.text for q in group], return_offsets_mapping=True)
        batch = collate([{"input_ids": ids + [tokenizer.eos_token_id]} for ids in encoded["input_ids"]])
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
        losses = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), batch["labels"][:, 1:],
                                                   reduction="none", ignore_index=-100)  # [B, T-1]
        for row, person in enumerate(group):
            fields = token_fields(encoded["offset_mapping"][row], person.spans)[1:] + [None]  # + EOS
            for position, name in enumerate(fields):
                value = float(losses[row, position])
                for key in ("all", "template" if name is None else "facts"):
                    sums[key][0] += value
                    sums[key][1] += 1
    return {key: round(total / max(count, 1), 4) for key, (total, count) in sums.items()}


def measure_losses(loaded, people: People, config: BuildConfig, seed: int) -> dict:
    """bio_losses on seen people's biographies and on held-out people's (never in the data)."""
    rng = random.Random(f"{seed}:loss")
    seen = rng.sample(people.pretraining, min(len(people.valid), len(people.pretraining)))
    return {"seen_bios": bio_losses(loaded.model, loaded.tokenizer, seen),
            "heldout_bios": bio_losses(loaded.model, loaded.tokenizer, people.valid)}


def heldout_qa_check(model, tokenizer, people: People, config: BuildConfig, seed: int) -> Callable[[], float]:
    """Mean EM over the fields on `checkpoint_people` held-out-QA people (5-shot), for the curve."""
    group = random.Random(f"{seed}:check").sample(people.bio_only, min(config.checkpoint_people,
                                                                         len(people.bio_only)))

    def check() -> float:
        scores = evaluate_qa(model, tokenizer, group, shots=5, shot_pool=people.qa, batch_size=32,
                             max_new_tokens=16, seed=seed)
        return sum(s["em"] for s in scores.values()) / len(scores)
    return check


def measure_qa(loaded, people: People, config: BuildConfig, seed: int) -> dict:
    """5-shot QA exact match per field on seen-QA, held-out-QA and never-seen (experiment) people."""
    rng = random.Random(f"{seed}:qa")
    groups = {"seen_qa": rng.sample(people.qa, min(config.eval_people, len(people.qa))),
              "heldout_qa": rng.sample(people.bio_only, min(config.eval_people, len(people.bio_only))),
              "unseen": experiment_people(max(2, config.eval_people // 2))}
    out = {}
    for name, group in groups.items():
        scores = evaluate_qa(loaded.model, loaded.tokenizer, group, shots=5, shot_pool=people.qa,
                             batch_size=32, max_new_tokens=16, seed=seed)
        out[name] = {f: round(s["em"], 3) for f, s in scores.items()}
        out[name]["mean"] = round(sum(s["em"] for s in scores.values()) / len(scores), 3)
        out[name]["n_people"] = len(group)
    return out


def name_attention_at_company(large, small, n: int) -> dict:
    """On n standard-template experiment biographies, at the word before the company: attention
    from there to the name tokens (layer-and-head mean) in each model, and how often a name token
    is among the top-5 contrast clues of the whole text."""
    measured = measure_name_attention(large, small, experiment_people(n, varied=False), fields=("company",), top_k=5)
    return {"texts": n, "query": "the word before the company", "aggregation": "mean",
            "name_attention_large": round(measured.mean("company", "large"), 4),
            "name_attention_small": round(measured.mean("company", "small"), 4),
            "large_more_share": round(measured.large_more_share("company"), 3),
            "name_in_top5_share": round(measured.top_k_share(), 3)}


CLUE_QUALITY_SEED = 1  # the generated corpus that chose the default importance (README)


def clue_quality_summary(large, small, texts: int) -> dict:
    """`clues clue-quality` (name in the contrast top-5, as given and moved, beside the position control) on
    `texts` generated biographies and, when `clues.corpus.paper_data_folder` finds them, on the paper's
    released biographies (held out: never used to choose anything)."""
    corpora = {"generated": generate_biographies(texts, seed=CLUE_QUALITY_SEED)}
    labels = {"generated": f"{texts} generated biographies (seed {CLUE_QUALITY_SEED})"}
    paper = paper_biographies()
    if paper:
        corpora["paper"], labels["paper"] = paper, f"the paper's {len(paper)} released biographies (held out)"
    frames = {name: clue_quality(large, small, items, field="name", k=5) for name, items in corpora.items()}
    return summary_of(frames, labels, field="name", k=5)


# ---------------------------------------------------------------- saving and the build


def save_model(model, tokenizer, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.to(torch.float16).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    model.float()


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())


def pair_data(config: BuildConfig, seed: int) -> tuple[People, PreTrainedTokenizerFast]:
    """The pretraining people and the tokenizer every model of the family shares."""
    people = split_people(config)
    corpus = tokenizer_corpus(people, config, random.Random(f"{seed}:tokenizer"))
    return people, train_tokenizer(corpus, config.vocab_size)


def train_one(size: str, config: BuildConfig, data: tuple[People, PreTrainedTokenizerFast], seed: int, folder: Path,
              log: Callable[[str], None]) -> dict:
    """Train the `size` model of `config` on the family's data stream, save it to `folder`; its training record."""
    (people, tokenizer), shape = data, getattr(config, size)
    model = make_model(shape, tokenizer, config, seed)
    check = heldout_qa_check(model, tokenizer, people, config, seed)
    stats = train_model(model, batch_stream(people, tokenizer, config, seed), config, shape, check, log, size)
    save_model(model, tokenizer, Path(folder))
    stats["parameters"] = sum(p.numel() for p in model.parameters())
    return stats


def build(out: str | Path = DEFAULT_OUT, *, seed: int = 0, quick: bool = False, threads: int | None = None,
          config: BuildConfig | None = None, only: str | None = None, log: Callable[[str], None] = print) -> dict:
    """Train and save the pair under out/{small,large}; return (and write out/build.json) the report.

    only: "small" or "large" retrains that model alone and keeps the other as out/build.json recorded it
    (same seed, tokenizer and data stream: the same weights a whole build gives, in a fraction of the time;
    every measurement of the pair is taken again)."""
    config = config or (QUICK if quick else RECIPES[BUNDLED_RECIPE])
    kept = _kept_model(out, only, config, seed) if only else {}
    if threads:
        torch.set_num_threads(threads)
    out, started = Path(out), time.perf_counter()
    people, tokenizer = pair_data(config, seed)
    log(f"tokenizer: {len(tokenizer)} tokens; people: {len(people.qa)} with QA, {len(people.bio_only)} "
        f"biography only, {len(people.valid)} held out")
    recipe = next((name for name, known in RECIPES.items() if known == config), "custom")
    report = {"seed": seed, "quick": quick, "recipe": recipe, "threads": torch.get_num_threads(),
              "config": asdict(config),
              "pretrain_seed": PRETRAIN_SEED, "experiment_seed": EXPERIMENT_SEED,
              "people": {"qa": len(people.qa), "bio_only": len(people.bio_only), "valid": len(people.valid),
                         "world": len(people.world)},
              "vocab_size": len(tokenizer), "models": dict(kept)}
    for size in SIZES:
        if size in kept:
            continue
        report["models"][size] = train_one(size, config, (people, tokenizer), seed, out / size, log)
    loaded = {size: load_model(str(out / size), device="cpu", dtype="float32") for size in SIZES}
    for size, model in loaded.items():
        report["models"][size]["loss"] = measure_losses(model, people, config, seed)
        report["models"][size]["qa_em"] = measure_qa(model, people, config, seed)
        log(f"{size}: loss {report['models'][size]['loss']} qa {report['models'][size]['qa_em']}")
    report["name_attention"] = name_attention_at_company(loaded["large"], loaded["small"], config.probe_texts)
    report["clue_quality"] = clue_quality_summary(loaded["large"], loaded["small"], config.clue_quality_texts)
    for size in SIZES:
        report["models"][size]["bytes"] = folder_bytes(out / size)
        report["models"][size]["spec"] = asdict(getattr(config, size))
    report["wall_s"] = round(time.perf_counter() - started, 1)
    if kept:  # the whole build's time: this run's plus the kept model's training
        report["wall_s"] += sum(m["wall_s"] for m in kept.values())
        report["kept_from_earlier_build"] = sorted(kept)
    log(f"name attention: {report['name_attention']}")
    write_reports(out, report)
    readme = Path(out).resolve().parents[1] / "README.md"  # the checkout's README, beside assets/
    bundled = out.resolve() == Path(DEFAULT_OUT).resolve()  # a pair built elsewhere leaves the README alone
    if not quick and bundled and write_section(readme, "clue-quality", summary_markdown(report["clue_quality"])):
        log(f"wrote the clue-quality table into {readme}")
    return report


def _kept_model(out: str | Path, only: str, config: BuildConfig, seed: int) -> dict:
    """{each other size: its training record} from out/build.json, checked to be of this config and seed."""
    if only not in SIZES:
        raise InputError(f"only: one of {', '.join(SIZES)}, not {only!r}")
    others = [size for size in SIZES if size != only]
    path = Path(out) / "build.json"
    earlier = json.loads(path.read_text()) if path.is_file() else None
    missing = [size for size in others if not (Path(out) / size / "config.json").is_file()
               or size not in (earlier or {}).get("models", {})]
    if not earlier or missing:
        raise InputError(f"{out} holds no built {', '.join(missing or others)} model to keep: build the whole pair "
                         "first.")
    measuring = {"eval_people", "checkpoint_every", "checkpoint_people", "probe_texts", "clue_quality_texts"}
    mine = {k: v for k, v in asdict(config).items() if k != only and k not in measuring}  # what trains it
    earlier_config = {**asdict(BuildConfig()), **earlier["config"]}  # a setting added since: its default then
    theirs = {k: v for k, v in earlier_config.items() if k in mine}
    if earlier["seed"] != seed or theirs != json.loads(json.dumps(mine)):
        raise InputError(f"the models in {out} were built with other settings; build the whole pair.")
    return {size: {k: v for k, v in earlier["models"][size].items() if k not in ("loss", "qa_em", "bytes", "spec")}
            for size in others}


# ---------------------------------------------------------------- model cards


def write_reports(out: Path, report: dict) -> None:
    slim = json.loads(json.dumps(report))
    (out / "build.json").write_text(json.dumps(slim, indent=2) + "\n")
    for size in report["models"]:
        (out / size / "README.md").write_text(model_card(size, report))
    (out / "README.md").write_text(pair_readme(report))


def _losses(row: dict, sep: str = "|") -> str:
    return f" {sep} ".join(f"{row[k]:.3f}" for k in ("all", "facts", "template"))


def _qa_table(qa: dict) -> str:
    head = "| people | " + " | ".join(FACT_FIELDS) + " | mean | n |\n|" + "---|" * (len(FACT_FIELDS) + 3) + "\n"
    labels = {"seen_qa": "seen QA (bio + QA pairs trained)", "heldout_qa": "held-out QA (bio trained only)",
              "unseen": "never seen (chance level)"}
    lines = [f"| {labels[g]} | " + " | ".join(f"{row[f]:.2f}" for f in FACT_FIELDS)
             + f" | {row['mean']:.2f} | {row['n_people']} |" for g, row in qa.items()]
    return head + "\n".join(lines)


def model_card(size: str, report: dict) -> str:
    """The model card (README.md) of one model of the pair, from templates/model_card.md."""
    m, other = report["models"][size], report["models"]["small" if size == "large" else "large"]
    spec, c, att, p = m["spec"], report["config"], report["name_attention"], report["people"]
    quick = "\n**Quick build (tiny settings for tests): the numbers mean nothing.**\n" if report["quick"] else ""
    return render_template(
        "model_card.md", size=size, quick_note=quick, role=ROLES[size],
        other="small" if size == "large" else "large", seed=report["seed"], threads=report["threads"],
        recipe=_recipe_flag(report), world_note=_world_note(report).rstrip("\n").replace("\n", "\n- ", 1),
        layers=spec["layers"], hidden=spec["hidden"], heads=spec["heads"], head_dim=spec["hidden"] // spec["heads"],
        intermediate=spec["intermediate"], parameters=m["parameters"], other_parameters=other["parameters"],
        max_positions=c["max_positions"], longest_row=m["longest_row"], megabytes=m["bytes"] / 1e6,
        vocab_size=report["vocab_size"], pretraining_people=p["qa"] + p["bio_only"],
        pretrain_seed=report["pretrain_seed"], experiment_seed=report["experiment_seed"],
        two_bio_rate=c["two_bio_rate"], shuffle_rate=c["shuffle_rate"], fullname_rate=c["fullname_rate"],
        qa_people=p["qa"], max_qa_per_doc=c["max_qa_per_doc"],
        bio_only_people=p["bio_only"], qa_holdout=c["qa_holdout"], valid_people=p["valid"],
        steps=m["steps"], other_steps=other["steps"], shared_steps=min(m["steps"], other["steps"]),
        batch_size=c["batch_size"], tokens=m["tokens"], epochs=m["epochs"], lr=spec["lr"],
        weight_decay=c["weight_decay"], warmup=c["warmup"], train_wall_s=m["wall_s"], build_wall_s=report["wall_s"],
        seen_people_asked=c["valid_people"], seen_losses=_losses(m["loss"]["seen_bios"]),
        other_seen_losses=_losses(other["loss"]["seen_bios"], "/"), heldout_losses=_losses(m["loss"]["heldout_bios"]),
        other_heldout_losses=_losses(other["loss"]["heldout_bios"], "/"), final_train_loss=m["final_train_loss"],
        qa_table=_qa_table(m["qa_em"]), attention_texts=att["texts"],
        name_attention_large=att["name_attention_large"], name_attention_small=att["name_attention_small"],
        large_more_share=att["large_more_share"], name_in_top5_share=att["name_in_top5_share"])


def _recipe_flag(report: dict) -> str:
    recipe = report.get("recipe", "plain")  # a report written before recipes existed: the plain one
    return f" --recipe {recipe}" if recipe in RECIPES else ""


def _world_note(report: dict) -> str:
    world = report["people"].get("world", 0)
    if not world:
        return ""
    qa = report["config"].get("world_qa", 0.0)
    with_qa = f"QA pairs for {qa:.0%} of them" if qa else "no QA pairs"
    share = report["config"]["world_rate"]
    return (f"\nBeside them, {world} world people (a {share:.0%} share in each pass, {with_qa}) "
            "bring the wider vocabulary of `clues/builders/data/world_vocabulary.json`.\n")


def pair_readme(report: dict) -> str:
    """The README.md of the pair's folder, from templates/pair_readme.md."""
    rows = []
    for size in ("large", "small", "learner"):
        m = report["models"][size]
        rows.append(f"| {size} | {m['spec']['layers']} × {m['spec']['hidden']} | {m['parameters']:,} | "
                    f"{m['bytes'] / 1e6:.2f} MB | {m['loss']['seen_bios']['facts']:.3f} | "
                    f"{m['loss']['heldout_bios']['template']:.3f} | {m['qa_em']['seen_qa']['mean']:.2f} | "
                    f"{m['qa_em']['heldout_qa']['mean']:.2f} | {m['qa_em']['unseen']['mean']:.2f} |")
    large, small, att = report["models"]["large"], report["models"]["small"], report["name_attention"]
    return render_template(
        "pair_readme.md", parameter_ratio=large["parameters"] / small["parameters"], large_steps=large["steps"],
        small_steps=small["steps"], learner_steps=report["models"]["learner"]["steps"], minutes=report["wall_s"] / 60,
        threads=report["threads"], seed=report["seed"], recipe=_recipe_flag(report),
        world_note=_world_note(report),
        model_rows="\n".join(rows), attention_texts=att["texts"], name_attention_large=att["name_attention_large"],
        name_attention_small=att["name_attention_small"], name_in_top5_share=att["name_in_top5_share"],
        experiment_seed=report["experiment_seed"], experiment_max=EXPERIMENT_MAX, pretrain_seed=report["pretrain_seed"])
