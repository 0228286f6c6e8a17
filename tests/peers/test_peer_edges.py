"""Edge cases of issue 27's methods, drop-ins and dense-target metrics, each against a value
derived by hand, by NumPy or by a loop, never from the code under test: FEM's default k and its
``eigen_smooth``, ARCC's parts, Otsu's mask, confidence metrics on a model whose scores are
known, pytorch-grad-cam's image utilities, torchcam's scaling and fusion of maps and its
classification metric, and the dense targets of a subset of images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import faithcam
from faithcam.compat import torchcam
from faithcam.compat.pytorch_grad_cam.metrics import arcc
from faithcam.compat.pytorch_grad_cam.metrics.cam_mult_image import (
    DropInConfidence,
    IncreaseInConfidence,
)
from faithcam.compat.pytorch_grad_cam.metrics.perturbation_confidence import (
    RemoveMostRelevantFirst,
)
from faithcam.compat.pytorch_grad_cam.utils import image as image_utils
from faithcam.compat.pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from faithcam.compat.torchcam.methods import normalize_maps
from faithcam.engine.targets import SegmentationTarget
from faithcam.metrics.scoring import dense_subset
from tests.helpers import GapLinearNet, seeded_images
from tests.references import reference_gradients

IMAGES = seeded_images(2, 16)


@pytest.fixture
def model() -> GapLinearNet:
    torch.manual_seed(0)
    return GapLinearNet(classes=5, channels=8).eval()


def fem_terms(a: torch.Tensor, k: float) -> torch.Tensor:
    """w_k A^k by a loop: w_k = the share of A^k above mean + k · population std."""
    terms = torch.zeros_like(a, dtype=torch.float64)
    for b in range(a.shape[0]):
        for c in range(a.shape[1]):
            values = a[b, c].double().flatten().numpy()
            share = float((values > values.mean() + k * values.std()).mean())
            terms[b, c] = share * a[b, c].double()
    return terms


def test_fem_threshold_uses_the_population_standard_deviation() -> None:
    """Values (0, 0, 0, 1), k = 1.6: mean 1/4, population σ = √3/4, threshold 0.943 < 1, so
    the share above it is 1/4 (the sample σ = 1/2 would give 1.05 and a share of 0)."""
    from faithcam.cams.activation_cams import fem_weights

    a = torch.tensor([0.0, 0.0, 0.0, 1.0]).view(1, 1, 2, 2)
    assert fem_weights(a, 1.6).tolist() == [[0.25]]


def test_fem_default_threshold_is_two_sigma(model) -> None:
    a, _, _ = reference_gradients(model, model.features, IMAGES, torch.tensor([1, 2]))
    result = faithcam.explain(model, IMAGES, "fem", [1, 2], "features", relu=False)
    expected = fem_terms(a, 2.0).sum(1)
    torch.testing.assert_close(result.raw_maps.double(), expected, rtol=1e-5, atol=1e-6)


def test_fem_eigen_smooth_projects_the_weighted_terms(model) -> None:
    """eigen_smooth: X v₁ of the centred (hw × K) matrix of the terms w_k A^k, v₁ as NumPy's SVD
    returns it (the default sign rule is the peer's, NumPy's)."""
    a, _, _ = reference_gradients(model, model.features, IMAGES, torch.tensor([1, 2]))
    result = faithcam.explain(model, IMAGES, "fem", [1, 2], "features", relu=False,
                              eigen_smooth=True)  # fmt: skip
    terms = fem_terms(a, 2.0).float().numpy()
    for b in range(len(terms)):
        x = terms[b].reshape(terms.shape[1], -1).T
        x = x - x.mean(0)
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        expected = (x @ vt[0]).reshape(terms.shape[2:])
        np.testing.assert_allclose(result.raw_maps[b].numpy(), expected, rtol=1e-4, atol=1e-5)


def test_segeigencam_of_signed_gradients_by_numpy() -> None:
    """Seg-Eigen-CAM (eqs. 10-13) on gradients whose sign changes within a channel: X v₁ of the
    centred |G| ⊙ A (hw × K) by NumPy's SVD, negated when |min| > |max|."""
    from faithcam.cams.eigen import segeigencam

    for seed in range(6):
        g = torch.Generator().manual_seed(seed)
        a = torch.rand(1, 5, 4, 4, generator=g, dtype=torch.float64)
        grads = torch.randn(1, 5, 4, 4, generator=g, dtype=torch.float64)
        x = (grads.abs() * a)[0].reshape(5, -1).T.numpy()
        x = x - x.mean(0)
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        expected = x @ vt[0]
        if abs(expected.min()) > abs(expected.max()):
            expected = -expected
        np.testing.assert_allclose(segeigencam(a, grads)[0].flatten().numpy(), expected,
                                   rtol=1e-9, atol=1e-12)  # fmt: skip


# ---------------------------------------------------------------------------- pytorch-grad-cam


def test_coherency_of_an_inverted_map_is_zero_and_complexity_is_the_mean() -> None:
    cams = np.float32([[[0.0, 1.0], [0.5, 0.25]]])

    def inverted(input_tensor, targets):
        return 1 - cams  # Pearson's ρ = −1 with the maps: coherency (ρ + 1) / 2 = 0

    coherency = arcc.Coherency()(torch.ones(1, 3, 2, 2), cams, [None], None, inverted)
    assert coherency == pytest.approx([0.0], abs=1e-6)
    assert arcc.Complexity()(cams) == pytest.approx([(0 + 1 + 0.5 + 0.25) / 4])


