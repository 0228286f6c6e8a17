"""Integrated and Expected Grad-CAM as their authors define them, against naive references.

Each reference below is written independently of faithcam's estimators: a Python loop over
steps or samples, a full autograd forward per path point and ``torch.autograd.grad`` on a hooked
activation, and Grad-CAM's weighting written out as GAP(∂y/∂A).
"""

from __future__ import annotations

import pytest
import torch

import faithcam
from faithcam.cams.estimators import Expected, Integrated
from faithcam.cams.estimators.streams import Streams
from faithcam.engine.normalization import Normalization
from tests.helpers import GapLinearNet
from tests.methods.test_estimators import TanhHeadNet


def naive_activations_and_gradient(model, x, target):
    """A(x) and ∂y_target/∂A(x) for one image x (1, C, H, W), by plain autograd."""
    store = {}
    handle = model.features.register_forward_hook(lambda m, i, o: store.update(a=o))
    try:
        out = model(x)
    finally:
        handle.remove()
    (gradient,) = torch.autograd.grad(out[0, target], store["a"])
    return store["a"].detach()[0], gradient[0]


def naive_gradcam_term(activations, gradient):
    """Σ_k A^k · GAP(G^k), no ReLU."""
    return (activations * gradient.mean(dim=(1, 2))[:, None, None]).sum(0)


def naive_integrated(model, x, target, baseline, m, subtract=True, scale=None):
    """Figure 1: (1/m) Σ_{i=0}^{m-1} ReLU(Σ_k (A^k(x_i) − A^k(x')) GAP(G^k(x_i)))."""
    a_base, _ = naive_activations_and_gradient(model, baseline, target)
    total = 0
    for i in range(m):
        x_i = baseline + (i / m) * (x - baseline)
        a_i, g_i = naive_activations_and_gradient(model, x_i, target)
        a = a_i - a_base if subtract else a_i
        total = total + torch.relu(naive_gradcam_term(a, g_i))
    return total * (1 / m if scale is None else scale)


@pytest.mark.parametrize("model_cls", [TanhHeadNet, GapLinearNet])
def test_integrated_equals_the_figure_1_reference(model_cls) -> None:
    torch.manual_seed(0)
    model = model_cls().eval()
    images = torch.rand(2, 3, 8, 8) * 2
    m = 7
    result = faithcam.explain(
        model, images, "integrated-gradcam", targets=1, layer="features", steps=m, batch_size=5
    )
    for b in range(2):
        reference = naive_integrated(model, images[b : b + 1], 1, torch.zeros(1, 3, 8, 8), m)
        torch.testing.assert_close(result.raw_maps[b], reference, rtol=1e-5, atol=1e-6)
    assert result.settings["variant"] == "paper" and result.settings["steps"] == m


def test_integrated_released_variant_equals_the_authors_loop() -> None:
    model = TanhHeadNet().eval()
    images = torch.rand(2, 3, 8, 8) * 2
    result = faithcam.explain(
        model, images, "integrated-gradcam", targets=0, steps=5, variant="released"
    )
    for b in range(2):
        reference = naive_integrated(
            model, images[b : b + 1], 0, torch.zeros(1, 3, 8, 8), 5, subtract=False, scale=1.0
        )
        torch.testing.assert_close(result.raw_maps[b], reference, rtol=1e-5, atol=1e-6)


def test_averaged_gradient_variant_is_the_right_riemann_sum_and_equals_gradcam_on_gap() -> None:
    model = TanhHeadNet().eval()
    image = torch.rand(1, 3, 8, 8) * 2
    m = 6
    result = faithcam.explain(
        model, image, "integrated-gradcam", targets=2, steps=m, variant="averaged-gradient"
    )
    a_x, _ = naive_activations_and_gradient(model, image, 2)
    gradient = sum(naive_activations_and_gradient(model, image * (j / m), 2)[1] for j in
                   range(1, m + 1)) / m  # fmt: skip
    torch.testing.assert_close(
        result.raw_maps[0], naive_gradcam_term(a_x, gradient), rtol=1e-5, atol=1e-6
    )
    torch.manual_seed(0)
    gap = GapLinearNet().eval()
    images = torch.rand(2, 3, 8, 8)
    averaged = faithcam.explain(gap, images, "integrated-gradcam", variant="averaged-gradient")
    gradcam = faithcam.explain(gap, images, "gradcam")
    torch.testing.assert_close(averaged.raw_maps, gradcam.raw_maps, rtol=1e-5, atol=1e-6)


