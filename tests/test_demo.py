"""The bundled demo pair (assets/demo-models) and its builder (clues/builders/demo_pair.py, `clues demo …`)."""

import json
import os
import random
from collections import Counter
from pathlib import Path

import pytest
from safetensors import safe_open

from clues.builders import demo_pair
from clues.capture import tokenize
from clues.cli import build_parser, main
from clues.corpus import DEMO_VOCABULARY, experiment_names, experiment_people, generate_biographies
from clues.models import DEMO_LARGE, DEMO_SMALL, load_model


@pytest.fixture(scope="module")
def pair():
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    return load_model(DEMO_LARGE, device="cpu"), load_model(DEMO_SMALL, device="cpu")


def test_committed_pair_is_one_family_and_large_is_larger(pair):
    large, small = pair
    assert large.model.config.model_type == small.model.config.model_type == "llama"
    assert large.n_layers >= small.n_layers and large.n_parameters > 4 * small.n_parameters
    assert large.model.config.hidden_size > small.model.config.hidden_size
    assert large.context_length >= 512 and small.context_length >= 512
    assert Path(DEMO_LARGE, "tokenizer.json").read_bytes() == Path(DEMO_SMALL, "tokenizer.json").read_bytes()
    text = "Ada Lovelace was born on December 10, 1815. She worked for the Analytical Engine Company."
    assert large.tokenizer(text)["input_ids"] == small.tokenizer(text)["input_ids"]


def test_committed_weights_are_float16_safetensors_and_small():
    total = 0
    for folder in (DEMO_LARGE, DEMO_SMALL):
        files = sorted(p.name for p in Path(folder).iterdir())
        expected = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"}
        assert expected <= set(files)
        assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)
        with safe_open(str(Path(folder, "model.safetensors")), "pt") as handle:
            assert {str(handle.get_slice(k).get_dtype()) for k in handle.keys()} == {"F16"}
        total += sum(p.stat().st_size for p in Path(folder).iterdir())
    assert total < 30e6


def test_tokenizer_adds_bos_keeps_offsets_and_mask_is_one_token(pair):
    tokenizer = pair[0].tokenizer
    text = experiment_people(3)[2].text
    ids, offsets, special, tokens, _ = tokenize(tokenizer, text, None)
    assert ids[0] == tokenizer.bos_token_id and special[0] and not special[1:].any()
    for position, ((start, end), token_id) in enumerate(zip(offsets[1:], ids[1:].tolist())):
        decoded = tokenizer.decode([token_id])
        # the first word gets the prefix space the text does not have (as in Llama's tokenizer)
        assert text[start:end] == (decoded[1:] if position == 0 else decoded)
    for masked in ("_", " _"):
        assert len(tokenizer(masked, add_special_tokens=False)["input_ids"]) == 1
    assert tokenizer.pad_token and tokenizer.eos_token and tokenizer.unk_token


