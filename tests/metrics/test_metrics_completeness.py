"""metrics.completeness: Σ_ij M_ij against y(x) − E[y(x')]."""

from __future__ import annotations

import pytest
import torch

import faithcam
from faithcam.metrics import completeness
from tests.helpers import GapLinearNet


def bias_free_gap_model() -> GapLinearNet:
    """conv layers without bias: A(black) = 0, so y(black) is the classifier's bias."""
    torch.manual_seed(4)
    model = GapLinearNet().eval()
    with torch.no_grad():
        for module in model.features:
            if isinstance(module, torch.nn.Conv2d):
                module.bias.zero_()
    return model


@pytest.mark.parametrize("method", ["gradcam", "hirescam", "xgradcam"])
def test_gradcam_family_is_complete_on_a_bias_free_gap_linear_model(method) -> None:
    model = bias_free_gap_model()
    images = torch.rand(3, 3, 16, 16)
    result = faithcam.explain(model, images, method, targets=2, relu=False)
    gap = completeness(model, images, result.raw_maps, targets=2)
    with torch.no_grad():
        difference = model(images)[:, 2] - model.fc.bias[2]
    torch.testing.assert_close(gap.details["difference"], difference.double(), rtol=1e-5, atol=1e-6)
    assert gap.values.max() < 1e-4, gap.values


def test_a_map_with_the_wrong_total_has_the_expected_gap() -> None:
    model = bias_free_gap_model()
    images = torch.rand(2, 3, 16, 16)
    raw = faithcam.explain(model, images, "hirescam", targets=0, relu=False).raw_maps
    gap = completeness(model, images, 0.5 * raw, targets=0)  # half the total: gap 0.5
    torch.testing.assert_close(gap.values, torch.full((2,), 0.5, dtype=torch.float64))


def test_references_give_the_mean_baseline_logit_and_normalization_gives_black() -> None:
    model = bias_free_gap_model()
    images, references = torch.rand(2, 3, 16, 16), torch.rand(4, 3, 16, 16)
    raw = torch.zeros(2, 8, 8)
    with torch.no_grad():
        expected = model(references)[:, 1].double().mean()
        black = model(torch.full((1, 3, 16, 16), -2.0))[0, 1].double()
    result = completeness(model, images, raw, targets=1, references=references)
    torch.testing.assert_close(result.details["baseline_score"], expected.expand(2))
    result = completeness(model, images, raw, targets=1, normalization=((0.5,) * 3, (0.25,) * 3))
    torch.testing.assert_close(result.details["baseline_score"], black.expand(2))


def test_bad_raw_maps_are_named() -> None:
    model = bias_free_gap_model()
    with pytest.raises(ValueError, match=r"raw_maps: expected \(2, h, w\)"):
        completeness(model, torch.rand(2, 3, 16, 16), torch.zeros(3, 8, 8))
