"""Clue quality's numbers on hand-built rankings, every answer worked out by hand."""

import math

import pytest

from clues.clue_quality import COLUMNS, Ranking, _measure, measure_clue_quality
from clues.errors import InputError

# Four texts' rankings (unit indices strongest first; one field per unit):
A = Ranking(order=[2, 0, 4, 5], fields=["name", "name", None, None, "city", None])  # name unit 1 not droppable
B = Ranking(order=[0, 1, 2, 3], fields=[None, None, None, "name"])
C = Ranking(order=[2, 1], fields=[None, None, None])  # no name at all
D = Ranking(order=[1], fields=["name", None])  # its only name unit is left out of the order


def test_measure_by_hand():
    row = _measure([A, B, C, D], "name", k=2)
    # top-2: A [2, 0] has name unit 0 → hit at rank 2; B [0, 1] misses, its name first at rank 4;
    # C has no name (not counted); D [1] misses and has no first rank (its name is never ranked)
    assert row["n_texts"] == 4 and row["n_with_field"] == 3
    assert row["share_in_top_k"] == pytest.approx(1 / 3)
    assert row["first_rank_mean"] == pytest.approx(3.0) and row["first_rank_median"] == pytest.approx(3.0)
    # positions of every top-2 unit, index / (units − 1): A 2/5, 0/5; B 0/3, 1/3; C 2/2, 1/2; D 1/1
    positions = [2 / 5, 0, 0, 1 / 3, 1, 1 / 2, 1]
    assert row["top_k_relative_position"] == pytest.approx(sum(positions) / 7)


def test_measure_other_field_and_k():
    row = _measure([A, B, C, D], "city", k=3)
    # only A has a city (unit 4): top-3 [2, 0, 4] holds it, at rank 3
    assert (row["n_with_field"], row["share_in_top_k"], row["first_rank_mean"]) == (1, 1.0, 3.0)
    top1 = _measure([A, B], "name", k=1)  # A's top-1 is unit 2 (no name), B's unit 0
    assert top1["share_in_top_k"] == 0.0 and top1["first_rank_median"] == pytest.approx(3.0)
    assert top1["top_k_relative_position"] == pytest.approx((2 / 5 + 0) / 2)


def test_measure_without_the_field_is_nan_not_zero():
    row = _measure([C], "name", k=5)
    assert math.isnan(row["share_in_top_k"]) and math.isnan(row["first_rank_mean"])
    assert row["top_k_relative_position"] == pytest.approx((1 + 1 / 2) / 2)
    one_unit = _measure([Ranking([0], ["name"])], "name", k=5)  # a one-unit text sits at position 0
    assert one_unit["top_k_relative_position"] == 0.0 and one_unit["share_in_top_k"] == 1.0


def test_measure_clue_quality_rows_per_ranking_and_variant():
    moved_a = Ranking(order=[0, 3], fields=[None, "name", None, "name"])  # the name moved to units 1 and 3
    rankings = {"as given": [{"total": A, "position": B}, {"total": B, "position": A}],
                "moved": [{"total": moved_a, "position": moved_a}, {"total": C}]}
    table = measure_clue_quality(rankings, field="name", k=2)
    assert list(table.columns) == COLUMNS
    assert list(zip(table["ranking"], table["texts"])) == [
        ("total", "as given"), ("position", "as given"), ("total", "moved"), ("position", "moved")]
    given_total = table.iloc[0]
    assert given_total["share_in_top_k"] == pytest.approx(1 / 2) and given_total["first_rank_mean"] == 3.0
    moved_total = table.iloc[2]  # moved_a: top-2 [0, 3] holds unit 3 at rank 2; C has no name
    assert (moved_total["n_texts"], moved_total["n_with_field"], moved_total["first_rank_mean"]) == (2, 1, 2.0)
    assert table.iloc[3]["n_texts"] == 1  # "position" was measured on one moved text only
    with pytest.raises(InputError, match="look at the top 1"):
        measure_clue_quality(rankings, k=0)
    with pytest.raises(InputError, match="No text has a <major> field"):
        measure_clue_quality(rankings, field="major")