def test_contrast_cli_opens_on_the_bundled_pair(capsys):
    text = ("<name>Liam Thompson</name> was born on <date>January 5, 1990</date>. "
            "He had a professional role at <company>Polaris Energy</company>.")
    assert main(["contrast", "--text", text, "--top-k", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["large"] == DEMO_LARGE and out["small"] == DEMO_SMALL and out["level"] == "token"
    assert len(out["top"]) == 3 and {"name", "company"} <= {t["field"] for t in out["tokens"]}


def test_committed_cards_are_the_templates_filled_from_build_json():
    folder = Path(DEMO_LARGE).parent
    report = json.loads((folder / "build.json").read_text())
    for size in ("large", "small"):
        assert (folder / size / "README.md").read_text() == demo_pair.model_card(size, report)
    assert (folder / "README.md").read_text() == demo_pair.pair_readme(report)


def test_documents_hold_qa_pairs_of_qa_people_only():
    config = demo_pair.BuildConfig(people=30, valid_people=5)
    people = demo_pair.split_people(config)
    docs = demo_pair.epoch_documents(people, config, random.Random(0))
    joined = "\n\n".join(docs)
    for person in people.pretraining:
        assert person.value("company") in joined and person.name in joined
    for person in people.bio_only + people.valid:
        assert f"{person.name}?" not in joined
    for person in people.valid:
        assert person.name not in joined
    assert "What is the birth city of " in joined and "\nAnswer: " in joined
    first = people.qa[0]
    assert f"Which company did {first.name} work for?\nAnswer: {first.value('company')}" in joined


def test_quick_build_end_to_end(tmp_path, capsys):
    out = tmp_path / "pair"
    assert main(["demo", "build", "--quick", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["quick"] and set(report["models"]) == {"small", "large", "learner"}
    assert {"seen_qa", "heldout_qa", "unseen"} <= set(report["models"]["large"]["qa_em"])
    large, small = load_model(str(out / "large"), device="cpu"), load_model(str(out / "small"), device="cpu")
    assert large.n_parameters > small.n_parameters
    assert (out / "large" / "README.md").read_text().startswith("# clues demo model — large")
    assert main(["contrast", "--large", str(out / "large"), "--small", str(out / "small"),
                 "--text", "Ana Silva worked for Polaris Energy.", "--json"]) == 0
    capsys.readouterr()
    assert main(["demo", "info", "--out", str(out)]) == 0
    assert "parameters" in capsys.readouterr().out


def test_info_without_a_build_is_one_clear_error(tmp_path, capsys):
    assert main(["demo", "info", "--out", str(tmp_path)]) == 2
    assert "demo build" in capsys.readouterr().err


def test_committed_pair_extracts_knowledge_and_finds_the_name():
    """What the build measured (build.json): people known only from biographies are answered (held-out
    QA, mean over the five fields), and the contrast still puts a name token in the top-5 of most texts."""
    report = json.loads((Path(DEMO_LARGE).parent / "build.json").read_text())
    heldout = {size: report["models"][size]["qa_em"]["heldout_qa"]["mean"] for size in ("large", "small")}
    assert heldout["large"] >= 0.6 and heldout["small"] >= 0.3, heldout
    unseen = report["models"]["large"]["qa_em"]["unseen"]["mean"]
    assert unseen < 0.1, "never-seen people must stay at chance"
    rows = report["clue_quality"]["corpora"]["generated"]["rows"]
    total = {r["texts"]: r["share_in_top_k"] for r in rows if r["ranking"] == "total"}
    assert total["as given"] >= 0.8 and total["moved"] >= 0.6, total
    attention = report["name_attention"]
    assert attention["name_attention_large"] > attention["name_attention_small"], attention


def test_the_bundled_pair_is_what_demo_build_builds_by_default(capsys):
    """`clues demo build` without --recipe rebuilds the bundled pair: its recipe, and the command its card shows."""
    report = json.loads((Path(DEMO_LARGE).parent / "build.json").read_text())
    assert report["recipe"] == demo_pair.BUNDLED_RECIPE
    assert build_parser().parse_args(["demo", "build"]).recipe == demo_pair.BUNDLED_RECIPE
    assert f"--recipe {demo_pair.BUNDLED_RECIPE}" in (Path(DEMO_LARGE).parent / "README.md").read_text()


def test_biographies_are_paraphrased_shuffled_and_name_the_person():
    config = demo_pair.BuildConfig(people=30, valid_people=5, shuffle_rate=1.0, fullname_rate=1.0)
    person = demo_pair.split_people(config).qa[0]
    rng = random.Random(0)
    bios = [demo_pair.render_bio(person, rng, config) for _ in range(20)]
    assert all(bio.startswith(person.name) or f" {person.name} " in bio.split(".")[0] + " " for bio in bios)
    orders = {tuple(sorted((bio.index(person.value(f)), f) for f in ("city", "university", "major", "company")))
              for bio in bios}
    assert len({tuple(f for _, f in order) for order in orders}) > 1  # the later sentences move
    assert all(bio.count(person.name) >= 4 for bio in bios)  # every sentence names the person
    plain = demo_pair.BuildConfig(people=30, valid_people=5, shuffle_rate=0.0, fullname_rate=0.0)
    fixed = [demo_pair.render_bio(person, rng, plain) for _ in range(10)]
    assert all(bio.count(person.name) <= 2 for bio in fixed)
    assert all(bio.index(person.value("city")) < bio.index(person.value("company")) for bio in fixed)



def test_fixed_people_read_the_papers_one_form_at_every_exposure():
    """fixed_share: that share of the held-out-QA people come in the experiment's fixed form every epoch
    (what `experiment_people(…, varied=False)` writes); everyone else is phrased anew."""
    config = demo_pair.BuildConfig(people=30, valid_people=5, fixed_share=0.4)
    people = demo_pair.split_people(config)
    fixed = demo_pair.fixed_people(people, config)
    assert len(fixed) == round(0.4 * len(people.bio_only)) and set(map(id, fixed)) <= set(map(id, people.bio_only))
    assert demo_pair.fixed_bio(experiment_people(1, varied=False)[0]) == experiment_people(1, varied=False)[0].text
    rng = random.Random(0)
    for _ in range(3):
        joined = "\n\n".join(demo_pair.epoch_documents(people, config, rng))
        assert all(demo_pair.fixed_bio(person) in joined for person in fixed)
    varied = people.qa[0]
    assert sum(demo_pair.fixed_bio(varied) in "\n\n".join(demo_pair.epoch_documents(people, config, rng))
               for _ in range(5)) < 5
    assert demo_pair.fixed_people(people, demo_pair.BuildConfig(people=30, valid_people=5)) == []

def test_world_people_widen_the_words_and_visit_a_share_of_passes():
    """--recipe world: biographies from the wider vocabulary beside the demo's own people, `world_rate` of them
    per pass, none named as anyone else; the demo's people, QA pairs and measurements are those of the plain recipe."""
    world = demo_pair.world_vocabulary()
    for words in ("male_first", "female_first", "last", "cities", "universities", "majors", "companies"):
        own, wide = getattr(DEMO_VOCABULARY, words), getattr(world, words)
        assert wide[:len(own)] == own and len(wide) > 1.4 * len(own) and len(set(wide)) == len(wide)
    assert not set(world.male_first) & set(world.female_first)
    config = demo_pair.BuildConfig(people=30, valid_people=5, world_people=40, world_rate=0.25)
    people, plain = demo_pair.split_people(config), demo_pair.split_people(demo_pair.BuildConfig(people=30,
                                                                                                 valid_people=5))
    assert (people.qa, people.bio_only, people.valid) == (plain.qa, plain.bio_only, plain.valid)
    names = {p.name for p in people.world}
    assert len(names) == 40 and not names & ({p.name for p in people.pretraining + people.valid} | experiment_names())
    assert any(p.value("city") not in DEMO_VOCABULARY.cities for p in people.world)
    joined = "\n\n".join(demo_pair.epoch_documents(people, config, random.Random(0)))
    visiting = [p for p in people.world if p.name in joined]
    assert len(visiting) == 10 and all(p.name in joined for p in people.pretraining)
    assert not any(f"{p.name}?\nAnswer:" in joined for p in people.world)  # world people have no QA pairs
    assert any(f"{p.name}?\nAnswer:" in joined for p in people.qa)
    config = demo_pair.BuildConfig(people=30, valid_people=5, world_people=40, world_rate=1.0, world_qa=0.5)
    joined = "\n\n".join(demo_pair.epoch_documents(people, config, random.Random(0)))
    assert [f"{p.name}?\nAnswer:" in joined for p in people.world] == [True] * 20 + [False] * 20
    newcomers = demo_pair.world_newcomers(20)
    assert not {p.name for p in newcomers} & names and newcomers[0].text == demo_pair.fixed_bio(newcomers[0])


def test_the_world_validation_people_are_in_no_recipes_data():
    """world_newcomers (the validation people a recipe is judged on) share no name with the pretraining, held-out
    or world people of any recipe: a recipe with more world people must not read a validation person."""
    newcomers = {p.name for p in demo_pair.world_newcomers(100)}
    assert len(newcomers) == 100
    for name, recipe in demo_pair.RECIPES.items():
        people = demo_pair.split_people(recipe)
        assert not newcomers & {p.name for p in people.pretraining + people.valid + people.world}, name


def test_world_covered_deals_every_value_of_the_vocabulary_to_some_world_person():
    """--recipe world-covered: world-wide's people, the same names, dates and phrasing, their city, university, major
    and company dealt from the world vocabulary's lists in turn: every city read by three or four world people (drawn
    at random, some are read by none), every university, major and company by some; the rest of the data as before."""
    covered, wide = (demo_pair.split_people(demo_pair.RECIPES[r]) for r in ("world-covered", "world-wide"))
    assert (covered.qa, covered.bio_only, covered.valid) == (wide.qa, wide.bio_only, wide.valid)
    assert [p.name for p in covered.world] == [p.name for p in wide.world]
    vocabulary = demo_pair.world_vocabulary()
    for field_name, list_name in demo_pair.VOCABULARY_LISTS.items():
        values = getattr(vocabulary, list_name)
        read = Counter(p.value(field_name) for p in covered.world)
        assert set(read) == set(values), field_name
        assert max(read.values()) - min(read.values()) <= 1, field_name
    assert min(Counter(p.value("city") for p in covered.world).values()) >= 3
    assert set(Counter(p.value("city") for p in wide.world)) < set(vocabulary.cities)  # at random: some unread
    for new, old in zip(covered.world, wide.world):
        assert new.value("date") == old.value("date") and new.value("name") == old.value("name")
        assert new.text.split(new.value("city"))[0] == old.text.split(old.value("city"))[0]  # same phrasing
    assert demo_pair.dealt(wide.world, vocabulary, 1) == demo_pair.dealt(wide.world, vocabulary, 1)


def test_world_spellings_write_some_world_cities_in_other_common_forms():
    """--recipe world-spellings: the world people of world-qa, the same names and facts, a share of their cities in
    another common form (the country's other spelling, else the city alone); the validation people for it are the
    world newcomers written so. Nothing else changes."""
    assert demo_pair.other_spellings("Denver, United States")[0] == "Denver, USA"
    assert "Bristol, United Kingdom" in demo_pair.other_spellings("Bristol, England")
    assert demo_pair.other_spellings("Washington, D.C., United States")[0] == "Washington, D.C., USA"
    assert demo_pair.other_spellings("Lima, Peru") == ["Lima"] and demo_pair.other_spellings("Lima") == []
    spelled, plain = (demo_pair.split_people(demo_pair.RECIPES[r]) for r in ("world-spellings", "world-qa"))
    assert (spelled.qa, spelled.bio_only, spelled.valid) == (plain.qa, plain.bio_only, plain.valid)
    changed = [(a, b) for a, b in zip(spelled.world, plain.world) if a != b]
    assert [p.name for p in spelled.world] == [p.name for p in plain.world] and 0.15 < len(changed) / 600 < 0.35
    for new, old in changed:
        assert new.value("city") in demo_pair.other_spellings(old.value("city"))
        assert new.text == old.text.replace(old.value("city"), new.value("city"))
        assert [new.value(f) for f in ("name", "date", "university", "major", "company")] == \
            [old.value(f) for f in ("name", "date", "university", "major", "company")]
    assert any(", " in a.value("city") for a, _ in changed) and any(", " not in a.value("city") for a, _ in changed)
    newcomers, respelled = demo_pair.world_newcomers(100), demo_pair.world_newcomers_respelled(100)
    assert [p.name for p in respelled] == [p.name for p in newcomers]
    assert all(a.value("city") != b.value("city") for a, b in zip(respelled, newcomers)
               if demo_pair.country_spellings().get(b.value("city").rpartition(", ")[2]))
    assert respelled == demo_pair.world_newcomers_respelled(100)
    assert demo_pair.respelled(newcomers, 0.0, 1) == newcomers
    for recipe in demo_pair.RECIPES:  # every recipe can be built from the command line
        assert build_parser().parse_args(["demo", "build", "--recipe", recipe]).recipe == recipe


def test_a_vocabulary_draws_every_value_from_its_lists():
    world = demo_pair.world_vocabulary()
    people = generate_biographies(200, seed=3, vocabulary=world)
    assert all(p.value("company") in world.companies and p.value("city") in world.cities for p in people)
    assert any(p.value("company") not in DEMO_VOCABULARY.companies for p in people)
    assert generate_biographies(50, seed=3) == generate_biographies(50, seed=3, vocabulary=DEMO_VOCABULARY)


def test_rebuilding_one_model_keeps_the_other_and_equals_a_whole_build(tmp_path, capsys):
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert main(["demo", "build", "--quick", "--out", str(whole), "--json", "--threads", "1"]) == 0
    assert main(["demo", "build", "--quick", "--out", str(part), "--json", "--threads", "1"]) == 0
    large_before = (part / "large" / "model.safetensors").read_bytes()
    (part / "small" / "model.safetensors").unlink()
    capsys.readouterr()
    assert main(["demo", "build", "--quick", "--out", str(part), "--only", "small", "--json", "--threads", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kept_from_earlier_build"] == ["large", "learner"]
    assert (part / "large" / "model.safetensors").read_bytes() == large_before
    assert (part / "small" / "model.safetensors").read_bytes() == (whole / "small" / "model.safetensors").read_bytes()
    assert main(["demo", "build", "--quick", "--out", str(tmp_path / "none"), "--only", "small"]) == 2
    assert "build the whole pair first" in capsys.readouterr().err
