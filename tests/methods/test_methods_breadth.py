"""The breadth methods and options: theorems, reductions and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import faithcam
from faithcam.cams.eigen import first_component, kpcacam
from tests.helpers import GapLinearNet, seeded_images, seeded_torchvision


@pytest.fixture
def model() -> GapLinearNet:
    torch.manual_seed(0)
    return GapLinearNet().eval()


def test_linear_kernel_pca_is_pca_up_to_sign() -> None:
    """Kernel PCA with the linear kernel XXᵀ: √λ₁ α₁ = σ₁ u₁ = X v₁ (up to the sign)."""
    tensor = torch.randn(3, 7, 4, 5, generator=torch.Generator().manual_seed(0))
    linear, pca = kpcacam(tensor, kernel="linear"), first_component(tensor)
    for a, b in zip(linear, pca, strict=True):
        sign = torch.sign((a * b).sum())
        torch.testing.assert_close(a, sign * b, rtol=1e-4, atol=1e-5)


def test_first_component_of_rank_one_terms_recovers_the_map() -> None:
    """T_k = w_k M (rank one): the centred first component is ±(M − mean M)·‖w‖."""
    m = torch.rand(1, 1, 5, 6, generator=torch.Generator().manual_seed(1))
    w = torch.tensor([3.0, -1.0, 2.0]).view(1, 3, 1, 1)
    projection = first_component(w * m)[0]
    expected = (m[0, 0] - m.mean()) * w.norm()
    sign = torch.sign((projection * expected).sum())
    torch.testing.assert_close(projection, sign * expected, rtol=1e-4, atol=1e-5)


def test_shapleycam_is_gradcam_on_a_piecewise_linear_head(model, small_images) -> None:
    shapley = faithcam.explain(model, small_images, "shapleycam", targets=2)
    gradcam = faithcam.explain(model, small_images, "gradcam", targets=2)
    torch.testing.assert_close(shapley.raw_maps, gradcam.raw_maps)


def test_gradcam_elementwise_composes_with_the_estimators(model, small_images) -> None:
    vanilla = faithcam.explain(model, small_images, "gradcam-elementwise", targets=1)
    one_step = faithcam.explain(
        model, small_images, "gradcam-elementwise", estimator="integrated", steps=1, targets=1,
        variant="averaged-gradient",
    )  # fmt: skip
    torch.testing.assert_close(one_step.raw_maps, vanilla.raw_maps)
    expected = faithcam.explain(model, small_images, "hirescam", targets=1)
    assert (vanilla.raw_maps >= expected.raw_maps - 1e-6).all()  # Σ ReLU ≥ Σ


def test_randomcam_is_seeded_and_class_agnostic(model, small_images) -> None:
    a = faithcam.explain(model, small_images, "randomcam", targets=0, seed=3)
    b = faithcam.explain(model, small_images, "randomcam", targets=4, seed=3)
    torch.testing.assert_close(a.raw_maps, b.raw_maps, rtol=0, atol=0)


def test_several_layers_of_one_layer_is_that_layer_scaled(model, small_images) -> None:
    one = faithcam.explain(model, small_images, "gradcam", targets=1, layer="features.3")
    fused = faithcam.explain(model, small_images, "gradcam", targets=1, layer=["features.3"])
    scaled = faithcam.cams.compose.minmax(one.raw_maps.clamp(min=0))
    up = torch.nn.functional.interpolate(scaled[:, None], size=(16, 16), mode="bilinear")[:, 0]
    torch.testing.assert_close(fused.raw_maps, faithcam.cams.compose.minmax(up))


@pytest.mark.parametrize(
    ("method", "options", "error", "match"),
    [
        ("gradcam", {"eigen_smooth": 1}, faithcam.FaithcamTypeError, "eigen_smooth"),
        ("gradcam", {"aug_smooth": "yes"}, faithcam.FaithcamTypeError, "aug_smooth"),
        ("gradcam", {"fusion": "sum"}, faithcam.FaithcamValueError, "fusion"),
        ("gradcam", {"layer": []}, faithcam.FaithcamValueError, "layer"),
        ("fullgrad", {"layer": "features.1"}, faithcam.FaithcamValueError, "layer"),
        ("eigencam", {"estimator": "integrated"}, faithcam.FaithcamValueError, "estimator"),
        ("kpcacam", {"kernel": "cubic"}, faithcam.FaithcamValueError, "kernel"),
        ("kpcacam", {"gamma": -1.0}, faithcam.FaithcamValueError, "gamma"),
        ("randomcam", {"steps": 3}, faithcam.FaithcamValueError, "unexpected options"),
        ("finercam", {"targets": lambda out: out[:, 0]}, faithcam.TargetError, "Finer-CAM"),
        ("finercam", {"comparisons": [0]}, faithcam.FaithcamValueError, "comparisons"),
        ("finercam", {"alpha": "x"}, faithcam.FaithcamTypeError, "alpha"),
    ],
)
def test_bad_options_are_clear_errors(model, method, options, error, match) -> None:
    with pytest.raises(error, match=match):
        faithcam.explain(model, seeded_images(1, 16), method, **options)


def test_finercam_alpha_zero_is_a_softmax_weighted_gradcam() -> None:
    """α = 0: s = y_c exactly (the weights cancel up to 1e-9), so Finer-CAM is Grad-CAM."""
    model = seeded_torchvision("resnet18")
    images = seeded_images(2, 96)
    ours = faithcam.explain(model, images, "finercam", targets=[3, 17], alpha=0.0)
    gradcam = faithcam.explain(model, images, "gradcam", targets=[3, 17])
    torch.testing.assert_close(ours.raw_maps, gradcam.raw_maps, rtol=1e-4, atol=1e-6)


def test_eigen_sign_is_lapack_s_on_cpu() -> None:
    """The projection is X v₁ with v₁ from LAPACK on the CPU: compared with NumPy's SVD
    (the peer's) on a random matrix, sign included."""
    generator = torch.Generator().manual_seed(0)
    tensor = torch.randn(3, 20, 4, 5, generator=generator)
    ours = first_component(tensor).numpy()
    for image, projection in zip(tensor.numpy(), ours, strict=True):
        x = image.reshape(20, -1).T
        x = x - x.mean(0)
        _, _, vt = np.linalg.svd(x, full_matrices=True)
        np.testing.assert_allclose(projection.reshape(-1), x @ vt[0], atol=1e-5)
