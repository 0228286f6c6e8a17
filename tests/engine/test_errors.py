"""Bad input gets a specific error naming the argument, before any heavy work."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import faithcam
from tests.helpers import GapLinearNet, InnerChannelMismatch


@pytest.fixture
def model() -> nn.Module:
    torch.manual_seed(0)
    return GapLinearNet().eval()


IMAGES = torch.rand(2, 3, 16, 16)


@pytest.mark.parametrize(
    ("images", "error", "match"),
    [
        (torch.rand(3, 16, 16), ValueError, r"images: expected a 4-D .*images\[None\]"),
        (torch.rand(1, 1, 3, 16, 16), ValueError, "images: expected a 4-D"),
        (torch.zeros(2, 3, 16, 16, dtype=torch.uint8), TypeError, "floating-point"),
        (torch.rand(0, 3, 16, 16), ValueError, "batch is empty"),
        ([[1.0]], TypeError, "images: expected a .*Tensor"),
    ],
)
def test_bad_images(model, images, error, match) -> None:
    with pytest.raises(error, match=match):
        faithcam.explain(model, images)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_images(model, bad) -> None:
    images = IMAGES.clone()
    images[1, 0, 3, 3] = bad
    with pytest.raises(ValueError, match="image 1 contains NaN or infinite"):
        faithcam.explain(model, images)


@pytest.mark.parametrize("layer", ["features", None])
def test_images_of_the_wrong_channel_count_are_named(model, layer) -> None:
    gray = IMAGES[:, :1]
    with pytest.raises(  # found from the model's first convolution, before any forward
        faithcam.FaithcamError, match=r"^images: 1 channel \(greyscale\) but the model's first "
        r"convolution \(features.0\) takes 3 channels"
    ):
        faithcam.explain(model, gray, "gradcam", 1, layer=layer)
    with pytest.raises(faithcam.FaithcamError, match=r"^images: 1 channel"):
        faithcam.metrics.deletion(model, gray, torch.rand(2, 16, 16), 1, curve_steps=3)


def test_a_models_own_channel_bug_is_not_blamed_on_the_images() -> None:
    with pytest.raises(RuntimeError, match=r"expected input\[2, 4, 14, 14\] to have 8 channels"):
        faithcam.explain(InnerChannelMismatch().eval(), IMAGES, "gradcam", 1, layer="first")


def test_target_out_of_range(model) -> None:
    with pytest.raises(faithcam.TargetError, match=r"class id 5 is out of range .*0\.\.4"):
        faithcam.explain(model, IMAGES, targets=5)
    with pytest.raises(faithcam.TargetError, match="got 3 class ids for 2 images"):
        faithcam.explain(model, IMAGES, targets=[0, 1, 2])
    with pytest.raises(faithcam.TargetError, match=">= 0"):
        faithcam.explain(model, IMAGES, targets=-1)
    with pytest.raises(TypeError, match="targets"):
        faithcam.explain(model, IMAGES, targets="cat")


def test_unknown_layer_lists_close_names(model) -> None:
    with pytest.raises(faithcam.LayerError, match=r"no module named 'feature\.3'.*features\.3"):
        faithcam.explain(model, IMAGES, layer="feature.3")
    with pytest.raises(TypeError, match="layer: expected"):
        faithcam.explain(model, IMAGES, layer=3)
    with pytest.raises(faithcam.LayerError, match="not a sub-module"):
        faithcam.explain(model, IMAGES, layer=nn.Conv2d(3, 3, 1))


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, True])
def test_bad_batch_size(model, batch_size) -> None:
    with pytest.raises((ValueError, TypeError), match="batch_size"):
        faithcam.explain(model, IMAGES, batch_size=batch_size)


def test_model_without_4d_layer() -> None:
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4))
    with pytest.raises(faithcam.LayerError, match="no sub-module with a 4-D"):
        faithcam.explain(mlp, IMAGES)


def test_unknown_method_suggests(model) -> None:
    with pytest.raises(ValueError, match=r"unknown 'gradcamm'.*did you mean gradcam"):
        faithcam.explain(model, IMAGES, method="gradcamm")


def test_not_a_model() -> None:
    with pytest.raises(TypeError, match=r"model: expected a torch\.nn\.Module"):
        faithcam.explain(lambda x: x, IMAGES)


def test_cam_needs_gap_linear_head() -> None:
    from tests.helpers import FlattenLinearNet

    with pytest.raises(faithcam.LayerError, match="GAP \\+ linear head"):
        faithcam.explain(FlattenLinearNet().eval(), IMAGES, "cam")
