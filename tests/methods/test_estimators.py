"""The seed methods: Integrated and Expected Grad-CAM, their theorems and reductions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import faithcam
from faithcam.cams.estimators import Integrated
from faithcam.cams.weightings import WEIGHTINGS, gradcam
from faithcam.engine.layers import resolve_layer
from faithcam.engine.request import Request
from faithcam.engine.targets import as_target


class SaturatingNet(nn.Module):
    """A = ReLU(1x1 conv) with channel 0 = red, channel 1 = green; z = v · GAP(A) with
    v = (1, 0.1); score = 1 − ReLU(1 − z), flat once z > 1 (saturation)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 2, 1, bias=False), nn.ReLU())
        with torch.no_grad():
            self.features[0].weight.copy_(
                torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])[:, :, None, None]
            )
        self.register_buffer("v", torch.tensor([1.0, 0.1]))

    def forward(self, x):
        z = self.features(x).mean(dim=(2, 3)) @ self.v
        return (1 - torch.relu(1 - z))[:, None]


def saturating_image() -> torch.Tensor:
    image = torch.zeros(1, 3, 8, 8)
    image[0, 0, :, :4] = 5.0  # red on the left drives z
    image[0, 1, :, 4:] = 5.0  # green on the right barely does
    return image


def estimate(model, images, estimator, targets=0, batch_size=8, generator=None):
    layer = resolve_layer(model, "features", images)
    target = as_target(targets)
    bound = target.bind(len(images), images.device)
    request = Request(model, images, target, bound, batch_size, layer=layer, generator=generator)
    return estimator.estimate(request, gradcam)


def test_sensitivity_on_a_saturated_head() -> None:
    model = SaturatingNet().eval()
    image = saturating_image()
    with torch.no_grad():
        assert model(image).item() == 1.0  # past saturation: z = 2.75
    grad = faithcam.explain(model, image, "gradcam", targets=0)
    assert grad.maps.abs().max() == 0 and grad.raw_maps.abs().max() == 0
    for method, options, ratio in [
        ("integrated-gradcam", {"steps": 16}, 5),
        ("expected-gradcam", {"samples": 64, "baseline": "black", "sigma": 0.0}, 5),
        # kernel noise (σ = 0.05 × range) switches the weak channel on here and there
        ("expected-gradcam", {"samples": 64, "baseline": "black"}, 2),
    ]:
        result = faithcam.explain(model, image, method, targets=0, seed=0, **options)
        assert result.maps.max() == 1.0, method
        left, right = result.maps[0, :, :4].sum(), result.maps[0, :, 4:].sum()
        assert left > ratio * right, (method, options)
    for estimator in (
        Integrated(steps=16, variant="averaged-gradient"),
        faithcam.Expected(samples=64, baseline="black", variant="averaged-gradient"),
    ):
        channel_weights = estimate(model, image, estimator).gradients.mean(dim=(2, 3))[0]
        assert channel_weights[0] > channel_weights[1] > 0


@pytest.mark.parametrize("weighting", list(WEIGHTINGS))
def test_integrated_with_one_step_is_vanilla(gap_model, small_images, weighting) -> None:
    vanilla = faithcam.explain(gap_model, small_images, weighting, targets=2)
    integrated = faithcam.explain(
        gap_model, small_images, weighting, estimator="integrated", steps=1, targets=2,
        variant="averaged-gradient",
    )  # fmt: skip
    torch.testing.assert_close(integrated.raw_maps, vanilla.raw_maps)
    # the paper's left grid with one step evaluates only the baseline: Δ = 0, the zero map
    paper = faithcam.explain(
        gap_model, small_images, weighting, estimator="integrated", steps=1, targets=2
    )
    assert torch.equal(paper.raw_maps, torch.zeros_like(paper.raw_maps))


