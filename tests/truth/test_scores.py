"""Scores of maps against the truth (faithcam.truth.scores), checked on hand-made examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from faithcam.truth.scores import agreement, interval

TRUTH = torch.tensor([[4.0, 3.0, 2.0, 1.0], [0.5, 0.0, -1.0, -2.0]])  # 8 locations, k = 2


def test_a_map_proportional_to_the_positive_truth_is_perfect():
    scores = agreement(3.0 * TRUTH.clamp(min=0), TRUTH)
    assert scores == pytest.approx({"spearman": 1.0, "topk": 1.0, "sign": 1.0, "distance": 0.0})


def test_negative_parts_of_a_signed_map_do_not_count():
    """A raw map equal to the signed truth is shown as its ReLU: perfect as well."""
    assert agreement(TRUTH, TRUTH)["distance"] == pytest.approx(0.0, abs=1e-12)
    assert agreement(TRUTH, TRUTH)["sign"] == 1.0


def test_rank_is_spearman_of_the_positive_parts_by_hand():
    shown = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    # φ⁺ = (4, 3, 2, 1, 0.5, 0, 0, 0): ranks 8, 7, 6, 5, 4, 2, 2, 2 (three ties share 2)
    truth_ranks = np.array([8, 7, 6, 5, 4, 2, 2, 2], dtype=float)
    shown_ranks = np.arange(1, 9, dtype=float)
    expected = np.corrcoef(truth_ranks, shown_ranks)[0, 1]
    assert agreement(shown, TRUTH)["spearman"] == pytest.approx(expected)
    assert expected < -0.9


def test_top_k_counts_the_true_top_quarter():
    shown = torch.zeros(2, 4)
    shown[0, 0] = 1.0  # the best location
    shown[1, 3] = 2.0  # a negative location, ranked first by the map
    assert agreement(shown, TRUTH)["topk"] == 0.5  # k = 2: one of {(0,0), (0,1)} found


def test_sign_agreement_weighs_locations_by_the_truth_mass():
    shown = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]])
    # wrong: (1,1) has φ = 0 but is shown (mass 0), (1,2) has φ = −1 but is shown (mass 1)
    total = 4 + 3 + 2 + 1 + 0.5 + 0 + 1 + 2
    assert agreement(shown, TRUTH)["sign"] == pytest.approx((total - 1) / total)


def test_distance_is_the_sine_of_the_angle_to_the_positive_truth():
    shown = torch.zeros(2, 4)
    shown[0, 0] = 1.0
    positive = TRUTH.clamp(min=0).flatten()
    cosine = 4.0 / positive.norm()
    expected = math.sqrt(1 - cosine**2)
    assert agreement(shown, TRUTH)["distance"] == pytest.approx(expected)
    # the closed form is the least-squares residual of the best non-negative scale
    s = float(positive @ shown.flatten() / shown.flatten().pow(2).sum())
    residual = (s * shown.flatten() - positive).norm() / positive.norm()
    assert float(residual) == pytest.approx(expected)


def test_flat_and_empty_maps():
    flat = agreement(torch.zeros(2, 4), TRUTH)
    assert flat["spearman"] == 0.0 and flat["topk"] == 0.0 and flat["distance"] == 1.0
    no_evidence = agreement(torch.rand(2, 4), -TRUTH.abs() - 1)
    assert math.isnan(no_evidence["spearman"]) and math.isnan(no_evidence["topk"])
    assert math.isnan(no_evidence["distance"])
    assert no_evidence["sign"] == 0.0  # every location shown, none adds to the score


def test_rounding_dust_is_not_evidence():
    shown = TRUTH.clamp(min=0) + 1e-9
    assert agreement(shown, TRUTH)["sign"] == 1.0


def test_interval_holds_the_mean_and_stays_in_range():
    values = [0.0, 0.5, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, math.nan]
    mean, low, high, n = interval(values, "topk")
    assert n == 8 and mean == pytest.approx(0.6875)
    assert 0.0 <= low < mean < high <= 1.0
    assert interval([0.3, 0.3, 0.3], "sign")[1:3] == pytest.approx((0.3, 0.3))
    assert math.isnan(interval([math.nan], "spearman")[0])
    assert interval(values, "topk") == interval(values, "topk")  # seeded
    low, high = interval([-1.0, -0.98, -0.99, 1.0], "spearman")[1:3]
    assert low >= -1.0 and high <= 1.0
    hits = interval([1.0, 1.0, 1.0, 0.0], "topk")  # every value at a bound: Wilson
    assert 0.0 < hits[1] < 0.75 < hits[2] < 1.0


def test_interval_covers_like_a_normal_interval_for_large_samples():
    rng = np.random.default_rng(1)
    values = list(rng.normal(0.5, 0.1, 400))
    mean, low, high, _ = interval(values, "sign")
    assert low < mean < high
    half = 1.96 * np.std(values, ddof=1) / 20
    assert (high - low) / 2 == pytest.approx(half, rel=0.15)
