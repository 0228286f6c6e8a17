"""Leaderboard ranks (faithcam.truth.ranking) on hand-made rows: ranks by hand, ties, the mean
over cases, and what the paired bootstrap must give when the order is certain or a coin flip."""

from __future__ import annotations

import math

import pytest

from faithcam.truth.leaderboard import Row
from faithcam.truth.ranking import format_place, places


def rows(case: str, scores: dict[str, list[float]], status: str = "ok") -> list[Row]:
    return [
        Row(case, "toy", method, "comparator", image, {"spearman": value}, 0.0, status)
        for method, values in scores.items()
        for image, value in enumerate(values)
    ]


def test_ranks_by_hand_with_ties_averaged_and_a_certain_order():
    data = rows("c", {"a": [0.9, 0.8, 0.7], "b": [0.1, 0.2, 0.3], "c": [0.1, 0.2, 0.3],
                      "d": [-0.5, -0.4, -0.6]})  # fmt: skip
    per_case, overall = places(data)
    # a dominates on every image; b and c are identical (share 2 and 3); d is last everywhere
    assert per_case[("c", "a")].rank == 1.0
    assert (per_case[("c", "a")].low, per_case[("c", "a")].high) == (1.0, 1.0)
    assert per_case[("c", "b")].rank == per_case[("c", "c")].rank == 2.5
    assert (per_case[("c", "b")].low, per_case[("c", "b")].high) == (2.5, 2.5)
    assert (per_case[("c", "d")].rank, per_case[("c", "d")].high) == (4.0, 4.0)
    assert overall["a"].rank == 1.0 and overall["a"].cases == 1


def test_mean_rank_is_the_average_of_the_case_ranks():
    data = rows("x", {"a": [0.9, 0.8], "b": [0.1, 0.2], "c": [0.5, 0.6]}) + rows(
        "y", {"a": [0.0, 0.1], "b": [0.9, 0.8], "c": [0.5, 0.4]}
    )
    per_case, overall = places(data)
    assert [per_case[("x", m)].rank for m in "abc"] == [1.0, 3.0, 2.0]
    assert [per_case[("y", m)].rank for m in "abc"] == [3.0, 1.0, 2.0]
    assert overall["a"].rank == overall["b"].rank == overall["c"].rank == 2.0
    assert overall["a"].cases == 2
    # every resample keeps both orders (no overlap between methods): the intervals are points
    assert (overall["a"].low, overall["a"].high) == (2.0, 2.0)


def test_an_uncertain_order_gives_an_interval_over_both_ranks():
    """Two methods that trade wins image by image: each is first in some resamples."""
    data = rows("c", {"a": [1.0, 0.0, 1.0, 0.0, 1.0, 0.1], "b": [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]})
    per_case, _ = places(data)
    assert per_case[("c", "a")].low == 1.0 and per_case[("c", "a")].high == 2.0
    assert per_case[("c", "a")].rank + per_case[("c", "b")].rank == 3.0


def test_methods_that_did_not_run_and_undefined_images_are_left_out():
    data = rows("c", {"a": [0.5, math.nan, 0.7], "b": [0.1, 0.9, 0.2]})
    data += rows("c", {"n/a method": [math.nan]}, status="n/a: too costly")
    per_case, overall = places(data)
    # image 1 is undefined for a: left out for every method, so a wins on images 0 and 2
    assert per_case[("c", "a")].rank == 1.0 and per_case[("c", "a")].high == 1.0
    assert ("c", "n/a method") not in per_case and "n/a method" not in overall


def test_lower_is_better_and_formatting():
    data = [
        Row("c", "toy", m, "comparator", i, {"distance": v}, 0.0)
        for m, values in {"a": [0.1, 0.2], "b": [0.5, 0.6]}.items()
        for i, v in enumerate(values)
    ]
    per_case, _ = places(data, "distance", higher_is_better=False)
    assert per_case[("c", "a")].rank == 1.0
    assert format_place(per_case[("c", "b")]) == "2.0 [2.0, 2.0]"
    assert format_place(None) == "n/a"


@pytest.mark.parametrize("seed", [0, 1])
def test_the_bootstrap_is_seeded(seed):
    data = rows("c", {"a": [1.0, 0.0, 1.0, 0.2], "b": [0.0, 1.0, 0.3, 1.0]})
    assert places(data, seed=seed) == places(data, seed=seed)