def test_expected_equals_a_naive_monte_carlo_loop_with_the_same_draws() -> None:
    """The draws of row r: α (rand, float64), the reference's pick (randint) and the noise
    (Φ⁻¹ of rand, float64), each from the image's own generator for (stream, r)."""
    model = TanhHeadNet().eval()
    image = torch.rand(1, 3, 8, 8) * 2
    references = torch.rand(3, 3, 8, 8) * 2
    n, sigma, seed = 6, 0.2, 11
    result = faithcam.explain(
        model, image, "expected-gradcam", targets=1, samples=n, sigma=sigma, seed=seed,
        baseline=faithcam.ReferenceSet(references), batch_size=64, sampler="random",
    )  # fmt: skip
    streams = Streams.of(image, torch.Generator().manual_seed(seed))

    def uniform(stream, r, shape=()):
        u = torch.rand(shape, generator=streams.generator(0, stream, r), dtype=torch.float64)
        return u * (1 - 2.0**-52) + 2.0**-53

    alpha = [float(uniform("alpha", r)) for r in range(n + 1)]
    picks = [int(torch.randint(3, (1,), generator=streams.generator(0, "baseline", r)))
             for r in range(n + 1)]  # fmt: skip
    noise = [torch.special.ndtri(uniform("noise", r, (3, 8, 8))).float() for r in range(n + 1)]
    value_range = image.max() - image.min()
    total = 0
    for r in range(1, n + 1):
        base = references[picks[r]][None]
        x_r = base + alpha[r] * (image - base) + noise[r] * sigma * value_range
        a_r, g_r = naive_activations_and_gradient(model, x_r, 1)
        a_base, _ = naive_activations_and_gradient(model, base, 1)
        total = total + torch.relu(naive_gradcam_term(a_r - a_base, g_r)) / n
    torch.testing.assert_close(result.raw_maps[0], total, rtol=1e-5, atol=1e-6)


def test_expected_with_a_point_mass_converges_to_integrated() -> None:
    model = TanhHeadNet().eval()
    images = torch.rand(2, 3, 8, 8) * 3
    reference = faithcam.explain(model, images, "integrated-gradcam", targets=0, steps=512)
    errors = {}
    for n in (32, 512):
        trials = []
        for seed in range(6):
            result = faithcam.explain(
                model, images, "expected-gradcam", targets=0, samples=n, sigma=0.0,
                baseline=faithcam.Black(), seed=seed, batch_size=64, sampler="random",
            )  # fmt: skip
            error = (result.raw_maps - reference.raw_maps).norm() / reference.raw_maps.norm()
            trials.append(error)
        errors[n] = torch.stack(trials).mean().item()
    # 1/sqrt(n) predicts 4 (measured 3.3: the per-sample maps are heavy-tailed at small n)
    assert errors[512] < errors[32] / 2.5, errors
    assert errors[512] < 0.06, errors


def test_seed_methods_differ_from_gradcam_on_a_gap_linear_head() -> None:
    """The reason the issue exists: on GAP + linear heads the first reconstruction was Grad-CAM."""
    torch.manual_seed(3)
    model = GapLinearNet().eval()
    images = torch.rand(2, 3, 16, 16)
    gradcam = faithcam.explain(model, images, "gradcam", targets=0).maps
    for method in ("integrated-gradcam", "expected-gradcam"):
        maps = faithcam.explain(model, images, method, targets=0, seed=0).maps
        assert ((maps - gradcam).norm() / gradcam.norm()).item() > 0.05, method


def test_black_is_pixel_black_with_a_normalization() -> None:
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
    normalization = Normalization(mean, std)
    images = torch.rand(2, 3, 8, 8)
    bound = faithcam.Black().bind(images, normalization)
    black = bound(images, torch.arange(2), None)
    torch.testing.assert_close(normalization.to_pixels(black), torch.zeros_like(images))
    assert torch.equal(faithcam.Black()(images, torch.arange(2), None), torch.zeros_like(images))
    model = TanhHeadNet().eval()
    with_norm = faithcam.explain(
        model, images, "integrated-gradcam", targets=0, steps=4, normalization=(mean, std)
    )
    explicit = faithcam.explain(
        model, images, "integrated-gradcam", targets=0, steps=4,
        baseline=faithcam.Black.from_normalization(mean, std),
    )  # fmt: skip
    torch.testing.assert_close(with_norm.raw_maps, explicit.raw_maps)
    assert "2.5" in with_norm.settings["baseline"]  # −0.5 / 0.2 = −2.5


def test_kernel_noise_scales_with_the_image_range_not_the_path_point() -> None:
    """With a black baseline, row r is α_r x + ε_r; the spread of ε must not depend on α."""
    image = torch.zeros(1, 3, 32, 32)
    image[..., 16:] = 4.0  # range 4
    estimator = Expected(samples=64, baseline=faithcam.Black(), sigma=0.1)
    generator = torch.Generator().manual_seed(0)
    residual_std = []
    for chunk in estimator.chunks(image, batch_size=65, generator=generator):
        alpha = chunk.plan.alpha.view(-1, 1, 1, 1)
        residual = chunk.inputs - alpha * image
        sample = chunk.plan.role == 0
        low = sample & (chunk.plan.alpha < 0.3)
        high = sample & (chunk.plan.alpha > 0.7)
        residual_std = [residual[low].std().item(), residual[high].std().item()]
    assert residual_std[0] == pytest.approx(0.4, rel=0.1)
    assert residual_std[1] == pytest.approx(0.4, rel=0.1)


