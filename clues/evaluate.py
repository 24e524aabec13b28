"""Does the model know the facts? Few-shot QA per field, and a recall probe.

`evaluate_qa` asks "What is the birth city of {name}?\\nAnswer:" after k solved examples about
other people (the paper's protocol: shots joined by blank lines, greedy decoding, the answer cut
at the first newline, SQuAD exact match and F1). Scores are fractions in [0, 1], not percent.

`recall_probe` feeds the person's own biography up to a fact, with every earlier fact swapped for
another person's, and checks whether the greedy continuation starts with the true value: only
the name links the prompt to the fact, so success means the fact is recalled through the name.
"""

from __future__ import annotations

import contextlib
import random
import re
import string
from collections import Counter
from typing import Sequence

import torch
from transformers import StoppingCriteriaList

from clues.corpus import FACT_FIELDS, qa_prompt
from clues.errors import CluesError, InputError
from clues.text import TaggedText

# ---------------------------------------------------------------- SQuAD metrics

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and the articles a/an/the, collapse whitespace (SQuAD)."""
    text = "".join(ch for ch in str(text).lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def f1_score(prediction: str, truth: str) -> float:
    """Token-overlap F1 of the normalised answers; 1.0 when both are empty."""
    pred, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


# ---------------------------------------------------------------- generation


@contextlib.contextmanager
def _eval_mode(model):
    was_training = bool(getattr(model, "training", False))
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


@contextlib.contextmanager
def _left_padding(tokenizer):
    """Pad on the left (generation continues every row at the same last column); yield pad id."""
    side, pad = tokenizer.padding_side, tokenizer.pad_token
    if pad is None:
        if tokenizer.eos_token is None:
            raise CluesError("the tokenizer has neither a pad nor an end-of-text token to pad with")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    try:
        yield tokenizer.pad_token_id
    finally:
        tokenizer.padding_side = side
        if pad is None:
            tokenizer.pad_token = None


def _model_device(model) -> torch.device:
    device = getattr(model, "device", None)
    if device is not None:
        return torch.device(device)
    return next(model.parameters()).device


class _StopAtNewline:
    """Stopping criterion: a row is done once its new text holds a newline (answers are one line)."""

    def __init__(self, tokenizer, prompt_length: int):
        self.tokenizer, self.prompt_length = tokenizer, prompt_length

    def __call__(self, input_ids, scores=None, **kwargs):
        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_length :], skip_special_tokens=True)
        return torch.tensor(["\n" in t for t in texts], dtype=torch.bool, device=input_ids.device)


def generate_continuations(
    model, tokenizer, prompts: Sequence[str], *, batch_size: int = 16, max_new_tokens: int = 24,
    stop_at_newline: bool = True,
) -> list[str]:
    """Greedy continuations of `prompts` (decoded new text only), batched with left padding.

    Prompts are batched by length (less padding); results come back in the given order.
    """
    if batch_size < 1 or max_new_tokens < 1:
        raise InputError("batch size and max new tokens must be at least 1")
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out = [""] * len(prompts)
    with _eval_mode(model), _left_padding(tokenizer) as pad_id:
        device = _model_device(model)
        for first in range(0, len(order), batch_size):
            rows = order[first : first + batch_size]
            batch = tokenizer([prompts[i] for i in rows], return_tensors="pt", padding=True)
            input_ids = batch["input_ids"].to(device)  # [B, T], left-padded
            extra = {}
            if stop_at_newline:
                stop = _StopAtNewline(tokenizer, input_ids.shape[1])
                extra["stopping_criteria"] = StoppingCriteriaList([stop])
            generated = model.generate(
                input_ids=input_ids, attention_mask=batch["attention_mask"].to(device),
                do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=pad_id, **extra,
            )  # [B, T + new]
            texts = tokenizer.batch_decode(generated[:, input_ids.shape[1] :], skip_special_tokens=True)
            for i, text in zip(rows, texts):
                out[i] = text
    return out


def first_line(text: str) -> str:
    """The answer part of a continuation: up to the first newline, stripped."""
    return text.split("\n", 1)[0].strip()


# ---------------------------------------------------------------- few-shot QA


def _check_fields(fields, people: Sequence[TaggedText]) -> tuple[tuple[str, ...], bool]:
    """(the fact fields to ask, whether the caller chose them)."""
    if fields is None:
        present = {f for p in people for f in p.fields}
        return tuple(f for f in FACT_FIELDS if f in present), False
    fields = (fields,) if isinstance(fields, str) else tuple(fields)
    for field in fields:
        if field not in FACT_FIELDS:
            raise InputError(
                f"cannot ask about field {field!r}: choose from {', '.join(FACT_FIELDS)}"
            )
    return fields, True


def _named(people: Sequence[TaggedText], what: str) -> list[TaggedText]:
    named = [p for p in people if p.name]
    if not named:
        raise InputError(f"no biography in the {what} has a <name> tag; tag each person's name")
    return named


def build_qa_prompt(field: str, name: str, shots: Sequence[tuple[str, str]] = ()) -> str:
    """k solved questions (name, value), each followed by a blank line, then the question."""
    solved = "".join(f"{qa_prompt(field, n)} {v}\n\n" for n, v in shots)
    return solved + qa_prompt(field, name)


def qa_examples(people, *, fields=None, shots: int = 5, shot_pool=None, seed: int = 0) -> list[dict]:
    """One example per (person, field) the person has: name, field, answer, prompt.

    Shots for each example are drawn with a generator seeded by (seed, person index, field), so a
    person's prompt does not depend on who else is evaluated or in which order.
    """
    if not isinstance(shots, int) or shots < 0:
        raise InputError(f"number of shots must be a non-negative integer, got {shots!r}")
    people = _named(people, "evaluation data")
    pool = people if shot_pool is None else _named(shot_pool, "shot pool")
    fields, chosen = _check_fields(fields, people)
    examples = []
    for field in fields:
        candidates = [p for p in pool if p.value(field)]
        asked = [(i, p) for i, p in enumerate(people) if p.value(field)]
        if not asked and chosen:
            raise InputError(f"no biography has a <{field}> tag, so field {field!r} cannot be asked")
        for i, person in asked:
            others = [p for p in candidates if p is not person and p.name != person.name]
            rng = random.Random(f"{seed}:{i}:{field}")
            drawn = rng.sample(others, min(shots, len(others)))
            prompt = build_qa_prompt(field, person.name, [(p.name, p.value(field)) for p in drawn])
            examples.append(
                {"name": person.name, "field": field, "answer": person.value(field), "prompt": prompt}
            )
    return examples


def evaluate_qa(
    model, tokenizer, people: Sequence[TaggedText], *, fields=None, shots: int = 5,
    shot_pool: Sequence[TaggedText] | None = None, batch_size: int = 16, max_new_tokens: int = 24,
    seed: int = 0, return_predictions: bool = False,
) -> dict:  # many parameters: keyword-only generation options (shots, pool, batch, length, seed)
    """k-shot QA per fact field: {field: {"em", "f1", "n"}} (+ "predictions": [...] if asked).

    Shots come from `shot_pool` (default: the other people in `people`), never the person asked.
    Each prediction is {name, field, prompt, answer, prediction, em, f1}.
    """
    examples = qa_examples(people, fields=fields, shots=shots, shot_pool=shot_pool, seed=seed)
    continuations = generate_continuations(
        model, tokenizer, [e["prompt"] for e in examples],
        batch_size=batch_size, max_new_tokens=max_new_tokens,
    )
    for example, text in zip(examples, continuations):
        example["prediction"] = first_line(text)
        example["em"] = exact_match(example["prediction"], example["answer"])
        example["f1"] = f1_score(example["prediction"], example["answer"])
    result = _per_field(examples, {"em": "em", "f1": "f1"})
    if return_predictions:
        result["predictions"] = examples
    return result


def _per_field(examples: list[dict], metrics: dict[str, str]) -> dict:
    """Mean of each example key in `metrics` per field, plus n, in `FIELDS` order."""
    result = {}
    for field in FACT_FIELDS:
        rows = [e for e in examples if e["field"] == field]
        if rows:
            result[field] = {name: sum(e[key] for e in rows) / len(rows) for name, key in metrics.items()}
            result[field]["n"] = len(rows)
    return result


# ---------------------------------------------------------------- recall probe


def probe_examples(people, *, fields=None, seed: int = 0) -> list[dict]:
    """One example per (person, target field) with the name before the target.

    The prompt is the person's clean text up to the target value (trailing space dropped), with
    every earlier fact value replaced by the same field's value of another person (seeded).
    """
    people = _named(people, "evaluation data")
    if len(people) < 2:
        raise InputError("the recall probe needs at least 2 named biographies to swap facts between")
    fields, chosen = _check_fields(fields, people)
    by_field = {f: [p.value(f) for p in people if p.value(f)] for f in FACT_FIELDS}
    examples = []
    for field in fields:
        for i, person in enumerate(people):
            target, name = person.span(field), person.span("name")
            if target is None or name.start >= target.start:
                continue  # nothing to ask, or the name comes too late to cue the fact
            rng = random.Random(f"{seed}:{i}:{field}")
            prompt = _swapped_prefix(person, target.start, by_field, rng).rstrip()
            examples.append(
                {"name": person.name, "field": field, "answer": person.value(field), "prompt": prompt}
            )
    if chosen and fields and not examples:
        raise InputError(f"no biography has the field(s) {', '.join(fields)} after its name")
    return examples


def _swapped_prefix(person: TaggedText, stop: int, by_field: dict, rng: random.Random) -> str:
    """person.text[:stop] with each fact span before `stop` swapped for another person's value."""
    parts, last = [], 0
    for span in person.spans:
        if span.start >= stop:
            break
        if span.field == "name":
            continue
        own = person.text[span.start : span.end]
        others = [v for v in by_field[span.field] if v != own] or by_field[span.field]
        parts += [person.text[last : span.start], rng.choice(others)]
        last = span.end
    parts.append(person.text[last:stop])
    return "".join(parts)


def recalled(continuation: str, truth: str) -> bool:
    """Whether the continuation starts with the true value (normalised, on a word boundary)."""
    said, gold = normalize_answer(continuation), normalize_answer(truth)
    return bool(gold) and (said == gold or said.startswith(gold + " "))


def recall_probe(
    model, tokenizer, people: Sequence[TaggedText], *, fields=None, batch_size: int = 16,
    seed: int = 0, max_new_tokens: int = 24, return_predictions: bool = False,
) -> dict:  # many parameters: keyword-only generation options
    """Share of facts recalled from the name alone: {field: {"recall", "n"}} (+ "predictions")."""
    examples = probe_examples(people, fields=fields, seed=seed)
    continuations = generate_continuations(
        model, tokenizer, [e["prompt"] for e in examples],
        batch_size=batch_size, max_new_tokens=max_new_tokens, stop_at_newline=False,
    )
    for example, text in zip(examples, continuations):
        example["prediction"] = text.strip()
        example["recalled"] = float(recalled(text, example["answer"]))
    result = _per_field(examples, {"recall": "recalled"})
    if return_predictions:
        result["predictions"] = examples
    return result
