"""Samplers, quadrature rules and sequential sampling of the path estimators (issue 16).

References are independent of the code under test: many plain random samples for the
Monte-Carlo estimators, the naive per-step loop of tests/methods/test_seed_methods.py with numpy's
Gauss–Legendre nodes for the quadrature rules, and exact properties of the draws (a scrambled
Sobol' prefix of 2^k points puts one point in each interval [j/2^k, (j+1)/2^k); antithetic
pairs sum to zero; a cycled permutation uses every reference equally often).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from torch import nn

import faithcam
from faithcam.cams.estimators import ROLE_SAMPLE, Expected
from faithcam.engine import capture as capture_module
from tests.methods.test_seed_methods import (
    TanhHeadNet,
    naive_activations_and_gradient,
    naive_gradcam_term,
    naive_integrated,
)

SAMPLERS = ["random", "antithetic", "sobol", "sobol-antithetic", "qmc"]


class SmoothNet(nn.Module):
    """conv-tanh features and a tanh head: every per-step map is smooth in α."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Tanh())
        self.head = nn.Sequential(nn.Linear(4 * 8 * 8, 8), nn.Tanh(), nn.Linear(8, 3))

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


class SaturatingNet(nn.Module):
    """tanh(conv) features that saturate early on the path: per-sample maps vary little, so
    sequential sampling can stop early."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(5)
        self.features = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.Tanh())
        with torch.no_grad():
            self.features[0].weight.abs_().mul_(20)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3))

    def forward(self, x):
        return self.head(self.features(x))


def relative_error(maps: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    return (maps - reference).flatten(1).norm(dim=1) / reference.flatten(1).norm(dim=1)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_samplers_are_reproducible_with_a_seed(sampler) -> None:
    model = TanhHeadNet().eval()
    images = torch.rand(2, 3, 8, 8)
    refs = faithcam.ReferenceSet(torch.rand(3, 3, 8, 8))
    kw = dict(targets=0, samples=6, sampler=sampler, baseline=refs, batch_size=5)
    a = faithcam.explain(model, images, "expected-gradcam", seed=3, **kw).raw_maps
    b = faithcam.explain(model, images, "expected-gradcam", seed=3, **kw).raw_maps
    c = faithcam.explain(model, images, "expected-gradcam", seed=4, **kw).raw_maps
    assert torch.equal(a, b) and not torch.equal(a, c)
    smooth = "antithetic" if "antithetic" in sampler else "random"
    kw = dict(estimator="smooth", targets=0, samples=4, sampler=smooth, seed=1)
    s1 = faithcam.explain(model, images, "gradcam++", **kw).raw_maps
    assert torch.equal(s1, faithcam.explain(model, images, "gradcam++", **kw).raw_maps)


@pytest.mark.parametrize("tolerance", [None, 0.1])
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_an_image_gets_the_same_map_in_any_batch(sampler, tolerance) -> None:
    """Per-image streams: image a alone, first of three, or second of two in another order,
    with other batch sizes, gets the same map (and the same samples_used); another seed not."""
    model = TanhHeadNet().eval()
    a, b, c = torch.rand(3, 1, 3, 8, 8, generator=torch.Generator().manual_seed(7)) * 2
    kw = dict(targets=0, samples=12, sampler=sampler, sigma=0.2, tolerance=tolerance, seed=3)

    def run(images, batch_size, **options):
        return faithcam.explain(model, images, "expected-gradcam", batch_size=batch_size,
                                **{**kw, **options})  # fmt: skip

    alone = run(a, 13)
    for result, where in ((run(torch.cat([a, b, c]), 5), 0), (run(torch.cat([c, a]), 7), 1)):
        torch.testing.assert_close(result.raw_maps[where], alone.raw_maps[0], atol=1e-6, rtol=1e-5)
        if tolerance:
            assert result.settings["samples_used"][where] == alone.settings["samples_used"][0]
    other = run(a, 13, seed=4).raw_maps[0]
    assert relative_error(other[None], alone.raw_maps) > 1e-3
    if "sobol" not in sampler:
        smooth = dict(estimator="smooth", targets=0, samples=6, seed=2, sampler=sampler.replace(
            "sobol-", ""), tolerance=tolerance)  # fmt: skip
        one = faithcam.explain(model, a, "gradcam++", batch_size=3, **smooth).raw_maps[0]
        two = faithcam.explain(model, torch.cat([b, a]), "gradcam++", **smooth).raw_maps[1]
        torch.testing.assert_close(two, one, atol=1e-6, rtol=1e-5)


def test_qmc_pixel_draws_are_a_latin_hypercube() -> None:
    """Under "qmc", each pixel's n uniform-noise baselines (an image spanning [0, 1]: x' = u)
    fall one in each stratum [j/n, (j + 1)/n), and so do Φ(ε/(σ·range)) of the kernel noise,
    also across chunk boundaries."""
    n = 8
    image = torch.rand(1, 3, 5, 5)
    image.view(-1)[:2] = torch.tensor([0.0, 1.0])
    estimator = Expected(samples=n, sampler="qmc", sigma=0.1, baseline="uniform")
    baselines, uniforms = [], []
    for chunk in estimator.chunks(image, batch_size=3, generator=torch.Generator().manual_seed(0)):
        sample = (chunk.plan.role == ROLE_SAMPLE).nonzero().flatten()
        reference = chunk.references[sample]
        alpha = chunk.plan.alpha[sample].view(-1, 1, 1, 1)
        epsilon = chunk.inputs[sample] - (reference + alpha * (image - reference))
        baselines.append(reference)
        uniforms.append(torch.special.ndtr(epsilon.double() / 0.1))
    for draws in (torch.cat(baselines), torch.cat(uniforms)):
        strata = (draws * n).floor().long().flatten(1)
        assert len(draws) == n
        assert (strata.sort(0).values == torch.arange(n).view(-1, 1)).all()


@functools.cache
def unbiased_setup(baseline: str):
    """Model, images, options and a 4,096-sample random reference map."""
    model = TanhHeadNet().eval()
    torch.manual_seed(0)
    images = torch.rand(2, 3, 8, 8) * 2
    base = faithcam.ReferenceSet(torch.rand(4, 3, 8, 8)) if baseline == "references" else None
    kw = dict(targets=0, baseline=base or "uniform", sigma=0.2)
    reference = faithcam.explain(
        model, images, "expected-gradcam", samples=4096, seed=1000, batch_size=4097,
        sampler="random", **kw,
    ).raw_maps  # fmt: skip
    return model, images, kw, reference


@pytest.mark.parametrize("baseline", ["uniform", "references"])
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_samplers_are_unbiased(sampler, baseline) -> None:
    """The mean over 32 seeds of n = 8 estimates converges to a 4,096-sample random map."""
    model, images, kw, reference = unbiased_setup(baseline)
    runs = [
        faithcam.explain(
            model, images, "expected-gradcam", samples=8, seed=s, sampler=sampler, **kw
        ).raw_maps
        for s in range(32)
    ]
    single = relative_error(runs[0], reference).mean()
    mean = torch.stack(runs).mean(0)
    # one run is ~0.3 off; the mean of 32 unbiased runs ~0.3/√32 ≈ 0.05 (+ the reference's 0.015)
    assert relative_error(mean, reference).max() < 0.1, (single, relative_error(mean, reference))


def test_sobol_alpha_is_stratified_and_references_are_cycled() -> None:
    images = torch.rand(2, 3, 4, 4)
    references = torch.rand(4, 3, 4, 4)
    references[2] = images[1]  # image 1 is in the set: it never serves as its own reference
    estimator = Expected(samples=16, sampler="sobol", baseline=faithcam.ReferenceSet(references))
    generator = torch.Generator().manual_seed(0)
    alphas, picks = {0: [], 1: []}, {0: [], 1: []}
    for chunk in estimator.chunks(images, batch_size=5, generator=generator):
        sample = chunk.plan.role == ROLE_SAMPLE
        for i in sample.nonzero().flatten().tolist():
            image = int(chunk.plan.image_index[i])
            alphas[image].append(float(chunk.plan.alpha[i]))
            match = (chunk.references[i] == references).flatten(1).all(1).nonzero()
            picks[image].append(int(match[0]))
    for image in (0, 1):
        # one point in each [j/16, (j+1)/16), and in each [j/8, ...) among the first 8
        assert sorted(int(a * 16) for a in alphas[image]) == list(range(16))
        assert sorted(int(a * 8) for a in alphas[image][:8]) == list(range(8))
    assert np.bincount(picks[0], minlength=4).tolist() == [4, 4, 4, 4]
    assert 2 not in picks[1] and sum(np.bincount(picks[1], minlength=4)) == 16


@pytest.mark.parametrize("baseline", ["uniform", "gaussian", "black"])
def test_antithetic_pairs_cancel_across_chunk_boundaries(baseline) -> None:
    """Rows (1, 2), (3, 4), ... of an image: ε and −ε, and reflected noise baselines, also when a
    pair straddles two chunks (batch_size 3)."""
    image = torch.rand(2, 3, 6, 6) * 3
    estimator = Expected(samples=6, sampler="antithetic", sigma=0.3, baseline=baseline)
    generator = torch.Generator().manual_seed(0)
    rows = {}
    for chunk in estimator.chunks(image, batch_size=3, generator=generator):
        plan = chunk.plan
        for i in range(len(plan)):
            b, p = int(plan.image_index[i]), int(plan.position[i])
            reference = chunk.references[i]
            noise = chunk.inputs[i] - (reference + plan.alpha[i] * (image[b] - reference))
            rows[b, p] = (reference, noise)
    flat = image.flatten(1)
    for b in range(2):
        centre2 = {"uniform": flat[b].min() + flat[b].max(), "gaussian": 2 * image[b]}
        for p in (1, 3, 5):
            (ref1, eps1), (ref2, eps2) = rows[b, p], rows[b, p + 1]
            assert eps1.abs().max() > 0.1
            torch.testing.assert_close(eps1 + eps2, torch.zeros_like(eps1), atol=1e-5, rtol=0)
            if baseline in centre2:
                assert not torch.allclose(ref1, ref2)
                torch.testing.assert_close(ref1 + ref2, centre2[baseline].expand_as(ref1))


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("tolerance", [None, 0.05])
def test_no_forward_has_more_than_batch_size_rows(monkeypatch, sampler, tolerance) -> None:
    sizes = []
    real = capture_module.capture

    def counting(model, layer, inputs, *args, **kwargs):
        sizes.append(len(inputs))
        return real(model, layer, inputs, *args, **kwargs)

    monkeypatch.setattr(capture_module, "capture", counting)
    model = TanhHeadNet().eval()
    result = faithcam.explain(
        model, torch.rand(3, 3, 8, 8), "expected-gradcam", targets=0, samples=20,
        sampler=sampler, tolerance=tolerance, batch_size=7, seed=0,
    )  # fmt: skip
    assert max(sizes) <= 7
    rows = sum(result.settings["samples_used"]) + 3 if tolerance else 3 * 21
    assert sum(sizes) == rows


def test_quadrature_rules_converge_faster_than_the_left_grid() -> None:
    model = SmoothNet().eval()
    images = torch.rand(2, 3, 8, 8) * 2
    kw = dict(targets=1, layer="features")
    reference = faithcam.explain(
        model, images, "integrated-gradcam", steps=1024, rule="trapezoid", batch_size=1025, **kw
    ).raw_maps
    errors = {}
    for rule in ("left", "trapezoid", "gauss-legendre"):
        errors[rule] = [
            relative_error(
                faithcam.explain(model, images, "integrated-gradcam", steps=m, rule=rule, **kw)
                .raw_maps, reference,
            ).max().item()
            for m in (4, 16)
        ]  # fmt: skip
    # left: O(1/m); trapezoid O(1/m²); Gauss–Legendre faster still on a smooth integrand
    assert errors["left"][1] > 0.01
    assert errors["trapezoid"][1] < errors["left"][1] / 10, errors
    assert errors["gauss-legendre"][1] < errors["left"][1] / 10, errors
    assert errors["trapezoid"][0] / errors["trapezoid"][1] > 10, errors  # ≈ 16 for O(1/m²)


def test_quadrature_rules_equal_the_naive_sums() -> None:
    """trapezoid = left + f(1)/(2m) (f(0) = 0: ΔA = 0 at x'); Gauss–Legendre = Σ_j w_j f(t_j)."""
    model = TanhHeadNet().eval()
    image = torch.rand(1, 3, 8, 8) * 2
    base, m = torch.zeros_like(image), 5
    left = naive_integrated(model, image, 1, base, m)
    a_x, g_x = naive_activations_and_gradient(model, image, 1)
    a_base, _ = naive_activations_and_gradient(model, base, 1)
    f1 = torch.relu(naive_gradcam_term(a_x - a_base, g_x))
    trapezoid = faithcam.explain(model, image, "integrated-gradcam", targets=1, steps=m,
                                 rule="trapezoid", batch_size=3)  # fmt: skip
    torch.testing.assert_close(trapezoid.raw_maps[0], left + f1 / (2 * m), rtol=1e-5, atol=1e-6)
    nodes, weights = np.polynomial.legendre.leggauss(m)
    gauss = 0
    for t, w in zip(nodes, weights, strict=True):
        a_t, g_t = naive_activations_and_gradient(model, image * float((t + 1) / 2), 1)
        gauss = gauss + float(w / 2) * torch.relu(naive_gradcam_term(a_t - a_base, g_t))
    result = faithcam.explain(model, image, "integrated-gradcam", targets=1, steps=m,
                              rule="gauss-legendre", batch_size=4)  # fmt: skip
    torch.testing.assert_close(result.raw_maps[0], gauss, rtol=1e-5, atol=1e-6)
    assert result.settings["rule"] == "gauss-legendre"


@pytest.mark.parametrize(("variant", "scale"), [("paper", 1.0), ("released", 5.0)])
def test_right_rule_is_figure_one_grid(variant, scale) -> None:
    """Figure 1's grid, i = 1 … m: by hand, (1/m) Σ_{i=1}^{m} ReLU(ΔA_i · GAP(G_i)) with
    ΔA_i = A(x' + (i/m)(x − x')) − A(x'); the released variant sums (m × the average, with
    A(x_i) itself in place of ΔA_i)."""
    model = TanhHeadNet().eval()
    image = torch.rand(1, 3, 8, 8) * 2
    base, m = torch.zeros_like(image), 5
    a_base, _ = naive_activations_and_gradient(model, base, 1)
    by_hand = 0
    for i in range(1, m + 1):
        a_i, g_i = naive_activations_and_gradient(model, image * (i / m), 1)
        delta = a_i - a_base if variant == "paper" else a_i
        by_hand = by_hand + torch.relu(naive_gradcam_term(delta, g_i)) * scale / m
    result = faithcam.explain(model, image, "integrated-gradcam", targets=1, steps=m,
                              rule="right", variant=variant, batch_size=3)  # fmt: skip
    torch.testing.assert_close(result.raw_maps[0], by_hand, rtol=1e-5, atol=1e-6)
    assert result.settings["rule"] == "right"


@functools.cache
def tolerance_setup():
    model = SaturatingNet().eval()
    torch.manual_seed(1)
    images = torch.rand(20, 3, 8, 8) * 0.5 + 0.5
    kw = dict(targets=0, layer="features", baseline=faithcam.Black(), sigma=0.02)
    reference = faithcam.explain(
        model, images, "expected-gradcam", samples=2048, seed=99, batch_size=4096,
        sampler="random", **kw,
    ).raw_maps  # fmt: skip
    return model, images, kw, reference


@pytest.mark.parametrize("sampler", ["random", "sobol-antithetic"])
def test_tolerance_stops_early_and_stays_within_it(sampler) -> None:
    model, images, kw, reference = tolerance_setup()
    result = faithcam.explain(model, images, "expected-gradcam", samples=64, seed=1,
                              tolerance=0.05, batch_size=16, sampler=sampler, **kw)  # fmt: skip
    used = torch.tensor(result.settings["samples_used"])
    errors = relative_error(result.raw_maps, reference)
    assert (used < 64).float().mean() >= 0.75, used
    assert (errors <= 0.05).float().mean() >= 0.9, errors
    assert result.settings["tolerance"] == 0.05 and result.settings["sampler"] == sampler


def test_tolerance_with_the_averaged_gradient_estimators() -> None:
    model = TanhHeadNet().eval()
    images = torch.rand(2, 3, 8, 8)
    result = faithcam.explain(model, images, "gradcam", estimator="smooth", targets=0,
                              samples=12, sigma=0.3, tolerance=1e-6, seed=0)  # fmt: skip
    assert result.settings["samples_used"] == [12, 12]  # never converges: the cap
    fixed = faithcam.explain(model, images, "gradcam", estimator="smooth", targets=0,
                             samples=12, sigma=0.3, seed=0, batch_size=64)  # fmt: skip
    # the same estimator (other draws): both near the 2,048-sample map
    many = faithcam.explain(model, images, "gradcam", estimator="smooth", targets=0,
                            samples=2048, sigma=0.3, seed=5, batch_size=2049)  # fmt: skip
    assert relative_error(result.raw_maps, many.raw_maps).max() < 0.5
    assert relative_error(fixed.raw_maps, many.raw_maps).max() < 0.5


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"method": "expected-gradcam", "sampler": "halton"}, "sampler: unknown 'halton'"),
        ({"method": "gradcam", "estimator": "smooth", "sampler": "sobol"}, "sampler: unknown"),
        ({"method": "expected-gradcam", "tolerance": 0}, "tolerance: must be a finite number > 0"),
        ({"method": "expected-gradcam", "tolerance": -1.0}, "tolerance: must be"),
        ({"method": "expected-gradcam", "tolerance": float("nan")}, "got nan"),
        ({"method": "expected-gradcam", "tolerance": float("inf")}, "got inf"),
        ({"method": "expected-gradcam", "tolerance": "0.1"}, "tolerance: expected a finite"),
        ({"method": "integrated-gradcam", "rule": "simpson"}, "rule: unknown 'simpson'"),
        (
            {"method": "integrated-gradcam", "rule": "trapezoid", "variant": "averaged-gradient"},
            "rule: 'trapezoid' is for the 'paper' and 'released' variants",
        ),
    ],
)
def test_bad_sampling_input_names_the_argument(options, match) -> None:
    with pytest.raises((ValueError, TypeError), match=match) as info:
        faithcam.explain(TanhHeadNet().eval(), torch.rand(1, 3, 8, 8), **options)
    assert "\n" not in str(info.value)


