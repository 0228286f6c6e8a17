"""Layer resolution, automatic selection, and the capture engine's layer checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import faithcam
from faithcam.engine.layers import resolve_layer
from tests.helpers import GapLinearNet, seeded_torchvision


@pytest.mark.parametrize(
    ("name", "expected"),
    [("resnet18", "layer4"), ("vgg11_bn", "features"), ("mobilenet_v3_small", "features")],
)
def test_auto_layer_is_last_feature_map(name: str, expected: str) -> None:
    model = seeded_torchvision(name)
    assert resolve_layer(model, None, torch.rand(1, 3, 64, 64)).name == expected


def test_name_module_and_auto_give_the_same_maps() -> None:
    model = seeded_torchvision("resnet18")
    images = torch.rand(1, 3, 64, 64)
    by_auto = faithcam.explain(model, images, targets=1)
    by_name = faithcam.explain(model, images, targets=1, layer="layer4")
    by_module = faithcam.explain(model, images, targets=1, layer=model.layer4)
    torch.testing.assert_close(by_auto.maps, by_name.maps)
    torch.testing.assert_close(by_auto.maps, by_module.maps)
    assert by_module.layer == "layer4"


class SharedActivationNet(nn.Module):
    """Calls one ReLU module twice per forward, as EfficientNet-Lite does."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.head_conv = nn.Conv2d(4, 6, 1)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        x = self.act(self.head_conv(self.act(self.stem(x))))
        return self.fc(x.mean(dim=(2, 3)))


def test_auto_never_picks_a_module_that_runs_twice() -> None:
    model = SharedActivationNet().eval()
    assert resolve_layer(model, None, torch.rand(1, 3, 8, 8)).name == "head_conv"


def test_explicit_shared_module_is_a_clear_error() -> None:
    model = SharedActivationNet().eval()
    with pytest.raises(faithcam.LayerError) as caught:
        faithcam.explain(model, torch.rand(1, 3, 8, 8), layer="act")
    assert str(caught.value) == (  # the whole message (seed 20261220, `_LayerHook.__call__` 10)
        "layer: 'act' runs more than once per forward pass (a shared module); its activations "
        "are ambiguous. Pick a module that runs once."
    )


def test_layer_never_called_is_a_clear_error() -> None:
    model = GapLinearNet().eval()
    model.unused = nn.Conv2d(3, 3, 1)
    with pytest.raises(faithcam.LayerError, match="never called"):
        faithcam.explain(model, torch.rand(1, 3, 8, 8), layer="unused")


def test_layer_with_non_4d_output_is_a_clear_error() -> None:
    model = GapLinearNet().eval()
    with pytest.raises(faithcam.LayerError, match="2-D tensor"):
        faithcam.explain(model, torch.rand(1, 3, 8, 8), layer="fc")


def test_inplace_ops_after_the_layer_work() -> None:
    """ReLU(inplace=True) right after the target layer: same maps as the out-of-place model."""
    torch.manual_seed(0)
    inplace = GapLinearNet(inplace=True).eval()
    plain = GapLinearNet(inplace=False).eval()
    plain.load_state_dict(inplace.state_dict())
    images = torch.rand(2, 3, 16, 16)
    for layer in ("features.0", "features.2"):
        a = faithcam.explain(inplace, images, "hirescam", targets=1, layer=layer)
        b = faithcam.explain(plain, images, "hirescam", targets=1, layer=layer)
        torch.testing.assert_close(a.raw_maps, b.raw_maps)


def test_score_independent_of_layer_is_a_clear_error() -> None:
    model = GapLinearNet().eval()
    with pytest.raises(faithcam.TargetError, match="does not depend on layer"):
        faithcam.explain(model, torch.rand(1, 3, 8, 8), targets=lambda out: torch.ones(len(out)))
