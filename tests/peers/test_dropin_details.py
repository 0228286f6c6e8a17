"""The drop-in's own guarantees beyond agreement with the peer (issue 27): clear errors,
reproducible ROAD noise, ARCC as the harmonic mean of its parts, hooks released, utilities by
their formulas. Peer-free."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import faithcam
import faithcam.compat.pytorch_grad_cam as dropin
from faithcam.compat.pytorch_grad_cam.metrics import arcc, road
from faithcam.compat.pytorch_grad_cam.metrics.perturbation_confidence import otsu_threshold
from faithcam.compat.pytorch_grad_cam.sess import gaussian_blur, window_starts
from faithcam.compat.pytorch_grad_cam.utils import find_layers, image, model_targets
from tests.helpers import GapLinearNet, seeded_images

IMAGES = seeded_images(2, 16)


@pytest.fixture
def model() -> GapLinearNet:
    torch.manual_seed(0)
    return GapLinearNet(classes=5, channels=8).eval()


def targets() -> list:
    return [model_targets.ClassifierOutputTarget(c) for c in (1, 2)]


def test_road_noise_is_reproducible(model) -> None:
    cams = dropin.GradCAM(model, [model.features])(IMAGES, targets())
    first = road.ROADMostRelevantFirst(50)(IMAGES, cams, targets(), model)
    second = road.ROADMostRelevantFirst(50)(IMAGES, cams, targets(), model)
    np.testing.assert_array_equal(first, second)


def test_arcc_is_the_harmonic_mean_of_its_parts(model) -> None:
    base = dropin.GradCAM(model, [model.features])
    cams = base(IMAGES, targets())
    score = arcc.ARCC(base, road_percentiles=[50])(IMAGES, cams, targets(), model)
    coherency = arcc.Coherency()(IMAGES, cams, targets(), model, base)
    complexity = arcc.Complexity()(cams)
    road_score = np.clip(2 * road.ROADCombined([50])(IMAGES, cams, targets(), model), 0, 1)
    parts = np.stack([coherency, 1 - complexity, road_score]) + 1e-8
    np.testing.assert_allclose(score, 3 / (1 / parts).sum(0), rtol=1e-5)


def test_pearson_coherency_is_pearson_s_correlation() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.random((3, 4, 5)), rng.random((3, 4, 5))
    expected = [np.corrcoef(x.ravel(), y.ravel())[0, 1] for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(arcc.batch_pearson_coherency(a, b), expected, rtol=1e-6)


def test_otsu_threshold_maximises_the_between_class_variance() -> None:
    values = np.uint8(np.concatenate([np.full(50, 40), np.full(30, 200), np.arange(0, 256, 8)]))
    best, chosen = -1.0, otsu_threshold(values)
    for t in range(255):
        low, high = values[values <= t], values[values > t]
        if len(low) and len(high):
            variance = len(low) * len(high) * (low.mean() - high.mean()) ** 2
            best = max(best, variance)
    low, high = values[values <= chosen], values[values > chosen]
    assert len(low) * len(high) * (low.mean() - high.mean()) ** 2 == pytest.approx(best)


def test_perturbation_metric_names_a_missing_target(model) -> None:
    cams = np.zeros((2, 16, 16), np.float32)
    with pytest.raises(faithcam.FaithcamValueError, match="targets"):
        road.ROADMostRelevantFirst(50)(IMAGES, cams, targets()[:1], model)


def test_sess_windows_cover_the_side_and_blur_keeps_the_mean() -> None:
    assert window_starts(100, 30, 40) == [0, 30, 60]
    assert window_starts(40, 40, 40) == [0]
    assert window_starts(30, 10, 40) == [0]
    constant = np.full((20, 20), 0.25, np.float32)
    np.testing.assert_allclose(gaussian_blur(constant), constant, rtol=1e-6)


def test_every_class_keeps_the_model_untouched_and_hook_free(model) -> None:
    layers = [model.features]
    model.train()
    for cls in (dropin.EigenCAM, dropin.FEM, dropin.SegEigenCAM, dropin.KPCA_CAM):
        maps = cls(model, layers)(IMAGES, targets(), aug_smooth=True)
        assert maps.shape == (2, 16, 16) and np.isfinite(maps).all()
    dropin.RefineCAM(model, [model.features[1], model.features])(IMAGES, targets())
    dropin.FinerCAM(model, layers)(IMAGES)
    assert model.training and all(m.training for m in model.modules())
    assert not any(m._forward_hooks or m._backward_hooks for m in model.modules())


def test_random_cam_is_seeded(model) -> None:
    first = dropin.RandomCAM(model, [model.features], seed=3)(IMAGES, targets())
    second = dropin.RandomCAM(model, [model.features], seed=3)(IMAGES, targets())
    np.testing.assert_array_equal(first, second)


def test_find_layers_and_replace(model) -> None:
    convs = find_layers.find_layer_types_recursive(model, [torch.nn.Conv2d])
    assert convs == [model.features[0], model.features[2]]
    assert find_layers.replace_layer_recursive(model, model.features[1], torch.nn.Identity())
    find_layers.replace_all_layer_type_recursive(model, torch.nn.ReLU, torch.nn.Tanh())
    assert isinstance(model.features[1], torch.nn.Identity)
    assert isinstance(model.features[3], torch.nn.Tanh)


def test_smoothing_flags_must_be_booleans(model) -> None:
    with pytest.raises(faithcam.FaithcamTypeError, match="eigen_smooth"):
        dropin.GradCAM(model, [model.features])(IMAGES, targets(), eigen_smooth="yes")


def test_factorization_picture_colours_each_pixel_by_its_strongest_concept() -> None:
    maps = np.zeros((2, 4, 4), np.float32)
    maps[0, :, :2], maps[1, :, 2:] = 1.0, 0.5
    colours = [np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])]
    picture = image.show_factorization_on_image(np.zeros((4, 4, 3)), maps, colours, 0.0)
    assert (picture[:, :2] == [255, 0, 0]).all() and (picture[:, 2:] == [0, 0, 127]).all()


def test_refinecam_passes_eigen_smooth_as_eigen_smooth(model) -> None:
    """A deliberate difference: the peer hands ``eigen_smooth`` to its base class's
    ``aug_smooth``; the drop-in's RefineCAM is the scaled product of the eigen-smoothed maps."""
    layers = [model.features[1], model.features]
    refined = dropin.RefineCAM(model, layers, base_method=dropin.GradCAM)
    maps = [dropin.GradCAM(model, [one])(IMAGES, targets(), eigen_smooth=True) for one in layers]
    product = maps[0] * maps[1]
    low = product.min(axis=(1, 2), keepdims=True)
    expected = (product - low) / (1e-7 + (product - low).max(axis=(1, 2), keepdims=True))
    np.testing.assert_allclose(refined(IMAGES, targets(), eigen_smooth=True), expected, atol=1e-6)