def test_released_variant_trapezoid_is_m_times_the_integral_rule() -> None:
    """released: Σ_i f(x_i) without the subtraction; its trapezoid is left + (f(1) − f(0))/2."""
    model = TanhHeadNet().eval()
    image = torch.rand(1, 3, 8, 8)
    base, m = torch.zeros_like(image), 6
    left = naive_integrated(model, image, 0, base, m, subtract=False, scale=1.0)
    f = [torch.relu(naive_gradcam_term(*naive_activations_and_gradient(model, x, 0)))
         for x in (base, image)]  # fmt: skip
    result = faithcam.explain(model, image, "integrated-gradcam", targets=0, steps=m,
                              variant="released", rule="trapezoid")  # fmt: skip
    torch.testing.assert_close(result.raw_maps[0], left + (f[1] - f[0]) / 2, rtol=1e-5, atol=1e-5)


class IdentityLayerLinearHead(nn.Module):
    """A = x at the layer (an identity 1×1 conv), then GAP and a linear head: the per-sample map
    of Expected Grad-CAM with a black baseline is ReLU(α d + e) per pixel, d = Σ_k x_k w_k / hw,
    e = Σ_k ε_k w_k / hw ~ N(0, τ²), τ = σ · range(x) · ‖w‖ / hw."""

    WEIGHT = (1.0, -2.0, 0.5)

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(3, 3, 1, bias=False)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2))
        with torch.no_grad():
            self.features.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.head[2].weight.copy_(torch.tensor([self.WEIGHT, (0.3, 0.2, 0.1)]))

    def forward(self, x):
        return self.head(self.features(x))


