"""SS-CAM and IS-CAM: agreement with torchcam 0.5.0 (same seed, same draws) on a layer at the
input resolution, and the reductions to Score-CAM."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import faithcam
from tests.helpers import seeded_images
from tests.peer_helpers import minmax

CLASSES = [1, 3]


class FullResNet(nn.Module):
    """conv + ReLU at the input resolution (the target layer `features`), then a small head:
    there upsampling is the identity, so Score-CAM's mask conventions coincide."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.features = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(
            nn.Conv2d(6, 8, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8, 5),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@pytest.fixture(scope="module")
def model() -> FullResNet:
    return FullResNet().eval()


def _torchcam(cls, model, images, **options) -> np.ndarray:
    with cls(model, target_layer="features", input_shape=(3, 16, 16), **options) as extractor:
        with torch.no_grad():
            scores = model(images)
        return extractor(CLASSES, scores)[0].numpy()


def test_iscam_matches_torchcam(model, peer_output) -> None:
    images = seeded_images(2, 16)
    ours = faithcam.explain(model, images, "iscam", targets=CLASSES, samples=4, layer="features")
    theirs = peer_output(
        "ISCAM",
        lambda: _torchcam(
            pytest.importorskip("torchcam.methods").ISCAM, model, images, num_samples=4
        ),
        model="FullResNet()",
        images=images,
    )
    np.testing.assert_allclose(minmax(ours.raw_maps.numpy()), minmax(theirs), atol=1e-4)


def test_sscam_matches_torchcam_with_the_same_seed(model, peer_output) -> None:
    images = seeded_images(2, 16)
    ours = faithcam.explain(
        model, images, "sscam", targets=CLASSES, samples=4, seed=11, layer="features"
    )

    def torchcam_sscam() -> np.ndarray:
        sscam = pytest.importorskip("torchcam.methods").SSCAM
        torch.manual_seed(11)
        return _torchcam(sscam, model, images, num_samples=4, std=2.0)

    theirs = peer_output("SSCAM", torchcam_sscam, model="FullResNet()", seed=11, images=images)
    np.testing.assert_allclose(minmax(ours.raw_maps.numpy()), minmax(theirs), atol=1e-4)
    other = faithcam.explain(model, images, "sscam", targets=CLASSES, samples=4, seed=12)
    assert not torch.equal(other.raw_maps, ours.raw_maps)


def test_sscam_without_noise_and_iscam_with_one_sample_are_score_cam(model) -> None:
    images = seeded_images(2, 16)
    score = faithcam.explain(model, images, "scorecam", targets=CLASSES).raw_maps  # auto layer
    ss = faithcam.explain(model, images, "sscam", targets=CLASSES, samples=3, sigma=0.0)
    iscam = faithcam.explain(model, images, "iscam", targets=CLASSES, samples=1)
    torch.testing.assert_close(ss.raw_maps, score)
    torch.testing.assert_close(iscam.raw_maps, score)


def test_smoothed_score_options_are_checked(model) -> None:
    images = seeded_images(1, 16)
    with pytest.raises(faithcam.FaithcamValueError, match="samples"):
        faithcam.explain(model, images, "sscam", samples=0)
    with pytest.raises(faithcam.FaithcamValueError, match="sigma"):
        faithcam.explain(model, images, "sscam", sigma=-1.0)
    with pytest.raises(faithcam.FaithcamValueError, match="unexpected options"):
        faithcam.explain(model, images, "iscam", sigma=1.0)
