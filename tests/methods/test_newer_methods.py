"""The methods added for pytorch-grad-cam 1.5.7's breadth (issue 27), against references written
from the papers by loops and NumPy: FEM, Seg-Eigen-CAM, RefineCAM's product fusion, and the
sign rules of the principal component (Eigen-CAM, EigenGradCAM, ``eigen_smooth``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import faithcam
from faithcam.cams.eigen import first_component, sign_rule
from tests.helpers import GapLinearNet, seeded_images
from tests.references import reference_gradients

IMAGES = seeded_images(2, 16)


@pytest.fixture
def model() -> GapLinearNet:
    torch.manual_seed(0)
    return GapLinearNet(classes=5, channels=8).eval()


def numpy_projection(terms: torch.Tensor) -> np.ndarray:
    """(B, K, h, w) -> (B, h, w): X v₁ of each centred (hw × K) matrix, v₁ as NumPy's full SVD
    returns it (the peer's code path, unsigned)."""
    out = []
    for image in terms.numpy().astype(np.float32):
        x = image.reshape(image.shape[0], -1).T
        x = x - x.mean(0)
        _, _, vt = np.linalg.svd(x, full_matrices=True)
        out.append((x @ vt[0]).reshape(image.shape[1:]))
    return np.stack(out)


def test_fem_is_the_k_sigma_share_weighted_sum(model) -> None:
    """FEM (Fuad et al., IPTA 2020): w_k = share of A^k above μ_k + k σ_k, map = Σ_k w_k A^k,
    by loops over images, channels and positions."""
    a, _, _ = reference_gradients(model, model.features, IMAGES, torch.tensor([1, 2]))
    for k in (2.0, 0.5):
        result = faithcam.explain(model, IMAGES, "fem", [1, 2], "features", relu=False, k=k)
        expected = torch.zeros(a.shape[0], *a.shape[2:], dtype=torch.float64)
        for b in range(a.shape[0]):
            for c in range(a.shape[1]):
                values = [float(v) for v in a[b, c].flatten()]
                mean = sum(values) / len(values)
                std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
                share = sum(v > mean + k * std for v in values) / len(values)
                expected[b] += share * a[b, c].double()
        torch.testing.assert_close(result.raw_maps.double(), expected, rtol=1e-5, atol=1e-6)
        assert result.settings["k"] == k


def test_fem_refuses_a_k_that_is_not_a_number(model) -> None:
    with pytest.raises(faithcam.FaithcamTypeError, match="k"):
        faithcam.explain(model, IMAGES, "fem", 1, "features", k="2")


def test_segeigencam_is_the_peak_signed_component_of_abs_gradient_times_activation(model):
    """Seg-Eigen-CAM (Chung & Ying 2025, eqs. 10-13): X v₁ of |G| ⊙ A, negated when
    |min| > |max|."""
    a, g, _ = reference_gradients(model, model.features, IMAGES, torch.tensor([3, 0]))
    result = faithcam.explain(model, IMAGES, "segeigencam", [3, 0], "features", relu=False)
    expected = numpy_projection(g.abs() * a)
    for m in expected:
        m *= -1.0 if abs(m.min()) > abs(m.max()) else 1.0
    np.testing.assert_allclose(result.raw_maps.numpy(), expected, rtol=1e-4, atol=1e-5)
    smoothed = faithcam.explain(model, IMAGES, "segeigencam", [3, 0], "features", relu=False,
                                eigen_smooth=True)  # fmt: skip
    torch.testing.assert_close(smoothed.raw_maps, result.raw_maps)  # already the component


def test_product_fusion_is_refinecam_s_product_of_scaled_layer_maps(model) -> None:
    """fusion="product" (RefineCAM): each layer's map ReLU'd, min-max scaled, upsampled to the
    input, multiplied, min-max scaled, from the single-layer maps."""
    layers = ["features.1", "features"]
    fused = faithcam.explain(model, IMAGES, "gradcam", [1, 2], layers, fusion="product")
    product = torch.ones(len(IMAGES), *IMAGES.shape[-2:])
    for layer in layers:
        raw = faithcam.explain(model, IMAGES, "gradcam", [1, 2], layer, relu=False).raw_maps
        raw = raw.clamp(min=0)
        low = raw.flatten(1).min(1).values[:, None, None]
        high = raw.flatten(1).max(1).values[:, None, None]
        scaled = (raw - low) / (high - low)
        product *= F.interpolate(scaled[:, None], size=IMAGES.shape[-2:], mode="bilinear")[:, 0]
    low = product.flatten(1).min(1).values[:, None, None]
    high = product.flatten(1).max(1).values[:, None, None]
    torch.testing.assert_close(fused.raw_maps, (product - low) / (high - low))
    assert fused.settings["fusion"] == "product"


def random_terms(seed: int, n: int = 40) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(1, 12, 5, 7, generator=generator).relu() * torch.rand(12, 1, 1) - 0.1
        for _ in range(n)
    ]


