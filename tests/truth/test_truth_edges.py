"""Edge cases of faithcam.truth (issue 23), each against a value found by hand, by a naive loop
or by a closed form, never by the code under test: the exact and sampled Shapley machinery on
hand-made games, the scores on hand-made maps, leaderboard places, non-square and 4 x 4 layer
grids, per-image baselines and references."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from faithcam.truth import shapley
from faithcam.truth.enumeration import all_values, coalition_masks, shapley_from_values
from faithcam.truth.leaderboard import Row, layer_maps
from faithcam.truth.ranking import places
from faithcam.truth.sampling import (
    blocks_for,
    draw_block,
    marginal_contributions,
    sampled_shapley,
)
from faithcam.truth.scores import agreement, interval
from tests.truth.test_shapley import naive_shapley as textbook_shapley

# ---------------------------------------------------------------------------- hand-made games


def glove_game(masks: torch.Tensor) -> torch.Tensor:
    """v(S) = 2·[0 ∈ S] + [1 ∈ S] + 3·[0 ∈ S and 2 ∈ S] on three players."""
    m = masks.double()
    return 2 * m[:, 0] + m[:, 1] + 3 * m[:, 0] * m[:, 2]


def naive_shapley(game, players: int) -> list[float]:
    """The textbook subset sum of tests/truth/test_shapley.py on a game of boolean masks."""

    def value(coalition: frozenset) -> float:
        mask = torch.zeros(1, players, dtype=torch.bool)
        mask[0, list(coalition)] = True
        return float(game(mask)[0])

    return textbook_shapley(value, players).tolist()


def test_exact_shapley_of_a_three_player_game_with_an_interaction_by_hand():
    # additive parts go to their player; the 3·[0 and 2] interaction is split 1.5 / 1.5
    phi = shapley_from_values(all_values(glove_game, 3, batch_size=8))
    assert torch.allclose(phi, torch.tensor([3.5, 1.0, 1.5], dtype=torch.float64))
    assert torch.allclose(phi, torch.tensor(naive_shapley(glove_game, 3), dtype=torch.float64))


def test_exact_shapley_of_a_nonadditive_four_player_game_equals_the_naive_sum():
    weights = torch.tensor([0.3, -1.2, 2.0, 0.7], dtype=torch.float64)

    def game(masks):
        s = masks.double() @ weights
        return s**2 + torch.sin(3 * s) * masks[:, 3].double()

    phi = shapley_from_values(all_values(game, 4, batch_size=5))
    expected = torch.tensor(naive_shapley(game, 4), dtype=torch.float64)
    assert torch.allclose(phi, expected, atol=1e-12)


def test_coalition_code_bits_are_the_players():
    assert coalition_masks(torch.tensor([5]), 3).tolist() == [[True, False, True]]


def test_progress_counts_each_coalition_once_with_a_short_last_batch():
    calls: list[int] = []
    all_values(glove_game, 3, batch_size=3, progress=calls.append)
    assert calls == [3, 3, 2]  # 8 coalitions in batches of 3


def test_blocks_are_whole_rounded_up_and_at_least_two():
    assert blocks_for(1, "random", 5) == 2  # a standard error needs two blocks
    assert blocks_for(5, "antithetic", 4) == 3  # ceil(5 / 2) pairs
    assert blocks_for(7, "stratified", 3) == 3  # ceil(7 / 3) blocks of 3 shifts


def test_antithetic_block_is_a_permutation_and_its_reverse():
    block = draw_block("antithetic", 6, torch.Generator().manual_seed(0))
    assert sorted(block[0].tolist()) == list(range(6))
    assert block[1].tolist() == block[0].tolist()[::-1]


def test_marginal_contributions_credit_the_player_who_completes_a_pair():
    """v(S) = [0 ∈ S and 1 ∈ S]: the later of players 0 and 1 in π gets 1, all others 0."""

    def pair(masks):
        return (masks[:, 0] & masks[:, 1]).double()

    perms = torch.tensor([[2, 0, 1], [1, 2, 0], [0, 1, 2]])
    gains = marginal_contributions(pair, perms, batch_size=4)
    expected = [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    assert gains.tolist() == expected


def test_marginal_contributions_of_an_additive_game_are_its_coefficients():
    c = torch.tensor([1.0, -2.0, 4.0, 0.5], dtype=torch.float64)
    perms = torch.tensor([[3, 1, 0, 2], [2, 3, 1, 0]])
    gains = marginal_contributions(lambda m: m.double() @ c, perms, batch_size=3)
    assert torch.allclose(gains, c.expand(2, 4))


def test_sampled_standard_error_matches_the_spread_over_seeds():
    """The reported standard error against the standard deviation of the estimate over 300
    independent seeds (random sampler: i.i.d. blocks)."""
    estimates, errors = [], []
    for seed in range(300):
        phi, stderr, _ = sampled_shapley(glove_game, 3, 16, "random",
                                         torch.Generator().manual_seed(seed), 64)  # fmt: skip
        estimates.append(phi)
        errors.append(stderr)
    spread = torch.stack(estimates).std(0)
    claimed = torch.stack(errors).pow(2).mean(0).sqrt()
    ratio = (claimed / spread)[[0, 2]]  # player 1 is additive: no error at all
    assert float(claimed[1]) < 1e-12 and float(spread[1]) < 1e-12
    assert ((ratio > 0.8) & (ratio < 1.25)).all(), ratio


# ---------------------------------------------------------------------------- scores


def test_scores_do_not_depend_on_the_truths_scale():
    truth = torch.tensor([[4.0, -1.0, 0.5], [0.0, 2.0, -3.0], [1.0, 0.0, 0.0]])
    shown = torch.tensor([[3.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.5, 0.2, 0.0]])
    big, tiny = agreement(shown, truth), agreement(shown, truth * 1e-9)
    for name in ("spearman", "topk", "sign", "distance"):
        assert math.isclose(big[name], tiny[name], rel_tol=1e-9), name


def test_top_k_is_the_top_quarter_rounded_up_on_nine_locations():
    # k = ceil(9 / 4) = 3: truth top 3 = {0, 1, 2}; shown top 3 = {0, 1, 8}: 2 of 3 found
    truth = torch.tensor([[5.0, 4.0, 3.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    shown = torch.tensor([[9.0, 8.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 7.0]])
    assert math.isclose(agreement(shown, truth)["topk"], 2 / 3)


def test_top_k_share_is_of_the_positive_truth_when_fewer_than_k_are_positive():
    # k = 3 but only locations 0 and 1 have positive truth; the map finds both: 2 / 2
    truth = torch.tensor([[5.0, 4.0, -3.0], [0.0, -1.0, 0.0], [0.0, 0.0, 0.0]])
    shown = torch.tensor([[9.0, 8.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 7.0]])
    assert agreement(shown, truth)["topk"] == 1.0


def test_sign_agreement_counts_a_negative_location_left_at_zero():
    # |φ| = 2, 1, 1: location 0 shown (right), 1 negative and left at 0 (right), 2 missed
    truth = torch.tensor([[2.0, -1.0, 1.0, 0.0]])
    shown = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    assert math.isclose(agreement(shown, truth)["sign"], 3 / 4)


def test_distance_is_the_sine_of_the_angle_by_hand():
    # shown (3, 4), positive truth (1, 0): cos = 3/5, so the distance is 4/5
    assert math.isclose(agreement(torch.tensor([[3.0, 4.0]]), torch.tensor([[1.0, 0.0]]))
                        ["distance"], 0.8)  # fmt: skip


def test_negative_truth_is_not_part_of_the_shape_to_match():
    # positive part of (1, −3, 0, 0) is (1, 0, 0, 0): a map (1, 0, 0, 0) has the right shape
    scores = agreement(torch.tensor([[1.0, 0.0, 0.0, 0.0]]), torch.tensor([[1.0, -3.0, 0, 0]]))
    assert scores["distance"] == 0.0


def test_interval_of_negative_rank_correlations_holds_their_mean():
    values = [-0.9, -0.8, -0.7, -0.85, -0.75, -0.95]
    mean, low, high, n = interval(values, "spearman")
    assert n == 6 and math.isclose(mean, float(np.mean(values)))
    assert low <= mean <= high < 0


# ---------------------------------------------------------------------------- ranking


def rows(case: str, scores: dict[str, list[float]]) -> list[Row]:
    return [Row(case, "toy", method, "m", image, {"spearman": value}, 0.0)
            for method, values in scores.items() for image, value in enumerate(values)]  # fmt: skip


def test_mean_rank_over_three_cases_is_the_mean_not_the_median():
    data = (rows("x", {"a": [0.9, 0.8], "b": [0.1, 0.2]})
            + rows("y", {"a": [0.9, 0.8], "b": [0.1, 0.2]})
            + rows("z", {"a": [0.1, 0.2], "b": [0.9, 0.8]}))  # fmt: skip
    _, overall = places(data)
    assert math.isclose(overall["a"].rank, 4 / 3) and math.isclose(overall["b"].rank, 5 / 3)


def test_paired_bootstrap_keeps_a_method_that_wins_on_every_image_first():
    # a beats b by 0.01 on every image, but the images differ widely: an unpaired bootstrap
    # would often rank b first; a paired one never does
    b = [0.05, 0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6]
    per_case, _ = places(rows("c", {"a": [v + 0.01 for v in b], "b": b}))
    assert (per_case[("c", "a")].low, per_case[("c", "a")].high) == (1.0, 1.0)
    assert (per_case[("c", "b")].low, per_case[("c", "b")].high) == (2.0, 2.0)


def test_layer_maps_average_pool_pixel_maps_to_the_grid():
    maps = torch.arange(16, dtype=torch.float64).view(1, 4, 4)
    pooled = layer_maps(maps, (2, 2))
    # the mean of each 2 x 2 block by hand
    assert pooled.tolist() == [[[2.5, 4.5], [10.5, 12.5]]]


# ---------------------------------------------------------------------------- shapley()


class GridGap(nn.Module):
    """Conv features pooled to a ``grid``, then global average pooling and a linear head:
    φ_ij = W_c·(A_ij − B_ij) / (h·w) (CAM / Z with baseline B)."""

    def __init__(self, grid: tuple[int, int], channels: int = 4, classes: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(grid))  # fmt: skip
        self.fc = nn.Linear(channels, classes)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


class GridProduct(GridGap):
    """A non-additive head (products of locations), so that permutations matter."""

    def forward(self, x):
        a = self.features(x)
        return self.fc(a.mean((2, 3)) * a.amax((2, 3)))


def make(cls, grid, seed: int = 0):
    torch.manual_seed(seed)
    return cls(grid).double().eval()


def pictures(n: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, 12, 12, generator=torch.Generator().manual_seed(seed)).double()


def cam_over_z(model, x, classes, absent):
    with torch.no_grad():
        delta = model.features(x) - absent
    weights = model.fc.weight[classes]
    return torch.einsum("bk,bkhw->bhw", weights, delta) / (delta.shape[-2] * delta.shape[-1])


def test_non_square_layer_grid_is_height_by_width():
    model, x = make(GridGap, (2, 3)), pictures(2)
    result = shapley(model, x, targets=[0, 2], layer="features")
    assert result.exact and result.values.shape == (2, 2, 3)
    expected = cam_over_z(model, x, [0, 2], 0.0)
    assert torch.allclose(result.values, expected, atol=1e-12)


def test_a_four_by_four_grid_is_still_exact():
    model, x = make(GridGap, (4, 4)), pictures(1)
    result = shapley(model, x, targets=1, layer="features", batch_size=4096)
    assert result.exact and result.coalitions == 2**16
    assert torch.allclose(result.values, cam_over_z(model, x, [1], 0.0), atol=1e-12)


def test_seed_changes_the_sampled_permutations_and_repeats_them():
    model, x = make(GridProduct, (3, 3)), pictures(1)
    one = shapley(model, x, targets=0, layer="features", samples=4, seed=1)
    again = shapley(model, x, targets=0, layer="features", samples=4, seed=1)
    other = shapley(model, x, targets=0, layer="features", samples=4, seed=2)
    assert torch.equal(one.values, again.values)
    assert not torch.allclose(one.values, other.values)


def test_a_baseline_tensor_per_image_is_used_for_its_own_image():
    model, x = make(GridGap, (3, 3)), pictures(2)
    absent = torch.stack([torch.full((4, 3, 3), 0.5), torch.full((4, 3, 3), -1.0)]).double()
    result = shapley(model, x, targets=[1, 1], layer="features", baseline=absent)
    assert torch.allclose(result.values, cam_over_z(model, x, [1, 1], absent), atol=1e-12)


def test_a_reference_image_per_image_is_used_for_its_own_image():
    model, x = make(GridGap, (3, 3)), pictures(2)
    references = pictures(2, seed=7)
    result = shapley(model, x, targets=[0, 0], layer="features", baseline="reference",
                     reference=references)  # fmt: skip
    with torch.no_grad():
        absent = model.features(references)
    assert torch.allclose(result.values, cam_over_z(model, x, [0, 0], absent), atol=1e-12)


def test_sampled_truth_reports_the_full_and_empty_scores():
    model, x = make(GridProduct, (3, 3)), pictures(2)
    result = shapley(model, x, targets=[0, 2], layer="features", samples=4, seed=0)
    with torch.no_grad():
        full = model(x)[[0, 1], [0, 2]]
        a = model.features(x)
        empty = model.fc(torch.zeros_like(a).mean((2, 3)))[[0, 1], [0, 2]]
    assert torch.allclose(result.full, full) and torch.allclose(result.empty, empty)