def test_arcc_doubles_the_road_term_before_the_harmonic_mean() -> None:
    metric = arcc.ARCC(base_method=None)
    metric.complexity = lambda cams: np.array([0.2])
    metric.coherency = lambda *args: np.array([0.8])
    metric.road = lambda *args: np.array([0.3])
    expected = 3 / (1 / 0.8 + 1 / (1 - 0.2) + 1 / 0.6)  # ROAD 0.3 · 2 = 0.6
    assert metric(None, np.zeros((1, 2, 2)), None, None) == pytest.approx([expected], rel=1e-6)


def test_otsu_mask_keeps_only_the_pixels_above_the_threshold() -> None:
    """Two levels 51 and 204 (as uint8): Otsu's first best threshold is 51, so only the 204
    pixels (the most relevant) are marked."""
    values = torch.tensor([[0.2, 0.8], [0.8, 0.2]])
    kept = RemoveMostRelevantFirst("auto", imputer=lambda x, mask: mask)(None, values)
    assert (kept > 0).tolist() == [[False, True], [True, False]]


class SumModel(nn.Module):
    """Logits (Σ x, −Σ x): the class-0 score of x ⊙ M is Σ x M."""

    def forward(self, x):
        s = x.flatten(1).sum(1)
        return torch.stack([s, -s], 1)


def test_drop_and_increase_in_confidence_on_known_scores() -> None:
    x = torch.ones(2, 1, 2, 2)  # class-0 score 4
    cams = np.float32([np.full((2, 2), 0.25), np.full((2, 2), 2.0)])  # scores 1 and 8
    targets = [ClassifierOutputTarget(0)] * 2
    drop = DropInConfidence()(x, cams, targets, SumModel())
    assert drop.tolist() == [3.0, 0.0]  # max(0, 4 − 1), max(0, 4 − 8)
    assert IncreaseInConfidence()(x, cams, targets, SumModel()).tolist() == [0.0, 1.0]


def test_scale_cam_image_target_size_is_width_then_height() -> None:
    cam = np.float32([[[0.0, 1.0], [2.0, 4.0]]])
    scaled = image_utils.scale_cam_image(cam, target_size=(6, 4))
    assert scaled.shape == (1, 4, 6)
    assert scaled.min() == 0.0 and scaled.max() == pytest.approx(1.0, abs=1e-6)


def test_preprocess_image_reads_uint8_as_fractions() -> None:
    white = np.full((2, 3, 3), 255, dtype=np.uint8)
    out = image_utils.preprocess_image(white)  # (1 − 0.5) / 0.5 = 1
    assert out.shape == (1, 3, 2, 3) and torch.equal(out, torch.ones(1, 3, 2, 3))


# ---------------------------------------------------------------------------- torchcam


def test_normalize_maps_scales_each_map_on_its_own() -> None:
    maps = torch.tensor([[[0.0, 2.0]], [[10.0, 30.0]]])
    out = normalize_maps(maps, eps=0.0)
    assert out.tolist() == [[[0.0, 1.0]], [[0.0, 1.0]]]


def test_fuse_cams_takes_the_maximum_and_layercam_scales_by_tanh_2m() -> None:
    a = torch.tensor([[[0.1, 0.9], [0.4, 0.0]]])
    b = torch.tensor([[[0.5, 0.2], [0.3, 0.6]]])
    torch.testing.assert_close(torchcam.methods.GradCAM.fuse_cams([a, b]), torch.maximum(a, b))
    expected = np.maximum(np.tanh(2 * a.numpy()), np.tanh(2 * b.numpy()))
    np.testing.assert_allclose(
        torchcam.methods.LayerCAM.fuse_cams([a, b]).numpy(), expected, rtol=1e-6
    )


class FixedExtractor:
    """A stand-in extractor: the given maps (at the input size), whatever the class."""

    def __init__(self, cams: torch.Tensor) -> None:
        self.model = SumModel()
        self.cams = cams

    def __call__(self, class_idx, scores=None, targets=None):
        return [self.cams]

    fuse_cams = staticmethod(lambda cams: cams[0])

    def disable_hooks(self) -> None:
        pass

    def enable_hooks(self) -> None:
        pass


def test_classification_metric_by_hand_and_a_map_with_one_nan_left_out() -> None:
    cams = torch.stack([torch.full((2, 2), 0.25), torch.full((2, 2), 0.5)])
    cams[1, 0, 0] = float("nan")
    metric = torchcam.metrics.ClassificationMetric(FixedExtractor(cams))
    metric.update(torch.ones(2, 1, 2, 2), class_idx=0)
    # image 0: Y = 4, O = 1: drop (4 − 1) / 4; image 1 (a NaN in its map) is left out
    assert metric.nan_count == 1 and metric.total == 1
    assert metric.summary() == pytest.approx({"avg_drop": 0.75, "conf_increase": 0.0})


# ---------------------------------------------------------------------------- dense targets


def test_dense_subset_keeps_each_images_class_and_mask() -> None:
    masks = torch.arange(3 * 2 * 2).view(3, 2, 2) % 2 == 0
    masks[2] = torch.tensor([[True, True], [False, False]])
    spec = SegmentationTarget([1, 2, 3], masks)
    subset = dense_subset(spec, spec.bind(3, torch.device("cpu")), [2, 0])
    assert torch.as_tensor(subset.class_ids).tolist() == [3, 1]
    assert torch.equal(torch.as_tensor(subset.mask).bool(), masks[[2, 0]])
