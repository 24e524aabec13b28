import json
import re

import pytest
import torch

from clues.cli import main
from clues.corpus import generate_biographies, read_tagged_csv
from clues.errors import InputError
from clues.evaluate import (
    _StopAtNewline,
    build_qa_prompt,
    evaluate_qa,
    exact_match,
    f1_score,
    first_line,
    generate_continuations,
    normalize_answer,
    probe_examples,
    qa_examples,
    recall_probe,
    recalled,
)
from clues.models import load_model
from clues.text import parse_tagged

from tiny import build_tokenizer, tiny_model_dir

FACTS = ("date", "city", "university", "major", "company")


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tiny_model_dir(tmp_path_factory.mktemp("tiny-eval"), "llama")
    return folder, load_model(str(folder), device="cpu", dtype="float32")


# ---------------------------------------------------------------- metrics


def test_normalize_answer():
    assert normalize_answer("  The University of  Lisbon. ") == "university of lisbon"
    assert normalize_answer("An apple, a day!") == "apple day"
    assert normalize_answer("Theory") == "theory"  # articles only as whole words


def test_exact_match_and_f1():
    assert exact_match("the British Museum", "British Museum.") == 1.0
    assert exact_match("Museum", "British Museum") == 0.0
    assert f1_score("British Museum", "the British Museum") == 1.0
    assert f1_score("Madrid", "Madrid, Spain") == pytest.approx(2 / 3)
    assert f1_score("Lyon", "Madrid, Spain") == 0.0
    assert f1_score("", "Madrid") == 0.0 and f1_score("", "") == 1.0
    assert f1_score("x b b", "b b c") == pytest.approx(2 / 3)
    assert f1_score("a b b", "b b c") == pytest.approx(0.8)  # "a" is an article, dropped


def test_first_line_and_recalled():
    assert first_line(" Madrid, Spain\n\nWhat is") == "Madrid, Spain"
    assert recalled(" May 4, 1948. He grew up", "May 4, 1948")
    assert recalled("the Alder Museum of Science", "the Alder Museum of Science")
    assert not recalled("May 4, 19480", "May 4, 1948")  # word boundary
    assert not recalled("Lyon, France", "May 4, 1948")


# ---------------------------------------------------------------- prompt construction


def test_build_qa_prompt_matches_the_paper_format():
    prompt = build_qa_prompt("city", "Ana Li", [("Bo Wu", "Oslo, Norway"), ("Cy Ng", "Lima, Peru")])
    assert prompt == ("What is the birth city of Bo Wu?\nAnswer: Oslo, Norway\n\n"
                      "What is the birth city of Cy Ng?\nAnswer: Lima, Peru\n\n"
                      "What is the birth city of Ana Li?\nAnswer:")
    assert build_qa_prompt("major", "Ana Li") == "Which major did Ana Li study?\nAnswer:"


def test_qa_examples_never_use_the_person_asked():
    people = generate_biographies(8, seed=1)
    examples = qa_examples(people, shots=5, seed=0)
    assert len(examples) == 8 * 5
    for e in examples:
        shots = re.findall(r"of (.+?)\?\nAnswer: ", e["prompt"]) + re.findall(
            r"did (.+?) (?:attend|study|work for)\?\nAnswer: ", e["prompt"])
        assert len(shots) == 5 and e["name"] not in shots
        assert e["prompt"].endswith(build_qa_prompt(e["field"], e["name"]))
    assert qa_examples(people, shots=5, seed=0) == examples
    assert qa_examples(people, shots=5, seed=1) != examples
    # a person's prompt does not depend on the fields asked alongside
    city_only = qa_examples(people, fields=["city"], shots=5, seed=0)
    assert city_only == [e for e in examples if e["field"] == "city"]


def test_qa_examples_with_a_shot_pool_and_few_people():
    people, pool = generate_biographies(3, seed=1), generate_biographies(20, seed=9)
    examples = qa_examples(people, fields="date", shots=4, shot_pool=pool)
    pool_names = {p.name for p in pool} - {p.name for p in people}
    for e in examples:
        named = set(re.findall(r"of (.+?)\?\nAnswer: ", e["prompt"])) - {e["name"]}
        assert len(named) == 4 and named <= pool_names
    # fewer others than shots: use them all
    assert all(e["prompt"].count("Answer:") == 3 for e in qa_examples(people, shots=5))
    assert all(e["prompt"].count("Answer:") == 1 for e in qa_examples(people, shots=0))


def test_qa_examples_errors():
    people = generate_biographies(3)
    for bad in (dict(fields=["name"]), dict(fields=["hobby"]), dict(shots=-1)):
        with pytest.raises(InputError):
            qa_examples(people, **bad)
    with pytest.raises(InputError, match="name"):
        qa_examples([parse_tagged("no tags here")])
    with pytest.raises(InputError, match="major"):
        qa_examples([parse_tagged("<name>A</name> b <city>C</city>")], fields=["major"])


