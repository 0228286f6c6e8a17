"""The pytorch-grad-cam drop-in on 3-D (video / volume) convolutions (issue 27): (B, C, T, H, W)
inputs, (B, K, T, h, w) activations, (B, T, H, W) maps. Each class the peer runs on volumes
must give the peer's arrays to 1e-4 (after its scaling: per-layer ReLU, min-max, cubic-spline
zoom to the input, several layers averaged and rescaled); the classes whose masks are 2-D
refuse volumes with a clear error (the peer fails inside).

Set-up: a seeded two-layer Conv3d net (2 -> 6 -> 5 channels, the second with stride 2, global
average pooling, 3 classes), 2 volumes of 2 x 5 x 8 x 10 (seed 1), the predicted classes
(``targets=None``) unless a test names them. The peer's outputs are golden
(tests/golden/test_agreement_dropin_volumes.*) in ``make test``, live in ``make test-peers``.
"""

from __future__ import annotations

import contextlib
import io
from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

import faithcam.compat.pytorch_grad_cam as dropin
from faithcam.cams.weightings import WEIGHTINGS
from faithcam.compat.pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from faithcam.errors import FaithcamNotImplementedError
from tests.peer_helpers import pytorch_grad_cam

VOLUME_CLASSES = [
    "GradCAM", "HiResCAM", "XGradCAM", "GradCAMPlusPlus", "LayerCAM", "GradCAMElementWise",
    "EigenGradCAM", "SegEigenCAM", "EigenCAM", "KPCA_CAM", "FEM", "ShapleyCAM", "FinerCAM",
]  # fmt: skip
MODEL = "VolumeNet: Conv3d(2, 6, 3, p=1), ReLU, Conv3d(6, 5, 3, s=2, p=1), ReLU, GAP, Linear(5, 3)"


class VolumeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(2, 6, 3, padding=1)
        self.conv2 = nn.Conv3d(6, 5, 3, stride=2, padding=1)
        self.fc = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv2(torch.relu(self.conv(x))))
        return self.fc(x.mean(dim=(2, 3, 4)))


def volume_net() -> VolumeNet:
    torch.manual_seed(0)
    return VolumeNet().eval()


def volumes() -> torch.Tensor:
    return torch.randn(2, 2, 5, 8, 10, generator=torch.Generator().manual_seed(1))


def run(package, name: str, layers: list[str], **call) -> np.ndarray:
    """The class ``name`` of ``package`` on a fresh model's ``layers`` (by name)."""
    model = volume_net()
    cam = getattr(package, name)(model, [getattr(model, one) for one in layers])
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            return cam(volumes(), None, **call)
        finally:
            base = getattr(cam, "base_cam", cam)
            if hasattr(base, "activations_and_grads"):
                base.activations_and_grads.release()


@pytest.mark.parametrize("eigen_smooth", [False, True])
@pytest.mark.parametrize("name", VOLUME_CLASSES)
def test_volume_maps_match_the_peer(name, eigen_smooth, peer_output) -> None:
    ours = run(dropin, name, ["conv2"], eigen_smooth=eigen_smooth)
    theirs = peer_output(
        f"{name}-{eigen_smooth}",
        partial(run, pytorch_grad_cam(), name, ["conv2"], eigen_smooth=eigen_smooth),
        model=MODEL, layer="conv2", images=volumes(),
    )  # fmt: skip
    assert ours.shape == (2, 5, 8, 10) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, atol=1e-4, err_msg=f"{name} {eigen_smooth}")


@pytest.mark.parametrize("name", ["GradCAM", "GradCAMPlusPlus", "EigenCAM", "FEM"])
def test_several_volume_layers_match_the_peer(name, peer_output) -> None:
    ours = run(dropin, name, ["conv", "conv2"])
    theirs = peer_output(
        name, partial(run, pytorch_grad_cam(), name, ["conv", "conv2"]),
        model=MODEL, layers=["conv", "conv2"], images=volumes(),
    )  # fmt: skip
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


@pytest.mark.parametrize("name", ["GradCAM", "GradCAMPlusPlus", "XGradCAM"])
def test_channel_weights_of_volumes_match_the_peer(name, peer_output) -> None:
    rng = np.random.default_rng(2)
    activations = rng.random((2, 3, 4, 5, 6), dtype=np.float32)
    gradients = rng.standard_normal((2, 3, 4, 5, 6), dtype=np.float32)
    ours = getattr(dropin, name).get_cam_weights(None, None, None, None, activations, gradients)
    theirs = peer_output(
        name,
        lambda: getattr(pytorch_grad_cam(), name).get_cam_weights(
            None, None, None, None, activations, gradients
        ),
        activations=activations, gradients=gradients,
    )  # fmt: skip
    assert ours.shape == (2, 3)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("rule", list(WEIGHTINGS))
def test_weightings_of_volumes_are_the_weightings_of_the_flattened_maps(rule) -> None:
    """A rule sums or averages over all positions, so on (B, K, T, h, w) it must equal the
    2-D rule on the same positions laid out as (B, K, T·h, w), reshaped back."""
    generator = torch.Generator().manual_seed(3)
    activations = torch.rand(2, 4, 3, 5, 6, generator=generator, dtype=torch.float64)
    gradients = torch.randn(2, 4, 3, 5, 6, generator=generator, dtype=torch.float64)
    volume = WEIGHTINGS[rule](activations, gradients)
    flat = WEIGHTINGS[rule](activations.flatten(2, 3), gradients.flatten(2, 3))
    assert volume.shape == (2, 3, 5, 6)
    torch.testing.assert_close(volume, flat.view(2, 3, 5, 6))


@pytest.mark.parametrize("name", ["ScoreCAM", "AblationCAM", "FullGrad"])
def test_classes_with_2d_masks_refuse_volumes(name) -> None:
    model = volume_net()
    with pytest.raises(FaithcamNotImplementedError, match=r"input_tensor: .*volumes"):
        getattr(dropin, name)(model, [model.conv2])(volumes(), None)


def test_aug_smooth_refuses_volumes() -> None:
    model = volume_net()
    with pytest.raises(FaithcamNotImplementedError, match="aug_smooth"):
        dropin.GradCAM(model, [model.conv2])(volumes(), None, aug_smooth=True)


def test_volume_maps_leave_the_model_as_it_was() -> None:
    model = volume_net().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    targets = [ClassifierOutputTarget(c) for c in (0, 2)]
    with dropin.EigenCAM(model, [model.conv2]) as cam:
        cam(volumes(), targets)
    with dropin.GradCAM(model, [model.conv2]) as cam:
        cam(volumes(), targets)
    assert model.training and all(m.training for m in model.modules())
    assert not model.conv2._forward_hooks and not model.conv2._forward_pre_hooks
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
