"""Deletion / insertion AUC, Average Drop and Increase in Confidence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from faithcam.errors import FaithcamTypeError, FaithcamValueError
from faithcam.metrics import (
    MetricResult,
    average_drop,
    deletion,
    increase_in_confidence,
    insertion,
)


class Linear(nn.Module):
    """logits_c = Σ_{ch,i,j} W_c[ch,i,j] · x[ch,i,j]: per-pixel contributions are known."""

    def __init__(self, classes: int = 3, shape: tuple[int, int, int] = (3, 12, 12)) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(classes, *shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bchw,kchw->bk", x, self.weight)

    def contributions(self, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return (x * self.weight[targets]).sum(dim=1)


@pytest.fixture
def linear_setup():
    torch.manual_seed(0)
    model = Linear().eval()
    images = torch.rand(6, 3, 12, 12)
    targets = model(images).argmax(1)
    return model, images, targets, model.contributions(images, targets).detach()


@pytest.mark.parametrize("score", ["logit", "probability"])
def test_true_contributions_win_deletion_and_insertion(linear_setup, score):
    model, images, targets, truth = linear_setup
    random_map = torch.rand(truth.shape, generator=torch.Generator().manual_seed(1))
    kw = {"curve_steps": 36, "score": score}
    del_true = deletion(model, images, truth, targets, **kw)
    del_rand = deletion(model, images, random_map, targets, **kw)
    ins_true = insertion(model, images, truth, targets, substrate="black", **kw)
    ins_rand = insertion(model, images, random_map, targets, substrate="black", **kw)
    assert (del_true.values < del_rand.values).all()
    assert (ins_true.values > ins_rand.values).all()


def test_deletion_curve_endpoints_and_shape(linear_setup):
    model, images, targets, truth = linear_setup
    res = deletion(model, images, truth, targets, pixels_per_step=10, score="logit")
    curves, fraction = res.details["curves"], res.details["fraction"]
    assert curves.shape == (6, 1 + math.ceil(144 / 10)) and fraction[-1] == 1.0
    full = model(images).gather(1, targets[:, None])[:, 0].double()
    torch.testing.assert_close(curves[:, 0], full, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(curves[:, -1], torch.zeros(6, dtype=torch.float64))
    # trapezoid over the fraction of pixels removed
    manual = np.trapezoid(curves.numpy(), fraction.numpy(), axis=1)
    np.testing.assert_allclose(res.values.numpy(), manual, rtol=1e-10)


def test_batch_size_and_numpy_maps_do_not_change_result(linear_setup):
    model, images, targets, truth = linear_setup
    a = deletion(model, images, truth, targets, curve_steps=12, batch_size=5)
    b = deletion(model, images, truth.numpy(), targets, curve_steps=12, batch_size=200)
    torch.testing.assert_close(a.values, b.values)


@pytest.mark.parametrize("kind", ["black", "blur", "mean"])
def test_substrates(linear_setup, kind):
    model, images, targets, truth = linear_setup
    res = insertion(model, images, truth, targets, curve_steps=8, substrate=kind)
    assert res.values.shape == (6,) and torch.isfinite(res.values).all()


def test_targets_none_uses_prediction(linear_setup):
    model, images, targets, truth = linear_setup
    res = deletion(model, images, truth, None, curve_steps=6)
    assert torch.equal(res.details["targets"], targets)


def test_model_state_is_unchanged():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Dropout(0.5), nn.Flatten(), nn.LazyLinear(2))
    model(torch.rand(1, 3, 8, 8))
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images, maps = torch.rand(2, 3, 8, 8), torch.rand(2, 8, 8)
    deletion(model, images, maps, curve_steps=4)
    average_drop(model, images, maps)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.requires_grad for p in model.parameters())


def test_average_drop_and_increase_known_answer(linear_setup):
    """Closed form on the linear model: the map is 1 except one pixel (min-max keeps it so), so
    the masked image is the image with that pixel zeroed: O = softmax(logits − W[:, :, 0, 0]·x)."""
    model, images, targets, _ = linear_setup
    ones = torch.ones(6, 12, 12)
    ones[:, 0, 0] = 0
    drop = average_drop(model, images, ones, targets)
    increase = increase_in_confidence(model, images, ones, targets)
    weight = model.weight.detach().double()
    x = images.double()
    logits = (x[:, None] * weight[None]).sum(dim=(2, 3, 4))
    removed = (x[:, None, :, 0, 0] * weight[None, :, :, 0, 0]).sum(dim=2)
    rows = torch.arange(6)
    full = logits.softmax(dim=1)[rows, targets]
    masked = (logits - removed).softmax(dim=1)[rows, targets]
    expected = [100 * max(0.0, float(f - m)) / float(f) for f, m in zip(full, masked, strict=True)]
    torch.testing.assert_close(drop.values, torch.tensor(expected, dtype=torch.float64))
    clear = (masked - full).abs() > 1e-5  # float32 probabilities near 1 may tie
    expected_increase = 100 * (masked > full).double()
    torch.testing.assert_close(increase.values[clear], expected_increase[clear])
    assert clear.sum() >= 3


class _SumModel(nn.Module):
    """logits = (Σ x, 0): the target-0 probability is sigmoid(Σ x)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = x.sum(dim=(1, 2, 3))
        return torch.stack([total, torch.zeros_like(total)], dim=1)


