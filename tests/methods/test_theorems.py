"""The papers' theorems as property tests."""

from __future__ import annotations

import pytest
import torch

import faithcam
from tests.helpers import FlattenLinearNet, GapLinearNet


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hirescam_equals_cam_on_gap_linear(seed: int) -> None:
    """Draelos & Carin: on a GAP + linear head, HiResCAM = CAM / Z (Z = h·w)."""
    torch.manual_seed(seed)
    model = GapLinearNet(classes=7, channels=12).eval()
    images = torch.randn(4, 3, 20, 20)
    targets = [0, 3, 6, 2]
    hires = faithcam.explain(model, images, "hirescam", targets=targets)
    cam = faithcam.explain(model, images, "cam", targets=targets)
    z = hires.raw_maps[0].numel()
    torch.testing.assert_close(hires.raw_maps * z, cam.raw_maps, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(hires.maps, cam.maps, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["xgradcam", "hirescam"])
def test_conservation_on_gap_linear(method: str) -> None:
    """Fu et al.: on a ReLU net with GAP + linear head, Σ_ij map = y^c − b_c."""
    torch.manual_seed(3)
    model = GapLinearNet(classes=5, channels=10).eval()
    images = torch.randn(3, 3, 24, 24)
    targets = torch.tensor([1, 4, 0])
    result = faithcam.explain(model, images, method, targets=targets)
    with torch.no_grad():
        logits = model(images)
    expected = logits[torch.arange(3), targets] - model.fc.bias[targets]
    torch.testing.assert_close(result.raw_maps.sum(dim=(1, 2)), expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(result.scores, logits[torch.arange(3), targets])


def test_hirescam_is_exact_contribution_on_flatten_linear_head() -> None:
    """Flatten + linear head: HiResCAM is the per-location contribution (sums to y − b),
    while Grad-CAM averages the gradient away and gives a different map."""
    torch.manual_seed(4)
    model = FlattenLinearNet().eval()
    images = torch.randn(3, 3, 16, 16)
    hires = faithcam.explain(model, images, "hirescam", targets=2)
    grad = faithcam.explain(model, images, "gradcam", targets=2)
    with torch.no_grad():
        expected = model(images)[:, 2] - model.fc.bias[2]
    torch.testing.assert_close(hires.raw_maps.sum(dim=(1, 2)), expected, rtol=1e-4, atol=1e-5)
    assert (hires.maps - grad.maps).abs().max() > 0.1


def test_all_vanilla_methods_agree_on_gap_linear_up_to_scale() -> None:
    """On GAP + linear heads the gradient is W_c / Z everywhere: Grad-CAM, XGrad-CAM, HiResCAM
    and CAM coincide after normalisation."""
    torch.manual_seed(5)
    model = GapLinearNet().eval()
    images = torch.randn(2, 3, 16, 16)
    maps = [
        faithcam.explain(model, images, m, targets=1).maps
        for m in ("gradcam", "xgradcam", "hirescam", "cam")
    ]
    for other in maps[1:]:
        torch.testing.assert_close(other, maps[0], rtol=1e-4, atol=1e-5)
