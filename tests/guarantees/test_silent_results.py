"""No silent wrong result: non-finite maps raise, empty ground truth warns, dtypes are cast."""

from __future__ import annotations

import pytest
import torch

import faithcam
from faithcam.metrics import bbox_accuracy, energy_pointing_game, pointing_game
from tests.helpers import GapLinearNet


def _model() -> GapLinearNet:
    torch.manual_seed(0)
    return GapLinearNet().eval()


@pytest.mark.parametrize("method", ["gradcam", "hirescam", "cam", "scorecam"])
def test_nan_weight_raises_instead_of_an_all_zero_map(method: str) -> None:
    model = _model()
    with torch.no_grad():
        model.features[0].weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(faithcam.FaithcamValueError, match="NaN or infinite"):
        faithcam.explain(model, torch.rand(2, 3, 16, 16), method)


def test_nan_baseline_and_infinite_sigma_raise() -> None:
    images = torch.rand(2, 3, 16, 16)
    with pytest.raises(faithcam.FaithcamValueError, match="NaN or infinite"):
        faithcam.explain(
            _model(),
            images,
            "integrated-gradcam",
            steps=2,
            baseline=torch.full_like(images, float("nan")),
        )
    # refused before any forward pass, naming the argument
    with pytest.raises(faithcam.FaithcamValueError, match="sigma: must be a finite number"):
        faithcam.explain(_model(), images, "expected-gradcam", samples=2, sigma=float("inf"))


def test_boxes_outside_the_image_warn_and_are_counted() -> None:
    images = torch.rand(3, 3, 8, 8)
    maps = torch.rand(3, 8, 8)
    masks = torch.zeros(3, 8, 8, dtype=torch.bool)
    masks[0, 2:4, 2:4] = True  # images 1 and 2: their boxes were cropped away
    for metric in (pointing_game, energy_pointing_game, bbox_accuracy):
        with pytest.warns(UserWarning, match="2 of 3 images have an empty ground truth"):
            result = metric(images, maps, masks)
        assert result.details["empty_masks"] == 2 and result.n == 1


@pytest.mark.parametrize("image_dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_images_are_cast_to_the_model_dtype(image_dtype: torch.dtype) -> None:
    model = _model()
    images = torch.rand(2, 3, 16, 16)
    reference = faithcam.explain(model, images).maps
    result = faithcam.explain(model, images.to(image_dtype)).maps
    tolerance = 0 if image_dtype == torch.float64 else 0.05
    torch.testing.assert_close(result, reference, rtol=0, atol=tolerance)


def test_float64_model_takes_float32_images() -> None:
    model = _model()
    images = torch.rand(2, 3, 16, 16)
    reference = faithcam.explain(model, images).maps
    result = faithcam.explain(model.double(), images).maps
    torch.testing.assert_close(result.float(), reference, rtol=0, atol=1e-5)
    assert next(model.parameters()).dtype == torch.float64  # the model itself is not cast


def test_meta_tensors_give_a_clear_error() -> None:
    with pytest.raises(faithcam.FaithcamValueError, match=r"images: .*meta device"):
        faithcam.explain(_model(), torch.empty(1, 3, 16, 16, device="meta"))
    with torch.device("meta"):
        meta_model = GapLinearNet()
    with pytest.raises(
        faithcam.FaithcamValueError, match=r"model: features\.0\.weight is on the meta"
    ):
        faithcam.explain(meta_model, torch.rand(1, 3, 16, 16))