def test_probe_prompts_swap_earlier_facts_and_stop_before_the_target():
    people = generate_biographies(10, seed=4, varied=False)
    examples = probe_examples(people, seed=0)
    assert len(examples) == 10 * 5
    by_name = {p.name: p for p in people}
    for e in examples:
        person = by_name[e["name"]]
        target = person.span(e["field"])
        assert e["prompt"].startswith(person.name) and e["prompt"] == e["prompt"].rstrip()
        assert e["answer"] == person.value(e["field"])
        earlier = [f for f in FACTS if person.span(f).start < target.start]
        for field in earlier:  # the person's own earlier facts are gone
            assert person.value(field) not in e["prompt"]
        assert e["prompt"].endswith(person.text[:target.start].rstrip()[-12:])
    company = next(e for e in examples if e["field"] == "company")
    assert company["prompt"].endswith("had a professional role at")
    assert probe_examples(people, seed=0) == examples


def test_probe_needs_two_people():
    with pytest.raises(InputError, match="at least 2"):
        probe_examples(generate_biographies(1))


# ---------------------------------------------------------------- a fake model with known answers


class FakeLM(torch.nn.Module):
    """`generate` answers from a table (or a fixed text), checking the batch it is given."""

    def __init__(self, tokenizer, answers=None, fixed=None):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.tokenizer, self.answers, self.fixed = tokenizer, answers or {}, fixed
        self.prompts, self.calls = [], []

    def generate(self, input_ids, attention_mask, **kwargs):
        assert not self.training and not torch.is_grad_enabled()
        assert attention_mask[:, -1].all()  # left padding: every row ends at the last column
        self.calls.append(kwargs)
        new = []
        for ids, mask in zip(input_ids, attention_mask):
            prompt = self.tokenizer.decode(ids[mask.bool()], skip_special_tokens=True)
            self.prompts.append(prompt)
            new.append(self.tokenizer.encode(self._answer(prompt), add_special_tokens=False))
        width = max(map(len, new))
        pad = self.tokenizer.pad_token_id
        new = torch.tensor([row + [pad] * (width - len(row)) for row in new])
        return torch.cat([input_ids, new], dim=1)

    def _answer(self, prompt):
        if self.fixed is not None:
            return self.fixed
        if prompt.endswith("\nAnswer:"):  # QA: look up the last question's (name, field)
            last = prompt.split("\n\n")[-1]
            for (name, field), value in self.answers.items():
                if name in last and field in last:
                    return f" {value}\n\nWhat is"
        for name, facts in self.by_name.items():  # recall probe: the text before the target
            if prompt.startswith(name):
                return " " + facts[self.target(prompt)] + ". More text"
        return " nothing"


def _fake_for(people, tokenizer):
    fields_of = {"date": "birth date", "city": "birth city", "university": "university",
                 "major": "major", "company": "company"}
    fake = FakeLM(tokenizer, {(p.name, fields_of[f]): p.value(f) for p in people for f in FACTS})
    fake.by_name = {p.name: {f: p.value(f) for f in FACTS} for p in people}
    endings = {"born on": "date", "years in": "city", "members at": "university",
               "focus on": "major", "role at": "company"}
    fake.target = lambda prompt: next(f for end, f in endings.items() if prompt.endswith(end))
    return fake


def test_evaluate_qa_perfect_answers_score_one(tokenizer):
    people = generate_biographies(6, seed=2, varied=False)
    fake = _fake_for(people, tokenizer)
    fake.train()
    tokenizer.padding_side = "right"
    result = evaluate_qa(fake, tokenizer, people, shots=3, batch_size=4, max_new_tokens=7,
                         return_predictions=True)
    assert list(result) == list(FACTS) + ["predictions"]
    for field in FACTS:
        predictions = [p["prediction"] for p in result["predictions"] if p["field"] == field]
        assert result[field] == {"em": 1.0, "f1": 1.0, "n": 6}, (field, predictions)
    assert fake.training and tokenizer.padding_side == "right"  # both restored
    assert {c["max_new_tokens"] for c in fake.calls} == {7}
    assert all(c["do_sample"] is False and c["pad_token_id"] == tokenizer.pad_token_id for c in fake.calls)
    assert len(fake.calls) == 8  # 30 prompts in batches of 4
    predictions = result["predictions"]
    assert len(predictions) == 30 and sorted(fake.prompts) == sorted(p["prompt"] for p in predictions)
    first = predictions[0]
    assert first["prediction"] == first["answer"] and first["prompt"].count("Answer:") == 4