class TanhHeadNet(nn.Module):
    """conv-ReLU features and a non-linear head, so gradients vary along the path."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(7)
        self.features = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(6 * 8 * 8, 16), nn.Tanh(), nn.Linear(16, 3))

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def test_expected_with_point_mass_converges_to_integrated() -> None:
    model = TanhHeadNet().eval()
    images = torch.rand(2, 3, 8, 8) * 3
    integrated = Integrated(steps=512, variant="averaged-gradient")
    reference = estimate(model, images, integrated).gradients
    errors = {}
    for n in (8, 512):
        trials = []
        for seed in range(6):
            estimator = faithcam.Expected(
                samples=n, baseline=faithcam.Black(), sigma=0.0, variant="averaged-gradient"
            )
            generator = torch.Generator().manual_seed(seed)
            g = estimate(model, images, estimator, 0, 256, generator).gradients
            trials.append((g - reference).norm() / reference.norm())
        errors[n] = torch.stack(trials).mean().item()
    assert errors[512] < errors[8] / 2.5, errors  # 1/sqrt(n) predicts 8
    assert errors[512] < 0.1, errors


def test_monte_carlo_spread_falls_as_one_over_sqrt_n() -> None:
    model = TanhHeadNet().eval()
    images = torch.rand(1, 3, 8, 8) * 3
    spread = {}
    for n in (4, 64):
        maps = torch.stack(
            [
                faithcam.explain(
                    model,
                    images,
                    "expected-gradcam",
                    targets=1,
                    layer="features",
                    samples=n,
                    seed=seed,
                    relu=False,
                    baseline="uniform",  # the defaults before issue 23: noise-dominated rows
                    sigma=0.05,
                ).raw_maps
                for seed in range(24)
            ]
        )
        spread[n] = maps.std(dim=0).mean().item()
    ratio = spread[4] / spread[64]  # 1/sqrt(n) predicts 4
    assert 2.5 < ratio < 6.5, spread


@pytest.mark.parametrize("method", ["expected-gradcam", "smoothgradcam++"])
def test_seeds_make_results_reproducible(method) -> None:
    model = TanhHeadNet().eval()  # a non-linear head: the gradient depends on the sample
    images = torch.rand(2, 3, 8, 8)
    a = faithcam.explain(model, images, method, samples=4, seed=3, relu=False)
    b = faithcam.explain(model, images, method, samples=4, seed=3, relu=False)
    c = faithcam.explain(model, images, method, samples=4, seed=4, relu=False)
    torch.testing.assert_close(a.raw_maps, b.raw_maps, rtol=0, atol=0)
    assert not torch.equal(a.raw_maps, c.raw_maps)


def test_batch_size_does_not_change_integrated(gap_model, small_images) -> None:
    a = faithcam.explain(gap_model, small_images, "integrated-gradcam", steps=5, batch_size=2)
    b = faithcam.explain(gap_model, small_images, "integrated-gradcam", steps=5, batch_size=64)
    torch.testing.assert_close(a.raw_maps, b.raw_maps)


def test_every_estimator_with_every_weighting(gap_model, small_images) -> None:
    for estimator in ("vanilla", "integrated", "expected", "smooth"):
        for weighting in WEIGHTINGS:
            options = {
                "integrated": {"steps": 2},
                "expected": {"samples": 2},
                "smooth": {"samples": 2},
            }.get(estimator, {})
            result = faithcam.explain(
                gap_model, small_images, weighting, estimator=estimator, seed=0, **options
            )
            assert result.maps.shape == (3, 16, 16)
            assert torch.isfinite(result.maps).all()
            assert result.method == f"{estimator}-{weighting}"


def test_path_completeness_with_relative_activations() -> None:
    """On a GAP + linear head, integrated HiResCAM with A(x) − A(x') sums to y(x) − y(x')."""
    from tests.helpers import GapLinearNet

    torch.manual_seed(2)
    model = GapLinearNet().eval()
    images = torch.rand(2, 3, 16, 16)
    result = faithcam.explain(
        model,
        images,
        "hirescam",
        estimator="integrated",
        steps=8,
        variant="averaged-gradient",
        relative_activations=True,
        targets=1,
        relu=False,
    )
    with torch.no_grad():
        delta = model(images)[:, 1] - model(torch.zeros_like(images))[:, 1]
    torch.testing.assert_close(result.raw_maps.sum(dim=(1, 2)), delta, rtol=1e-4, atol=1e-5)


def test_released_variant_sums_per_step_maps(gap_model, small_images) -> None:
    """The authors' code: Σ_{i=0}^{m-1} ReLU(Grad-CAM(x_i)), x_i = (i/m) x for a black baseline."""
    m = 4
    result = faithcam.explain(
        gap_model, small_images, "integrated-gradcam", steps=m, variant="released", targets=0
    )
    expected = sum(
        faithcam.explain(gap_model, small_images * (i / m), "gradcam", targets=0).raw_maps.clamp(
            min=0
        )
        for i in range(m)
    )
    torch.testing.assert_close(result.raw_maps, expected, rtol=1e-5, atol=1e-6)


def test_reference_set_baselines(gap_model, small_images) -> None:
    references = torch.rand(5, 3, 16, 16)
    result = faithcam.explain(
        gap_model,
        small_images,
        "expected-gradcam",
        samples=4,
        seed=0,
        baseline=faithcam.ReferenceSet(references),
    )
    assert result.settings["baseline"] == "ReferenceSet(5 images)"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"method": "integrated-gradcam", "steps": 0}, "steps: must be >= 1"),
        ({"method": "expected-gradcam", "samples": 0}, "samples: must be >= 1"),
        ({"method": "expected-gradcam", "sigma": -0.1}, "sigma: must be a finite number >= 0"),
        ({"method": "integrated-gradcam", "baseline": torch.zeros(3, 8, 8)}, "has size"),
        (
            {
                "method": "expected-gradcam",
                "baseline": faithcam.ReferenceSet(torch.zeros(2, 1, 16, 16)),
            },
            "ReferenceSet has 1 channels, images have 3",
        ),
        ({"method": "integrated-gradcam", "baseline": "uniform"}, "deterministic baseline"),
        ({"method": "integrated-gradcam", "baseline": "purple"}, "unknown name 'purple'"),
        ({"method": "integrated-gradcam", "samples": 3}, r"unexpected options \['samples'\]"),
        ({"method": "gradcam", "estimator": "bayesian"}, "unknown 'bayesian'"),
    ],
)
def test_bad_estimator_input(gap_model, small_images, options, match) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        faithcam.explain(gap_model, small_images, **options)


def test_blur_sigma_must_be_positive() -> None:
    with pytest.raises(ValueError, match="sigma"):
        faithcam.Blur(sigma=-1)
