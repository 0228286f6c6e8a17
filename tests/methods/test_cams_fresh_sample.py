"""Tests written for survivors of the fresh mutmut sample of the cams tier (seed 20261206,
docs/mutation.md): each expected value is stated by hand, not read from the code under test."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import faithcam
from faithcam.cams.eigen import first_component
from faithcam.cams.estimators import Expected
from faithcam.errors import FaithcamValueError


class TwoBlockNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.block1 = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        return self.head(self.block2(self.block1(x)).mean((2, 3)))


def test_several_layers_report_the_vanilla_estimator_and_the_estimator_method_name() -> None:
    model = TwoBlockNet().eval()
    images = torch.rand(2, 3, 8, 8)
    result = faithcam.explain(model, images, "hirescam", targets=1,
                              layer=[model.block1, model.block2])  # fmt: skip
    assert result.settings["estimator"] == "vanilla"
    integrated = faithcam.explain(model, images, "hirescam", targets=1, estimator="integrated",
                                  steps=2, layer=[model.block1, model.block2])  # fmt: skip
    assert integrated.method == "integrated-hirescam"  # the override's name, as for one layer


def test_expected_gradcam_reports_the_sigma_it_used() -> None:
    model = TwoBlockNet().eval()
    result = faithcam.explain(model, torch.rand(1, 3, 8, 8), "expected-gradcam", targets=0,
                              layer=model.block2, samples=2, sigma=0.07, seed=0)  # fmt: skip
    assert result.settings["sigma"] == 0.07


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_reference_set_refuses_non_finite_floating_images(bad) -> None:
    images = torch.rand(2, 3, 4, 4)
    images[1, 0, 0, 0] = bad
    with pytest.raises(FaithcamValueError, match="finite floating-point"):
        faithcam.ReferenceSet(images)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_first_component_keeps_the_input_dtype(dtype) -> None:
    projected = first_component(torch.rand(2, 3, 4, 5).to(dtype))
    assert projected.dtype == dtype and projected.shape == (2, 4, 5)


def test_estimator_chunks_draw_from_the_given_generator() -> None:
    """The same generator seed gives the same rows whatever the global RNG holds; another seed
    gives other rows."""
    image = torch.rand(1, 3, 5, 5)
    estimator = Expected(samples=4, baseline="uniform", sigma=0.1)

    def inputs(seed: int, global_seed: int) -> torch.Tensor:
        torch.manual_seed(global_seed)
        generator = torch.Generator().manual_seed(seed)
        return torch.cat([c.inputs for c in estimator.chunks(image, 5, generator)])

    first = inputs(1, 10)
    torch.testing.assert_close(inputs(1, 20), first, rtol=0, atol=0)
    assert not torch.allclose(inputs(2, 10), first)


def test_eigen_smooth_is_recorded_in_the_settings() -> None:
    model = TwoBlockNet().eval()
    result = faithcam.explain(model, torch.rand(1, 3, 8, 8), "gradcam", targets=0,
                              layer=model.block2, eigen_smooth=True)  # fmt: skip
    assert result.settings["eigen_smooth"] is True


def test_a_registered_weighting_knows_its_own_name() -> None:
    """Seed 20261207: the rule stored by ``register_weighting`` carries the name it was
    registered under (what a listing of the weightings shows)."""
    from faithcam.cams.registry import register_weighting, unregister
    from faithcam.cams.weightings import WEIGHTINGS

    register_weighting("fresh-sample-abs", lambda a, g: (a * g).abs())
    try:
        assert WEIGHTINGS["fresh-sample-abs"].name == "fresh-sample-abs"
    finally:
        unregister("fresh-sample-abs")
