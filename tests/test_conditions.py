"""The training conditions beyond dropout: plain at the paper's protocol, D-AR's replacement, the oracle."""

from pathlib import Path

import pandas as pd
import pytest

from clues.augment import DEFAULT_AUGMENT, rank_corpus
from clues.corpus import generate_biographies
from clues.errors import InputError
from clues.launch import condition_config
from clues.settings import DEFAULT_CONDITIONS, MODE_NAMES, TrainConfig


def _config(tmp_path: Path, condition: str):
    people = generate_biographies(4, seed=2, varied=False)
    ranked = rank_corpus(people, condition)  # none of these needs a model
    base = TrainConfig(model="m", data="", seed=5)
    config = condition_config(base, condition, tmp_path / f"{condition}.csv", ranked, name=condition)
    return people, config, pd.read_csv(config.data)


def test_plain_is_the_originals_once_none_is_step_matched(tmp_path):
    people, plain, rows = _config(tmp_path, "plain")
    assert rows["text"].tolist() == [p.text for p in people] and plain.extra["rows"] == 4
    _, none, rows = _config(tmp_path, "none")
    assert len(rows) == 4 * (DEFAULT_AUGMENT.copies + 1) and set(rows["text"]) == {p.text for p in people}
    assert plain.replace_rate == none.replace_rate == 0.0


def test_replace_trains_on_the_originals_and_replaces_inputs_at_rate_alpha(tmp_path):
    people, config, rows = _config(tmp_path, "replace")
    assert set(rows["text"]) == {p.text for p in people}  # nothing dropped in the corpus
    assert len(rows) == 4 * (DEFAULT_AUGMENT.copies + 1)  # step-matched with the dropout conditions
    assert config.replace_rate == DEFAULT_AUGMENT.alpha and config.extra["augment"]["seed"] == 5


def test_oracle_keeps_the_name_first(tmp_path):
    people, config, rows = _config(tmp_path, "oracle")
    for r in rank_corpus(people, "oracle"):
        name = [rank for rank, field in zip(r.ranks, r.fields) if field == "name"]
        assert sorted(name) == list(range(len(name)))
    with pytest.raises(InputError, match="name tagged"):
        rank_corpus([generate_biographies(1, seed=1)[0].__class__("No name here.", ())], "oracle")


def test_every_default_condition_is_a_mode():
    assert {c.partition(":")[0] for c in DEFAULT_CONDITIONS} <= set(MODE_NAMES)