def test_default_sign_is_numpy_s_svd_as_the_peer_s() -> None:
    """The default rule keeps the sign NumPy's SVD gives (pytorch-grad-cam's, uncorrected), on
    40 random matrices (torch's SVD differs in sign on about a third of such matrices)."""
    for terms in random_terms(0):
        np.testing.assert_allclose(first_component(terms).numpy(), numpy_projection(terms),
                                   rtol=1e-4, atol=1e-5)  # fmt: skip


def test_faithcam_sign_correlates_with_the_channel_sum() -> None:
    """sign="faithcam": ⟨X v₁, Σ_k T_k⟩ > 0, and the map is X v₁ up to sign."""
    for terms in random_terms(1):
        ours = first_component(terms, "faithcam")[0].double()
        reference = torch.from_numpy(numpy_projection(terms)[0]).double()
        assert torch.allclose(ours.abs(), reference.abs(), rtol=1e-4, atol=1e-5)
        channel_sum = terms[0].sum(0).double()
        assert ((ours - ours.mean()) * (channel_sum - channel_sum.mean())).sum() > 0
        flipped = first_component(-terms, "faithcam")[0].double()  # v₁ of −X: same rule
        assert ((flipped - flipped.mean()) * -(channel_sum - channel_sum.mean())).sum() > 0


def test_peak_sign_makes_the_largest_magnitude_positive() -> None:
    for terms in random_terms(2):
        ours = first_component(terms, "peak")[0]
        assert ours.max().abs() >= ours.min().abs()


def test_eigencam_takes_the_sign_rule_as_an_option(model) -> None:
    a, _, _ = reference_gradients(model, model.features, IMAGES, torch.tensor([1, 2]))
    for sign in ("pytorch-grad-cam", "faithcam", "peak"):
        result = faithcam.explain(model, IMAGES, "eigencam", [1, 2], "features", relu=False,
                                  sign=sign)  # fmt: skip
        torch.testing.assert_close(result.raw_maps, first_component(a, sign))
        assert result.settings["sign"] == sign
    with pytest.raises(faithcam.FaithcamValueError, match="sign"):
        faithcam.explain(model, IMAGES, "eigencam", 1, "features", sign="largest")


def test_sign_rule_sets_the_rule_of_eigen_smooth_for_a_block(model) -> None:
    a, g, _ = reference_gradients(model, model.features, IMAGES, torch.tensor([1, 2]))
    terms = g.mean(dim=(2, 3), keepdim=True) * a  # Grad-CAM's per-channel terms
    kw = {"targets": [1, 2], "layer": "features", "relu": False, "eigen_smooth": True}
    with sign_rule("faithcam"):
        inside = faithcam.explain(model, IMAGES, "gradcam", **kw).raw_maps
    outside = faithcam.explain(model, IMAGES, "gradcam", **kw).raw_maps
    torch.testing.assert_close(inside, first_component(terms, "faithcam"))
    torch.testing.assert_close(outside, first_component(terms, "pytorch-grad-cam"))
    with pytest.raises(faithcam.FaithcamValueError, match="sign"), sign_rule("up"):
        pass


def test_every_sign_rule_takes_half_precision_and_nan() -> None:
    terms = random_terms(3, 1)[0]
    terms[0, 0, 0, 0] = float("nan")
    for sign in ("pytorch-grad-cam", "faithcam", "peak"):
        for dtype in (torch.bfloat16, torch.float16, torch.float64):
            projected = first_component(terms.to(dtype), sign)
            assert projected.dtype == dtype and torch.isfinite(projected.float()).all()