def closed_form_expected_map(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """E over α ~ U(0, 1) and e of ReLU(α d + e): ∫₀¹ (μ Φ(μ/τ) + τ φ(μ/τ)) dα, μ = α d
    (the mean of a rectified normal), by 200-node Gauss–Legendre quadrature."""
    from scipy.stats import norm

    x = images.double().numpy()
    w = np.array(IdentityLayerLinearHead.WEIGHT)
    hw = x.shape[2] * x.shape[3]
    d = np.einsum("bkhw,k->bhw", x, w) / hw
    flat = x.reshape(len(x), -1)
    tau = (sigma * (flat.max(1) - flat.min(1)) * np.linalg.norm(w) / hw)[:, None, None]
    nodes, weights = np.polynomial.legendre.leggauss(200)
    total = 0
    for a, weight in zip((nodes + 1) / 2, weights / 2, strict=True):
        mu = a * d
        total = total + weight * (mu * norm.cdf(mu / tau) + tau * norm.pdf(mu / tau))
    return torch.from_numpy(total)


def test_tolerance_under_quasi_random_sampling_keeps_its_promise_and_stops_sooner() -> None:
    """Randomised-QMC replicates: ≥ 90 % of maps within the tolerance of the closed-form map, and
    fewer samples than i.i.d. sampling (whose standard error is Welford's) needs for it."""
    model = IdentityLayerLinearHead().eval()
    images = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 0.5
    reference = closed_form_expected_map(images, 0.1)
    kw = dict(layer="features", targets=0, baseline="black", sigma=0.1, samples=512,
              tolerance=0.1, batch_size=256)  # fmt: skip
    used = {}
    for sampler in ("random", "sobol", "qmc"):
        errors, used[sampler] = [], []
        for seed in range(4):
            result = faithcam.explain(model, images, "expected-gradcam", seed=seed,
                                      sampler=sampler, **kw)  # fmt: skip
            errors.append(relative_error(result.raw_maps.double(), reference))
            used[sampler] += result.settings["samples_used"]
        assert (torch.cat(errors) <= 0.1).float().mean() >= 0.9, (sampler, errors)
    median = {s: float(np.median(u)) for s, u in used.items()}
    assert median["qmc"] < 0.8 * median["random"] and median["sobol"] < median["random"], median


def test_replicate_standard_error_equals_numpy_on_the_replicate_means() -> None:
    """Rows dealt to R = 4 replicates in chunks of any size: the mean and √(Σ s²/R)/‖mean‖,
    s² the sample variance of the replicate means, as numpy computes them."""
    from faithcam.cams.estimators.reduce import Replicates

    values = torch.rand(2, 16, 3, 3, generator=torch.Generator().manual_seed(0))
    moments = Replicates(2, replicates=4)
    position = torch.arange(1, 17)
    for start, stop in ((0, 5), (5, 6), (6, 16)):
        for image in (0, 1):
            rows = slice(start, stop)
            moments.add(torch.full((stop - start,), image), values[image, rows], position[rows])
    for image in (0, 1):
        v = values[image].double().numpy()
        means = np.stack([v[r::4].mean(0) for r in range(4)])  # position p → (p − 1) mod 4
        expected = np.sqrt(means.var(0, ddof=1).sum() / 4) / np.linalg.norm(v.mean(0))
        assert moments.relative_standard_error()[image] == pytest.approx(expected, rel=1e-5)
        np.testing.assert_allclose(moments.mean[image].numpy(), v.mean(0), rtol=1e-6)
    assert moments.count.tolist() == [16, 16]


@pytest.mark.parametrize("baseline", ["black", "references"])
def test_qmc_draws_what_sobol_draws_without_per_pixel_noise(baseline) -> None:
    """With no per-pixel draws (a black or data baseline, σ = 0) the default "qmc" is exactly
    "sobol" (the same α and references), so the measurements of "sobol" on those cases hold for
    the default."""
    model = TanhHeadNet().eval()
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    if baseline == "references":
        baseline = faithcam.ReferenceSet(torch.rand(4, 3, 8, 8))
    kw = dict(targets=0, baseline=baseline, sigma=0.0, samples=16, seed=7)
    qmc = faithcam.explain(model, images, "expected-gradcam", **kw)
    sobol = faithcam.explain(model, images, "expected-gradcam", sampler="sobol", **kw)
    assert qmc.settings["sampler"] == "qmc"
    torch.testing.assert_close(qmc.raw_maps, sobol.raw_maps, rtol=0, atol=0)


def test_qmc_under_tolerance_deals_whole_hypercubes_to_each_replicate() -> None:
    """With tolerance= (8 interleaved replicates) each replicate's rows form Latin hypercubes of
    HYPERCUBE_BLOCK rows in turn: the uniform-noise baselines (x' = u) of rows 8q … 8q + 7 of a
    replicate fall one in each stratum [j/8, (j + 1)/8), whatever the cap."""
    from faithcam.cams.estimators.samplers import HYPERCUBE_BLOCK
    from tests.helpers import qmc_uniform_baselines_under_tolerance

    rows = qmc_uniform_baselines_under_tolerance()
    n = HYPERCUBE_BLOCK
    for replicate in (0, 5):
        for block in (0, 3):
            positions = [1 + replicate + 8 * (block * n + i) for i in range(n)]
            draws = torch.stack([rows[p] for p in positions])
            strata = (draws * n).floor().long().flatten(1)
            assert (strata.sort(0).values == torch.arange(n).view(-1, 1)).all(), (replicate, block)
