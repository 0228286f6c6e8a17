"""explain's pipeline and its Request at their edges: signed maps, non-square inputs, class
options, train mode, the method-class cache, normalization and progress checks (issue 25: the
edge cases behind the hand-written mutants of faithcam/api.py and engine/request.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import faithcam
from faithcam.api import method_class
from faithcam.cams.registry import register_weighting, unregister
from faithcam.errors import FaithcamValueError
from tests.methods.test_estimators import TanhHeadNet
from tests.methods.test_seed_methods import naive_activations_and_gradient, naive_gradcam_term


def test_relu_false_maps_are_the_raw_map_over_its_largest_magnitude() -> None:
    """At a layer of the input's resolution (no resizing), relu=False maps are
    M / max |M| with M = Σ_k A^k GAP(G^k) by autograd: negative values kept."""
    model = TanhHeadNet().eval()
    torch.manual_seed(0)
    image = torch.rand(1, 3, 8, 8)
    result = faithcam.explain(model, image, "gradcam", targets=2, layer="features", relu=False)
    raw = naive_gradcam_term(*naive_activations_and_gradient(model, image, 2))
    assert raw.min() < 0
    torch.testing.assert_close(result.maps[0], raw / raw.abs().max(), rtol=1e-5, atol=1e-6)
    assert result.settings["relu"] is False


def test_maps_of_a_non_square_input_are_height_by_width() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))  # fmt: skip
    model.eval()
    result = faithcam.explain(model, torch.rand(2, 3, 8, 12), "gradcam", targets=0, layer="1")
    assert result.maps.shape == (2, 8, 12) and result.raw_maps.shape == (2, 4, 6)


def test_a_method_class_call_option_overrides_the_constructor_option() -> None:
    model = TanhHeadNet().eval()
    cam = faithcam.ExpectedGradCAM(model, "features", samples=2, seed=0)
    assert cam(torch.rand(1, 3, 8, 8), 0).settings["samples"] == 2
    assert cam(torch.rand(1, 3, 8, 8), 0, samples=5).settings["samples"] == 5


class RecordsMode(nn.Module):
    """Records ``self.training`` at every forward."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
        self.modes: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.training)
        return self.head(self.features(x))


@pytest.mark.parametrize("train_mode", [False, True])
def test_train_mode_runs_the_model_in_its_own_mode(train_mode: bool) -> None:
    model = RecordsMode().train()
    faithcam.explain(model, torch.rand(1, 3, 8, 8), "gradcam", 0, "features",
                     train_mode=train_mode)  # fmt: skip
    assert model.modes and set(model.modes) == {train_mode}
    assert model.training  # restored


def test_method_class_follows_a_re_registered_class_name() -> None:
    def terms(a, g):
        return a * g.mean((2, 3), keepdim=True)

    register_weighting("cache-check-cam", terms, class_name="CacheCheckA")
    try:
        assert method_class("cache-check-cam").__name__ == "CacheCheckA"
    finally:
        unregister("cache-check-cam")
    register_weighting("cache-check-cam", terms, class_name="CacheCheckB")
    try:
        assert method_class("cache-check-cam").__name__ == "CacheCheckB"
    finally:
        unregister("cache-check-cam")


def test_normalization_of_another_channel_count_is_refused_by_every_method() -> None:
    """Grad-CAM never reads the normalization, yet a wrong one is an error, before any work."""
    model = TanhHeadNet().eval()
    with pytest.raises(FaithcamValueError, match="normalization: 2 mean/std values for images "
                       "with 3 channels"):  # fmt: skip
        faithcam.explain(model, torch.rand(1, 3, 8, 8), "gradcam", 0,
                         normalization=((0.5, 0.5), (0.2, 0.2)))  # fmt: skip


def test_batch_size_zero_is_refused() -> None:
    with pytest.raises(FaithcamValueError, match="batch_size: must be >= 1, got 0"):
        faithcam.explain(TanhHeadNet().eval(), torch.rand(1, 3, 8, 8), "gradcam", 0,
                         batch_size=0)  # fmt: skip


def test_a_seed_makes_a_stochastic_method_reproducible() -> None:
    model, image = TanhHeadNet().eval(), torch.rand(1, 3, 8, 8)
    maps = [faithcam.explain(model, image, "expected-gradcam", 0, samples=3, seed=s).raw_maps
            for s in (7, 7, 8)]  # fmt: skip
    assert torch.equal(maps[0], maps[1]) and not torch.equal(maps[0], maps[2])


class HalvesNet(nn.Module):
    """A = the grey image (2 channels); class 0 scores channel 0's left half, class 1 channel
    1's right half, so the predicted class is the brighter half and HiResCAM's map (G ⊙ A)
    lies on that class's half."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(3, 2, 1)
        with torch.no_grad():
            self.features.weight.fill_(1 / 3)
            self.features.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.features(x)
        half = a.shape[-1] // 2
        return torch.stack([a[:, 0, :, :half].mean((1, 2)), a[:, 1, :, half:].mean((1, 2))], 1)


@pytest.mark.parametrize(("method", "layer"), [("hirescam", "features"), ("fullgrad", None)])
def test_aug_smooth_explains_each_copy_s_own_predicted_class(method, layer) -> None:
    """Left half bright: class 0, map on the left. A flipped copy predicts class 1, whose map
    lies on its right half, the original's left half again: the smoothed map is zero on the
    right half (explaining class 0 on the flipped copies would put mass there). HiResCAM
    (G ⊙ A) at a layer; FullGrad (x ⊙ ∂y/∂x and the bias gradients) without one."""
    image = torch.full((1, 3, 8, 8), 0.2)
    image[..., :4] = 1.0
    result = faithcam.explain(HalvesNet(), image, method, layer=layer, aug_smooth=True)
    assert result.maps[0, :, 4:].abs().max() < 1e-6
    assert result.maps[0, :, :4].min() > 0.5
