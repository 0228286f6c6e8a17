"""Engine details that the mutation run found untested: exact error messages, callable-target
shapes and dtypes, automatic layers with 1 x 1 outputs, CamResult's repr."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

import faithcam
from tests.helpers import GapLinearNet

NAMES = ["features", "features.0", "features.1", "features.2", "features.3", "pool", "fc"]


@pytest.mark.parametrize(
    ("name", "closest"),
    [
        ("feature.3", "features.3, features.2, features.1, features.0, features"),  # difflib
        ("features." + "z" * 30, "features, features.0, features.1, features.2, features.3"),
        ("qqqqqqqqqqqq", "features.1, features.2, features.3, pool, fc"),  # the last five
    ],
)
def test_unknown_layer_message_is_exact(name: str, closest: str) -> None:
    model = GapLinearNet().eval()
    assert [n for n, _ in model.named_modules() if n] == NAMES
    expected = f"layer: no module named {name!r} in the model; closest valid names: {closest}"
    with pytest.raises(faithcam.LayerError, match=f"^{re.escape(expected)}$"):
        faithcam.explain(model, torch.rand(1, 3, 8, 8), layer=name)


class SqueezeNet(nn.Module):
    """The last 4-D outputs are 1 x 1 (a squeeze-excitation-like pooled branch): never picked."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.excite = nn.Conv2d(4, 4, 1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.relu(self.conv(x))
        return self.fc(self.excite(self.squeeze(a)).flatten(1))


def test_auto_layer_skips_one_by_one_feature_maps() -> None:
    torch.manual_seed(0)
    result = faithcam.explain(SqueezeNet().eval(), torch.rand(1, 3, 8, 8), targets=0)
    assert result.layer == "conv"


def test_callable_targets_shapes_messages_and_dtype() -> None:
    torch.manual_seed(0)
    model = GapLinearNet().eval()
    images = torch.rand(2, 3, 8, 8)
    reference = faithcam.explain(model, images, "gradcam", targets=[1, 3])
    column = faithcam.explain(model, images, "gradcam", targets=lambda out: out[:, 1:2])
    torch.testing.assert_close(column.raw_maps[0], reference.raw_maps[0])
    per_image = [lambda out: out[1:2], lambda out: out[3]]  # each gets its image's output
    torch.testing.assert_close(
        faithcam.explain(model, images, "gradcam", targets=per_image).raw_maps, reference.raw_maps
    )
    with pytest.raises(faithcam.TargetError, match=r"must return a tensor, got <class 'float'>"):
        faithcam.explain(model, images, targets=lambda out: 1.0)
    with pytest.raises(
        faithcam.TargetError, match=r"one score per row, shape \(2,\); got \(2, 2\)$"
    ):
        faithcam.explain(model, images, targets=lambda out: out[:, :2])
    with pytest.raises(faithcam.TargetError, match=r"^targets: got 1 callables for 2 images$"):
        faithcam.explain(model, images, targets=[lambda out: out[0]])
    double = GapLinearNet().double().eval()
    result = faithcam.explain(double, images.double(), "gradcam", targets=per_image)
    assert result.scores.dtype == torch.float64


def test_cam_result_repr() -> None:
    result = faithcam.explain(GapLinearNet().eval(), torch.rand(2, 3, 8, 8), targets=0)
    assert repr(result) == (
        "CamResult(method='gradcam', layer='features', maps=(2, 8, 8), raw_maps=(2, 4, 4))"
    )
    assert repr(faithcam.engine.targets.ClassLogit(3)) == "ClassLogit(3)"