def test_average_drop_hand_computed_with_min_max_scaling():
    """A 2x2 image of ones, map [[5, 3], [3, 3]]: min-max gives [[1, 0], [0, 0]], so
    Y = sigmoid(4), O = sigmoid(1), drop = 100 (Y − O) / Y ≈ 25.56 % (unscaled: 0 %)."""
    image = torch.ones(1, 1, 2, 2)
    explanation = torch.tensor([[[5.0, 3.0], [3.0, 3.0]]])
    y, o = 1 / (1 + math.exp(-4)), 1 / (1 + math.exp(-1))
    drop = average_drop(_SumModel(), image, explanation, 0)
    assert float(drop.values[0]) == pytest.approx(100 * (y - o) / y, rel=1e-6)
    assert float(drop.values[0]) == pytest.approx(25.5552, abs=1e-3)
    assert float(increase_in_confidence(_SumModel(), image, explanation, 0).values[0]) == 0.0
    increase = increase_in_confidence(_SumModel(), -image, explanation, 0)
    assert float(increase.values[0]) == 100.0  # sigmoid(-1) > sigmoid(-4)


def test_result_summary_t_interval():
    res = MetricResult("x", torch.tensor([1.0, 2.0, 3.0, float("nan")], dtype=torch.float64))
    assert res.n == 3 and res.mean == pytest.approx(2.0)
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t_{0.975, 2} · s / sqrt(n)
    assert res.ci == pytest.approx((2 - half, 2 + half), rel=1e-4)
    assert set(res.summary()) == {"metric", "mean", "ci_low", "ci_high", "n"}


def test_bad_inputs(linear_setup):
    model, images, targets, truth = linear_setup
    with pytest.raises(FaithcamValueError, match=r"maps must have shape \(B, H, W\)"):
        deletion(model, images, truth[:, :5], targets)
    with pytest.raises(FaithcamValueError, match=r"maps must have shape"):
        deletion(model, images, truth[:3], targets)
    with pytest.raises(FaithcamTypeError, match="images must be a torch\\.Tensor"):
        deletion(model, images.numpy(), truth, targets)
    with pytest.raises(FaithcamValueError, match="substrate must be one of"):
        deletion(model, images, truth, targets, substrate="white")
    with pytest.raises(FaithcamValueError, match="steps or pixels_per_step"):
        deletion(model, images, truth, targets, curve_steps=4, pixels_per_step=4)
    with pytest.raises(FaithcamValueError, match="targets must be class ids in"):
        deletion(model, images, truth, torch.full((6,), 7), curve_steps=4)
    with pytest.raises(FaithcamValueError, match="targets must be None, an int"):
        deletion(model, images, truth, [0, 1], curve_steps=4)
    with pytest.raises(FaithcamValueError, match="score must be one of"):
        average_drop(model, images, truth, targets, score="prob")


def test_road_morf_below_lerf_for_true_contributions(linear_setup):
    from faithcam.metrics import road

    model, images, targets, truth = linear_setup
    kw = {"percentages": [20, 50, 80], "score": "logit", "seed": 0}
    morf = road(model, images, truth, targets, order="morf", **kw)
    lerf = road(model, images, truth, targets, order="lerf", **kw)
    assert (morf.values < lerf.values).all()
    assert morf.details["curves"].shape == (6, 3) and morf.name == "road_morf"
    with pytest.raises(FaithcamValueError, match="order must be one of"):
        road(model, images, truth, targets, order="up")
