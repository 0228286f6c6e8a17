"""Raw maps at their true scale, against naive loops over plain-autograd (A, G).

Min-max scaling hides a constant factor (weights summed instead of averaged, a sample count
left in): these tests compare ``CamResult.raw_maps`` before any scaling.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import faithcam
from tests.helpers import FlattenLinearNet, GapLinearNet
from tests.references import naive_map, reference_gradients

RULES = ["gradcam", "gradcam++", "xgradcam", "hirescam", "layercam"]


class TanhHeadNet(nn.Module):
    """conv -> ReLU (layer `features`) -> 1x1 conv -> tanh -> flatten -> linear: a non-linear
    head, so the gradient at the layer varies with the input and across locations."""

    def __init__(self, classes: int = 3, channels: int = 5, size: int = 8) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.ReLU())
        self.mix = nn.Conv2d(channels, channels, 1)
        self.fc = nn.Linear(channels * size * size, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.tanh(self.mix(self.features(x))).flatten(1))


@pytest.mark.parametrize("method", ["gradcam", "xgradcam", "hirescam"])
def test_raw_maps_sum_to_score_minus_bias(method: str) -> None:
    """ReLU net, GAP + linear head: Σ_ij map = y_c − b_c for Grad-CAM (w_k = W_ck / Z),
    XGrad-CAM and HiResCAM; CAM's raw map (Σ_k W_ck A_k, no 1/Z) sums to Z (y_c − b_c)."""
    torch.manual_seed(7)
    model = GapLinearNet(classes=4, channels=6).eval()
    images = torch.randn(3, 3, 12, 12)
    classes = torch.tensor([3, 0, 2])
    with torch.no_grad():
        logits = model(images)
    expected = logits[torch.arange(3), classes] - model.fc.bias[classes]
    result = faithcam.explain(model, images, method, targets=classes, relu=False)
    torch.testing.assert_close(result.raw_maps.sum(dim=(1, 2)), expected, rtol=1e-4, atol=1e-5)
    cam = faithcam.explain(model, images, "cam", targets=classes)
    z = cam.raw_maps[0].numel()
    torch.testing.assert_close(cam.raw_maps.sum(dim=(1, 2)), z * expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("model_cls", [FlattenLinearNet, TanhHeadNet])
def test_vanilla_raw_maps_equal_naive_loops(rule: str, model_cls: type[nn.Module]) -> None:
    torch.manual_seed(8)
    size = 16 if model_cls is FlattenLinearNet else 8
    model = model_cls().eval()
    images = torch.randn(2, 3, size, size)
    classes = torch.tensor([1, 2])
    a, g, outputs = reference_gradients(model, model.features, images, classes)
    result = faithcam.explain(model, images, rule, targets=classes, layer="features")
    expected = torch.stack([naive_map(rule, a[b], g[b]) for b in range(2)]).float()
    torch.testing.assert_close(result.raw_maps, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(result.scores, outputs[torch.arange(2), classes])


def test_smooth_estimator_on_linear_head_equals_vanilla_at_raw_scale() -> None:
    """On GAP + linear heads the gradient is W_c / Z whatever the input: SmoothGrad's average
    of n noisy gradients equals it exactly (a sum would be n times larger), and A is A(x)."""
    torch.manual_seed(9)
    model = GapLinearNet().eval()
    images = torch.randn(2, 3, 16, 16)
    for rule in RULES:
        vanilla = faithcam.explain(model, images, rule, targets=1)
        smooth = faithcam.explain(
            model, images, rule, targets=1, estimator="smooth", samples=5, sigma=0.3, seed=0
        )
        torch.testing.assert_close(smooth.raw_maps, vanilla.raw_maps, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("rule", RULES)
def test_smooth_estimator_equals_mean_of_noisy_gradients(rule: str) -> None:
    """Smooth × any weighting: G = (1/n) Σ_r ∂y/∂A(x + ε_r), A = A(x), then the rule.

    The noisy inputs are recorded as the model sees them; the reference recomputes each one's
    gradient with plain autograd and averages per image (rows matched to their image by
    distance), so neither the row order nor the noise generator is assumed.
    """
    torch.manual_seed(10)
    model = TanhHeadNet().eval()
    images = torch.randn(2, 3, 8, 8)
    images[1] += 3.0  # images far apart: a noisy row is nearest its own image
    classes = torch.tensor([0, 2])
    seen: list[torch.Tensor] = []
    handle = model.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
    try:
        result = faithcam.explain(
            model,
            images,
            rule,
            targets=classes,
            layer="features",
            estimator="smooth",
            samples=4,
            sigma=0.2,
            seed=3,
            batch_size=3,
        )
    finally:
        handle.remove()
    rows = torch.cat(seen)
    is_input = (rows[:, None] == images[None]).flatten(2).all(-1).any(-1)
    noisy = rows[~is_input]
    owner = (noisy[:, None] - images[None]).flatten(2).norm(dim=-1).argmin(dim=1)
    assert torch.bincount(owner, minlength=2).tolist() == [4, 4]
    _, g_noisy, _ = reference_gradients(model, model.features, noisy, classes[owner])
    a, _, _ = reference_gradients(model, model.features, images, classes)
    expected = []
    for b in range(2):
        g_mean = g_noisy[owner == b].mean(dim=0)
        assert not torch.allclose(g_mean, g_noisy[owner == b][0])  # the noise did something
        expected.append(naive_map(rule, a[b], g_mean))
    torch.testing.assert_close(result.raw_maps, torch.stack(expected).float(), rtol=1e-4, atol=1e-5)