def test_evaluate_qa_cuts_the_answer_at_the_newline(tokenizer):
    cities = ["Madrid, Spain", "Valencia, Spain", "Madrid", "Lyon, France"]
    people = [parse_tagged(f"<name>Person {i}</name> grew up in <city>{city}</city>.")
              for i, city in zip("ABCD", cities)]
    fake = FakeLM(tokenizer, fixed=" Madrid, Spain\nWhat is the birth")
    result = evaluate_qa(fake, tokenizer, people, fields=["city"], shots=1, return_predictions=True)
    assert {p["prediction"] for p in result["predictions"]} == {"Madrid, Spain"}
    # by hand, the prediction "madrid spain" against each truth: exact for the first only; F1 1,
    # 1/2 ("spain" of 2 and 2 tokens), 2/3 ("madrid": precision 1/2, recall 1), 0
    assert [p["f1"] for p in result["predictions"]] == pytest.approx([1, 1 / 2, 2 / 3, 0])
    assert result["city"]["em"] == pytest.approx(1 / 4)
    assert result["city"]["f1"] == pytest.approx((1 + 1 / 2 + 2 / 3 + 0) / 4) and result["city"]["n"] == 4


def test_recall_probe_with_known_answers(tokenizer):
    people = generate_biographies(5, seed=3, varied=False)
    fake = _fake_for(people, tokenizer)
    result = recall_probe(fake, tokenizer, people, batch_size=3, return_predictions=True)
    assert {f: r for f, r in result.items() if f != "predictions"} == {
        f: {"recall": 1.0, "n": 5} for f in FACTS}
    wrong = recall_probe(FakeLM(tokenizer, fixed=" nothing at all"), tokenizer, people, fields=["city"])
    assert wrong == {"city": {"recall": 0.0, "n": 5}}


def test_stop_at_newline(tokenizer):
    prompt = tokenizer(["Answer:"], return_tensors="pt")["input_ids"]
    stop = _StopAtNewline(tokenizer, prompt.shape[1])
    more = tokenizer(["Answer: Madrid\nWhat", "Answer: Madrid"], return_tensors="pt", padding=True)
    assert stop(more["input_ids"], None).tolist() == [True, False]


# ---------------------------------------------------------------- a tiny real model


def test_left_padded_batches_match_one_by_one(tiny):
    _, loaded = tiny
    prompts = ["Liam Thompson was born on", "What is the birth city of Ana Herrera?\nAnswer: Madrid, Spain\n\n"
               "What is the birth city of Liam Thompson?\nAnswer:"]
    together = generate_continuations(loaded.model, loaded.tokenizer, prompts, max_new_tokens=5)
    alone = [generate_continuations(loaded.model, loaded.tokenizer, [p], max_new_tokens=5)[0] for p in prompts]
    assert together == alone


def test_evaluate_qa_and_probe_run_on_a_tiny_model(tiny):
    _, loaded = tiny
    model, tokenizer = loaded.model, loaded.tokenizer
    model.train()
    side = tokenizer.padding_side
    people = generate_biographies(4, seed=0)
    qa = evaluate_qa(model, tokenizer, people, shots=2, max_new_tokens=4, batch_size=8)
    assert set(qa) == set(FACTS)
    for row in qa.values():
        assert row["n"] == 4 and 0 <= row["em"] <= row["f1"] <= 1
    probe = recall_probe(model, tokenizer, people, fields=["city", "company"], max_new_tokens=4)
    assert set(probe) == {"city", "company"}
    assert all(r["n"] == 4 and 0 <= r["recall"] <= 1 for r in probe.values())
    assert model.training and tokenizer.padding_side == side


# ---------------------------------------------------------------- CLI


def test_cli_bios(tmp_path, capsys):
    out = tmp_path / "x.csv"
    assert main(["bios", "--n", "20", "--seed", "0", "--out", str(out)]) == 0
    assert "20 biographies" in capsys.readouterr().out
    assert list(read_tagged_csv(out)) == generate_biographies(20, 0)
    assert main(["bios", "--n", "5", "--out", str(out), "--standard"]) == 0
    assert list(read_tagged_csv(out)) == generate_biographies(5, 0, varied=False)


def test_cli_bios_bad_count(capsys):
    assert main(["bios", "--n", "0", "--out", "unused.csv"]) == 2
    assert "positive" in capsys.readouterr().err


def test_cli_evaluate(tiny, tmp_path, capsys):
    folder, _ = tiny
    data = tmp_path / "bios.csv"
    main(["bios", "--n", "6", "--out", str(data)])
    capsys.readouterr()
    args = ["evaluate", "--model", str(folder), "--data", str(data), "--shots", "2", "--max-people", "3",
            "--max-new-tokens", "3", "--device", "cpu"]
    assert main(args + ["--json", "--fields", "city", "date"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["people"] == 3 and set(report["qa"]) == {"city", "date"}
    assert set(report["recall_probe"]) == {"city", "date"}
    assert main(args + ["--no-probe"]) == 0
    text = capsys.readouterr().out
    assert "qa:" in text and "recall_probe" not in text and "university" in text
    assert main(["evaluate", "--model", str(folder), "--data", str(tmp_path / "none.csv")]) == 2
    assert "not found" in capsys.readouterr().err
