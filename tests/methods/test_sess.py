"""faithcam's own SESS (Tursun et al., ECCV 2022; issue 27): ``explain(..., "sess", base=...)``.

Checked against what it must reduce to (one window over the whole image at one scale is the
base method's map), against the pytorch-grad-cam drop-in's SESS (a separate implementation on
the drop-in's classes, which agrees with the peer: tests/peers/test_agreement_dropin.py), and
for its errors. Peer-free.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import faithcam
import faithcam.compat.pytorch_grad_cam as dropin
from faithcam.cams.sess import sliding_window
from faithcam.compat.pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from faithcam.errors import FaithcamValueError, TargetError
from tests.helpers import GapLinearNet, seeded_images

IMAGES = seeded_images(2, 24)
CLASSES = [1, 3]


@pytest.fixture
def model() -> GapLinearNet:
    torch.manual_seed(0)
    return GapLinearNet(classes=5, channels=8).eval()


def minmax(maps: np.ndarray) -> np.ndarray:
    flat = maps.reshape(len(maps), -1)
    low, high = flat.min(1)[:, None, None], flat.max(1)[:, None, None]
    return (maps - low) / (high - low + 1e-7)


@pytest.mark.parametrize("base", ["gradcam", "hirescam", "layercam"])
def test_one_window_at_one_scale_is_the_base_method(base, model) -> None:
    """One scale, the window the whole image: one patch, weight 1, pasted where it was taken
    from, no blur: SESS's map is the base method's, min-max scaled (as SESS scales it)."""
    ours = faithcam.explain(model, IMAGES, "sess", CLASSES, "features", base=base,
                            num_scales=1, smooth=False)  # fmt: skip
    reference = faithcam.explain(model, IMAGES, base, CLASSES, "features")
    expected = torch.from_numpy(minmax(reference.maps.numpy()))
    torch.testing.assert_close(ours.maps, expected, atol=1e-6, rtol=0)


SCALED_DOWN = {"window_size": 12, "step_size": 6}  # scales 12, 15, 18 of a 24-pixel image


@pytest.mark.parametrize(
    "options",
    [{}, {"pool": "max"}, {"pre_filter_ratio": 0.5, "theta": 0.2}, SCALED_DOWN],
    ids=["mean", "max", "filtered", "scaled-down"],
)
def test_sess_agrees_with_the_drop_in_s(options, model) -> None:
    """The drop-in's SESS (patches by torchvision's resize, its GradCAM's min-max scaling) and
    faithcam's agree after min-max scaling (the drop-in scales over the batch as the peer);
    with a window below the image size both shrink the image, antialiased as torchvision does."""
    options = {"step_size": 12, **options}
    with dropin.SESS(model, [model.features], num_scales=3, **options) as cam:
        theirs = cam(IMAGES, [ClassifierOutputTarget(c) for c in CLASSES])
    ours = faithcam.explain(model, IMAGES, "sess", CLASSES, "features", num_scales=3, **options)
    np.testing.assert_allclose(minmax(ours.maps.numpy()), theirs, atol=1e-4)


def test_the_base_method_takes_its_estimator_and_options(model) -> None:
    result = faithcam.explain(
        model, IMAGES, "sess", CLASSES, "features", num_scales=2,
        base="gradcam", base_options={"estimator": "integrated", "steps": 3},
    )  # fmt: skip
    assert result.maps.shape == (2, 24, 24) and bool(torch.isfinite(result.maps).all())
    assert result.settings["base_options"] == {"estimator": "integrated", "steps": 3}


def test_sliding_windows_cover_the_image_with_equal_windows() -> None:
    cases = [(288, 288, 224, 224), (224, 448, 112, 224), (50, 70, 7, 20)]
    for height, width, step, window in cases:
        corners = sliding_window(height, width, step, window)
        covered = np.zeros((height, width), bool)
        for x, y in corners:
            assert 0 <= x <= width - window and 0 <= y <= height - window
            covered[y : y + window, x : x + window] = True
        assert covered.all() and len(set(corners)) == len(corners)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"pool": "median"}, "pool"),
        ({"pre_filter_ratio": 1.0}, "pre_filter_ratio"),
        ({"num_scales": 0}, "num_scales"),
        ({"base": "sess"}, "base"),
        ({"base": "no-such-cam"}, "method"),
        ({"scales": [8]}, "scales"),
    ],
)
def test_bad_options_are_refused(options, message, model) -> None:
    with pytest.raises(FaithcamValueError, match=message):
        faithcam.explain(model, IMAGES, "sess", CLASSES, "features", **options)


def test_a_target_that_is_no_class_is_refused(model) -> None:
    with pytest.raises(TargetError, match="SESS"):
        faithcam.explain(model, IMAGES, "sess", lambda out: out[:, 0], "features")
