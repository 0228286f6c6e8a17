"""faithcam.truth.shapley against independent references: the naive Shapley formula over every
subset (written here, with its own masking), the closed forms of linear heads (CAM / Z and
HiResCAM's per-location term) and the efficiency axiom; sampled estimates against the exact
values within their standard errors."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

import faithcam
from faithcam.errors import FaithcamTypeError, FaithcamValueError
from faithcam.truth import shapley


class Backbone(nn.Module):
    """Conv features on a 3 x 3 grid (9 players) from 12 x 12 images."""

    def __init__(self, channels: int = 6) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(3)

    def forward(self, x):
        return self.pool(torch.relu(self.conv(x)))


class NonlinearHead(nn.Module):
    """Spatial mixing (3 x 3 conv), tanh, a skip connection and a softplus: every location
    interacts with its neighbours."""

    def __init__(self, channels: int = 6, classes: int = 4) -> None:
        super().__init__()
        self.features = Backbone(channels)
        self.mix = nn.Conv2d(channels, channels, 3, padding=1)
        self.fc = nn.Linear(channels * 9, classes)

    def head(self, a):
        z = torch.tanh(self.mix(a)) * a + a
        return nn.functional.softplus(self.fc(z.flatten(1)))

    def forward(self, x):
        return self.head(self.features(x))


class Branchy(NonlinearHead):
    """The same with data-dependent control flow before the layer: torch.fx cannot trace it."""

    def forward(self, x):
        if x.sum() > -1e9:
            x = x * 1.0
        return self.head(self.features(x))


class GapLinear(nn.Module):
    def __init__(self, channels: int = 5, classes: int = 3) -> None:
        super().__init__()
        self.features = Backbone(channels)
        self.fc = nn.Linear(channels, classes)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


class FlattenLinear(nn.Module):
    def __init__(self, channels: int = 5, classes: int = 3) -> None:
        super().__init__()
        self.features = Backbone(channels)
        self.fc = nn.Linear(channels * 9, classes)

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))


def make(cls, seed: int = 0, dtype=torch.float64):
    torch.manual_seed(seed)
    return cls().to(dtype).eval()


def images(n: int = 2, seed: int = 1, dtype=torch.float64):
    return torch.randn(n, 3, 12, 12, generator=torch.Generator().manual_seed(seed)).to(dtype)


def naive_shapley(value, players: int) -> torch.Tensor:
    """φ_i = Σ_{S ⊆ N∖{i}} |S|!(n−|S|−1)!/n! (v(S ∪ {i}) − v(S)), subset by subset."""
    cache: dict[frozenset, float] = {}

    def v(coalition: frozenset) -> float:
        if coalition not in cache:
            cache[coalition] = value(coalition)
        return cache[coalition]

    phi = []
    for i in range(players):
        others = [p for p in range(players) if p != i]
        total = 0.0
        for size in range(players):
            weight = math.factorial(size) * math.factorial(players - size - 1)
            weight /= math.factorial(players)
            for subset in itertools.combinations(others, size):
                s = frozenset(subset)
                total += weight * (v(s | {i}) - v(s))
        phi.append(total)
    return torch.tensor(phi, dtype=torch.float64)


def head_value(model, image, target, absent=None):
    """v(S) written independently: the layer's activations of ``image``, locations outside S
    replaced by ``absent`` (zeros by default), through ``model.head``."""
    with torch.no_grad():
        a = model.features(image[None])
    absent = torch.zeros_like(a) if absent is None else absent
    w = a.shape[-1]

    def value(coalition: frozenset) -> float:
        masked = absent.clone()
        for p in coalition:
            masked[..., p // w, p % w] = a[..., p // w, p % w]
        with torch.no_grad():
            return float(model.head(masked)[0, target])

    return value


@pytest.mark.parametrize("cls, route", [(NonlinearHead, "graph"), (Branchy, "full-forward")])
def test_exact_equals_naive_formula_on_a_nonlinear_head(cls, route):
    model, x = make(cls), images()
    result = shapley(model, x, targets=[1, 2], layer="features")
    assert result.exact and result.route == route
    assert (result.stderr == 0).all()
    for b, target in enumerate([1, 2]):
        expected = (naive_shapley(head_value(model, x[b], target), 9))
        got = result.values[b].flatten()
        assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))
    assert not torch.allclose(result.values[0], result.values[0].mean())  # not a flat game


def test_float32_model_matches_the_float64_formula():
    model, x = make(NonlinearHead, dtype=torch.float32), images(1, dtype=torch.float32)
    result = shapley(model, x, targets=0, layer="features")
    double = make(NonlinearHead, dtype=torch.float64)
    expected = (naive_shapley(head_value(double, x[0].double(), 0), 9))
    scale = float(expected.abs().max())
    assert torch.allclose(result.values[0].flatten(), expected, rtol=1e-4, atol=1e-4 * scale)


def test_efficiency_and_endpoints():
    model, x = make(NonlinearHead), images(3)
    for samples in (None, 8):
        result = shapley(model, x, layer="features", samples=samples, seed=0)
        assert result.efficiency_gap.abs().max() < 1e-9
        with torch.no_grad():
            logits = model(x)
            empty = model.head(torch.zeros_like(model.features(x)))
        classes = logits.argmax(1)
        assert torch.allclose(result.full, logits[range(3), classes])
        assert torch.allclose(result.scores, result.full)
        assert torch.allclose(result.empty, empty[range(3), classes])
        assert torch.equal(result.targets, classes)


def test_gap_linear_is_cam_over_z():
    """v(S) = b_c + (1/Z) Σ_{ij ∈ S} W_c·A_ij: additive, so φ_ij = W_c·A_ij / Z = CAM / Z."""
    model, x = make(GapLinear), images()
    result = shapley(model, x, targets=[0, 2], layer="features")
    cam = faithcam.explain(model, x, "cam", targets=[0, 2], layer="features").raw_maps
    assert torch.allclose(result.values, cam.double() / 9, rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        a = model.features(x)
    by_hand = torch.einsum("bk,bkhw->bhw", model.fc.weight[[0, 2]], a) / 9
    assert torch.allclose(result.values, by_hand, atol=1e-12)


def test_gap_linear_with_a_reference_baseline_subtracts_its_activations():
    model, x = make(GapLinear), images()
    reference = images(1, seed=5)[0]
    result = shapley(model, x, targets=1, layer="features", baseline="reference",
                     reference=reference)  # fmt: skip
    with torch.no_grad():
        delta = model.features(x) - model.features(reference[None])
    expected = torch.einsum("k,bkhw->bhw", model.fc.weight[1], delta) / 9
    assert torch.allclose(result.values, expected, atol=1e-12)
    as_tensor = shapley(model, x, targets=1, layer="features",
                        baseline=model.features(reference[None]).detach()[0])  # fmt: skip
    assert torch.allclose(as_tensor.values, result.values, atol=1e-12)


def test_expected_baseline_is_the_mean_over_references():
    """v(S) = (1/R) Σ_r v_r(S): the naive formula on the averaged game, and, by linearity, the
    mean of the single-reference truths."""
    model, x = make(NonlinearHead), images(1)
    references = images(3, seed=9)
    result = shapley(model, x, targets=2, layer="features", baseline="expected",
                     reference=references)  # fmt: skip
    with torch.no_grad():
        absent = model.features(references)
    games = [head_value(model, x[0], 2, absent[r : r + 1]) for r in range(3)]
    expected = naive_shapley(lambda s: sum(g(s) for g in games) / 3, 9)
    assert torch.allclose(result.values[0].flatten(), expected, rtol=1e-5, atol=1e-9)
    singles = [shapley(model, x, targets=2, layer="features", baseline="reference",
                       reference=references[r]).values for r in range(3)]  # fmt: skip
    assert torch.allclose(result.values, sum(singles) / 3, atol=1e-10)


def test_flatten_linear_is_hirescam():
    """v(S) = b_c + Σ_{ij ∈ S} Σ_k W_c,kij A_kij: φ_ij = Σ_k W_c,kij A_kij = HiResCAM's term."""
    model, x = make(FlattenLinear), images()
    result = shapley(model, x, targets=[2, 0], layer="features")
    hires = faithcam.explain(model, x, "hirescam", targets=[2, 0], layer="features").raw_maps
    assert torch.allclose(result.values, hires.double(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("sampler", ["antithetic", "stratified", "random"])
def test_sampled_estimate_is_within_its_error_bars(sampler):
    model, x = make(NonlinearHead), images(2)
    exact = shapley(model, x, layer="features")
    sampled = shapley(model, x, layer="features", samples=90, sampler=sampler, seed=3)
    assert not sampled.exact and sampled.permutations >= 90
    z = (sampled.values - exact.values) / sampled.stderr
    assert (sampled.stderr > 0).all()
    assert float(z.abs().max()) < 4.5  # 18 players: a |z| > 4.5 has chance ~1e-4
    assert 0.4 < float(z.pow(2).mean().sqrt()) < 1.8  # the errors are as large as claimed


def test_additive_game_has_no_sampling_error():
    model, x = make(FlattenLinear), images(1)
    sampled = shapley(model, x, layer="features", samples=4, seed=0)
    exact = shapley(model, x, layer="features")
    assert torch.allclose(sampled.values, exact.values, atol=1e-12)
    assert float(sampled.stderr.max()) < 1e-12


def test_input_site_replaces_only_that_module_input():
    """A layer ``mix:input``: the skip connection (``+ a``) keeps the image's activations."""
    model, x = make(NonlinearHead), images(1)
    result = shapley(model, x, targets=3, layer="mix:input")
    assert result.route == "graph"
    with torch.no_grad():
        a = model.features(x)

    def value(coalition):
        masked = torch.zeros_like(a)
        for p in coalition:
            masked[..., p // 3, p % 3] = a[..., p // 3, p % 3]
        with torch.no_grad():
            z = torch.tanh(model.mix(masked)) * a + a
            return float(nn.functional.softplus(model.fc(z.flatten(1)))[0, 3])

    expected = (naive_shapley(value, 9))
    assert torch.allclose(result.values[0].flatten(), expected, atol=1e-10)


class Tokens(nn.Module):
    """A class token and a 2 x 2 patch grid (4 players), one attention block, class readout."""

    patch_size = 4
    num_prefix_tokens = 1

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, dim, 4, stride=4)
        self.cls = nn.Parameter(torch.randn(1, 1, dim))
        self.tokens = nn.Identity()
        self.attention = nn.MultiheadAttention(dim, 2, batch_first=True)
        self.fc = nn.Linear(dim, 3)

    def forward(self, x):
        t = self.embed(x).flatten(2).transpose(1, 2)
        t = self.tokens(torch.cat([self.cls.expand(t.shape[0], -1, -1), t], 1))
        mixed, _ = self.attention(t, t, t)
        return self.fc((mixed + t)[:, 0])


def test_token_layer_players_are_patches_and_the_class_token_stays():
    torch.manual_seed(0)
    model = Tokens().double().eval()
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    result = shapley(model, x, targets=1, layer="tokens")
    assert result.values.shape == (1, 2, 2) and result.route == "graph"
    with torch.no_grad():
        t = model.embed(x).flatten(2).transpose(1, 2)
        full = torch.cat([model.cls, t], 1)

    def value(coalition):
        masked = torch.zeros_like(full)
        masked[:, 0] = full[:, 0]
        for p in coalition:
            masked[:, 1 + p] = full[:, 1 + p]
        with torch.no_grad():
            mixed, _ = model.attention(masked, masked, masked)
            return float(model.fc((mixed + masked)[:, 0])[0, 1])

    expected = (naive_shapley(value, 4))
    assert torch.allclose(result.values.flatten(), expected, atol=1e-10)


def test_the_model_is_left_as_it_was():
    model = make(NonlinearHead).train()
    flags = [p.requires_grad for p in model.parameters()]
    shapley(model, images(1), layer="features", samples=2)
    assert model.training
    assert flags == [p.requires_grad for p in model.parameters()]
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"baseline": "mean"}, FaithcamValueError, "baseline"),
        ({"baseline": 0.0}, FaithcamTypeError, "baseline"),
        ({"baseline": torch.zeros(6, 3)}, FaithcamValueError, "baseline"),
        ({"baseline": torch.zeros(5, 3, 3)}, FaithcamValueError, "(6, 3, 3)"),
        ({"samples": 0}, FaithcamValueError, "samples"),
        ({"samples": 2.5}, FaithcamTypeError, "samples"),
        ({"sampler": "sobol"}, FaithcamValueError, "sampler"),
        ({"reference": torch.zeros(3, 12, 12)}, FaithcamValueError, "reference"),
        ({"baseline": "reference", "reference": torch.zeros(3, 5, 5)}, FaithcamValueError,
         "reference"),
        ({"seed": 1.5}, FaithcamTypeError, "seed"),
        ({"baseline": "expected"}, FaithcamValueError, "reference"),
        ({"baseline": "expected", "reference": torch.zeros(2, 3, 5, 5)}, FaithcamValueError,
         "reference"),
        ({"batch_size": 0}, FaithcamValueError, "batch_size"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        shapley(make(NonlinearHead), images(1), layer="features", **kwargs)