def test_the_row_plan_is_lazy_for_huge_step_counts() -> None:
    estimator = Integrated(steps=10**9)
    plans = estimator.plans(n_images=2, batch_size=4)
    first = next(plans)
    assert len(first) == 4 and first.alpha.tolist()[:2] == [1.0, 0.0]
    assert estimator.rows_per_image == 10**9 + 1


def test_reference_set_never_uses_an_image_as_its_own_reference() -> None:
    images = torch.rand(2, 3, 4, 4)
    picks = faithcam.ReferenceSet(images)(
        images[[0] * 50], torch.zeros(50, dtype=torch.long), torch.Generator().manual_seed(0)
    )
    assert all(torch.equal(p, images[1]) for p in picks)


def test_others_baseline_draws_from_the_other_images_of_the_call() -> None:
    model = TanhHeadNet().eval()
    images = torch.rand(3, 3, 8, 8)
    others = faithcam.explain(
        model, images, "expected-gradcam", targets=0, baseline="others", samples=4, seed=0
    )
    explicit = faithcam.explain(
        model, images, "expected-gradcam", targets=0, samples=4, seed=0,
        baseline=faithcam.ReferenceSet(images),
    )  # fmt: skip
    torch.testing.assert_close(others.raw_maps, explicit.raw_maps)
    with pytest.raises(ValueError, match="'others' draws from the other images"):
        faithcam.explain(model, images[:1], "expected-gradcam", baseline="others")


def test_expected_needs_n_reference_forwards_up_to_the_layer_only() -> None:
    """n + 1 full forwards per image plus n forwards that stop at the layer (the head never
    runs for them)."""
    model = TanhHeadNet().eval()
    calls = {"features": 0, "head": 0}
    hooks = [
        getattr(model, name).register_forward_hook(
            lambda m, i, o, name=name: calls.__setitem__(name, calls[name] + len(o))
        )
        for name in calls
    ]
    try:
        faithcam.explain(
            model, torch.rand(2, 3, 8, 8), "expected-gradcam", layer="features", samples=5, seed=0
        )
    finally:
        for hook in hooks:
            hook.remove()
    assert calls == {"features": 2 * (5 + 1) + 2 * 5, "head": 2 * (5 + 1)}


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"method": "integrated-gradcam", "variant": "fancy"}, "variant: unknown 'fancy'"),
        ({"method": "expected-gradcam", "variant": "released"}, "variant: unknown 'released'"),
        ({"method": "expected-gradcam", "sigma": -0.1}, "sigma: must be a finite number >= 0"),
        ({"method": "expected-gradcam", "sigma": float("inf")}, "got inf"),
        ({"method": "expected-gradcam", "sigma": float("nan")}, "got nan"),
        ({"method": "expected-gradcam", "normalization": ((0.5,) * 2, (0.2,) * 2)}, "2 mean"),
        ({"method": "integrated-gradcam", "normalization": ((0.5,) * 3, (0.0,) * 3)}, "std must"),
        (
            {"method": "expected-gradcam", "baseline": faithcam.ReferenceSet(torch.rand(2, 3, 9, 9))},  # noqa: E501
            r"ReferenceSet has size \(9, 9\), images have \(8, 8\)",
        ),
        (
            {"method": "expected-gradcam", "baseline": faithcam.ReferenceSet(torch.rand(2, 1, 8, 8))},  # noqa: E501
            "ReferenceSet has 1 channels, images have 3",
        ),
        (
            {"method": "integrated-gradcam", "relative_activations": True},
            "relative_activations: only for variant='averaged-gradient'",
        ),
    ],
)
def test_bad_seed_method_input_names_the_value(options, match) -> None:
    model = TanhHeadNet().eval()
    with pytest.raises((ValueError, TypeError), match=match):
        faithcam.explain(model, torch.rand(1, 3, 8, 8), **options)


def test_any_weighting_replaces_the_inner_map() -> None:
    """expected × hirescam and integrated × hirescam: ReLU(Σ_k ΔA^k ⊙ G^k) per sample."""
    model = TanhHeadNet().eval()
    image = torch.rand(1, 3, 8, 8) * 2
    m = 5
    result = faithcam.explain(model, image, "hirescam", estimator="integrated", steps=m, targets=2)
    a_base, _ = naive_activations_and_gradient(model, torch.zeros_like(image), 2)
    reference = 0
    for i in range(m):
        a_i, g_i = naive_activations_and_gradient(model, image * (i / m), 2)
        reference = reference + torch.relu(((a_i - a_base) * g_i).sum(0)) / m
    torch.testing.assert_close(result.raw_maps[0], reference, rtol=1e-5, atol=1e-6)
