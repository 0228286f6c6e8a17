"""Tests for rarely reached paths of faithcam.metrics, found by line coverage: the spread and
the printed summary of a result with undefined values, maps with NaN or inf, one metric name
given as text, ROAD's noise with and without a normalization, a model that is not a module,
the range of a target that names its own score, and a box metric whose thresholded map has no
region. Expected values are computed by hand or from the definitions in the docstrings."""

from __future__ import annotations

import math
import statistics

import pytest
import torch
from torch import nn

from faithcam.engine.targets import CallableTarget
from faithcam.errors import FaithcamTypeError, FaithcamValueError
from faithcam.metrics import (
    MetricResult,
    bbox_accuracy,
    deletion,
    evaluate,
    max_sensitivity,
    model_randomization,
    road,
)
from tests.metrics.metric_models import seeded, tiny_classifier


def test_std_leaves_out_nan_values_and_uses_the_sample_std() -> None:
    values = [0.25, math.nan, 1.0, 0.5, math.nan, 2.0]
    result = MetricResult("deletion", torch.tensor(values, dtype=torch.float64))
    # torch.std's default is the sample std (n - 1 in the denominator), as statistics.stdev
    kept = [0.25, 1.0, 0.5, 2.0]
    mean = sum(kept) / 4  # 0.9375
    by_hand = math.sqrt(sum((v - mean) ** 2 for v in kept) / 3)
    assert result.std == pytest.approx(by_hand, rel=1e-12)
    assert result.std == pytest.approx(statistics.stdev(kept), rel=1e-12)


def test_std_of_a_single_defined_value_is_nan() -> None:
    result = MetricResult("deletion", torch.tensor([math.nan, 0.5], dtype=torch.float64))
    assert math.isnan(result.std)


def test_repr_shows_the_name_mean_student_t_interval_and_count() -> None:
    result = MetricResult("deletion", torch.tensor([1.0, 2.0, 3.0, math.nan], dtype=torch.float64))
    # n = 3 defined values, mean 2, sample std 1; unbounded: mean ± t_{0.975, 2} · 1 / sqrt(3)
    # with t_{0.975, 2} = 4.302653 (Student's t table): half width 2.484138
    half = 4.302653 / math.sqrt(3)
    assert f"{2 - half:.4g}, {2 + half:.4g}" == "-0.4841, 4.484"
    assert repr(result) == "MetricResult(deletion: mean=2, 95% CI=[-0.4841, 4.484], n=3)"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_maps_with_nan_or_infinite_values_are_refused(bad: float) -> None:
    model = tiny_classifier()
    images = seeded(2, 3, 4, 4, seed=1)
    maps = seeded(2, 4, 4, seed=2)
    maps[1, 2, 3] = bad
    with pytest.raises(FaithcamValueError) as caught:
        deletion(model, images, maps, curve_steps=2)
    assert str(caught.value) == "maps contains NaN or infinite values"


def _fixed_maps(model, images, method, targets):
    return seeded(images.shape[0], *images.shape[2:], seed=3)


def test_one_metric_name_as_text_is_read_as_a_one_item_list() -> None:
    model = tiny_classifier()
    images = seeded(2, 3, 6, 6, seed=4)
    options = {"metric_kwargs": {"deletion": {"curve_steps": 3}}, "progress": False}
    as_text = evaluate(model, images, "gradcam", "deletion", explain=_fixed_maps, **options)
    as_list = evaluate(model, images, ["gradcam"], ["deletion"], explain=_fixed_maps, **options)
    assert [(row["method"], row["metric"], row["n"]) for row in as_text] == [
        ("gradcam", "deletion", 2)
    ]
    assert list(as_text) == list(as_list)
    assert list(as_text.results) == [("gradcam", "deletion")]
    assert torch.equal(
        as_text.results[("gradcam", "deletion")].values,
        as_list.results[("gradcam", "deletion")].values,
    )


class _ChannelProbe(nn.Module):
    """Logit c = channel c of pixel (1, 1) minus the channel's constant value elsewhere."""

    def __init__(self, levels: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("levels", torch.tensor(levels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, 1, 1] - self.levels


@pytest.mark.parametrize(
    ("normalization", "stds"),
    [(None, (1.0, 1.0, 1.0)), (((0.1, 0.2, 0.3), (0.5, 0.25, 2.0)), (0.5, 0.25, 2.0))],
    ids=["no normalization", "normalization"],
)
def test_road_noise_is_sigma_in_model_space_or_pixel_units_over_each_channel_std(
    normalization, stds
) -> None:
    """One 4 x 4 image, each channel constant: 10 % of 16 pixels removes one pixel, (1, 1), whose
    8 neighbours all hold the channel's value, so ROAD imputes value + σ_c · z_c, with z the
    (1 pixel, 3 channels) standard normal draw of the generator. The probe's logit c is
    σ_c · z_c: σ_c = ``noise`` in every channel with no normalization, ``noise / std_c`` with
    one (noise in pixel units)."""
    levels = (0.2, 0.5, 0.8)
    images = torch.tensor(levels).view(1, 3, 1, 1).expand(1, 3, 4, 4).clone()
    maps = torch.zeros(1, 4, 4)
    maps[0, 1, 1] = 1.0
    model = _ChannelProbe(levels).eval()
    noise = 0.3
    z = torch.randn((1, 3), generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    assert z.abs().min() > 0.05  # the check below tells the channels' σ apart
    for channel in range(3):
        result = road(
            model, images, maps, channel, percentages=[10], noise=noise, score="logit",
            generator=torch.Generator().manual_seed(7), normalization=normalization,
        )  # fmt: skip
        expected = noise / stds[channel] * float(z[0, channel])
        assert result.values.tolist() == pytest.approx([expected], abs=1e-6)


def test_model_randomization_refuses_a_model_that_is_not_a_module() -> None:
    images = seeded(1, 3, 4, 4, seed=5)

    def explain_fn(model, images, targets):
        return images.mean(1)

    with pytest.raises(FaithcamTypeError) as caught:
        model_randomization(lambda x: x.mean((2, 3)), images, None, 0, explain_fn)
    assert str(caught.value) == "model must be a torch.nn.Module, got function"


class _ProbabilityOfClassZero(CallableTarget):
    """A user's target that names its score: the softmax probability of class 0."""

    score = "probability"

    def __init__(self) -> None:
        super().__init__(lambda outputs: outputs.softmax(dim=-1)[:, 0])


def test_a_callable_target_that_names_a_probability_score_has_no_known_range() -> None:
    model = tiny_classifier()
    images = seeded(2, 3, 4, 4, seed=6)
    maps = seeded(2, 4, 4, seed=7)
    result = deletion(model, images, maps, _ProbabilityOfClassZero(), curve_steps=2)
    assert result.bounds is None
    # the curve starts at the clean images' probability of class 0
    with torch.no_grad():
        clean = model(images).softmax(dim=-1)[:, 0].double()
    assert result.details["curves"][:, 0].tolist() == pytest.approx(clean.tolist(), abs=1e-6)


def test_a_half_precision_threshold_of_one_still_keeps_the_peak_pixel() -> None:
    """A float16 tensor threshold of 1.0 is read as the number 1.0: multiplied in float16,
    1.0 · 1.0009 rounded up to 1.0009766, above the map's own maximum, so no pixel was kept
    and the box was lost. Here the peak pixel is the box (1, 1, 2, 2), by hand."""
    images = torch.zeros(1, 3, 4, 4)
    maps = torch.zeros(1, 4, 4)
    maps[0, 1, 1] = 1.0009  # float32 1.00090003; its nearest float16 is 1.0009766
    threshold = torch.tensor(1.0, dtype=torch.float16)
    result = bbox_accuracy(images, maps, [[(1, 1, 2, 2)]], threshold=threshold)
    assert result.details["boxes"] == [(1, 1, 2, 2)]
    assert result.values.tolist() == [1.0]


@pytest.mark.parametrize("threshold", ["half", None, True, float("nan")])
def test_a_threshold_that_is_not_a_number_in_the_unit_interval_is_refused(threshold) -> None:
    """Text, None, a bool or NaN is not a threshold: refused with the argument's name, rather
    than a bare error from float() or a comparison that is always false."""
    maps = torch.zeros(1, 4, 4)
    with pytest.raises(FaithcamValueError) as caught:
        bbox_accuracy(torch.zeros(1, 3, 4, 4), maps, [[(1, 1, 2, 2)]], threshold=threshold)
    assert str(caught.value) == f"threshold must be in (0, 1], got {threshold!r}"


def test_max_sensitivity_draws_float64_noise_for_float64_images() -> None:
    """Seed 20261224 (robustness ``_draw`` 4): the noise δ ~ U[−r, r] is drawn in the images'
    dtype from the generator, sample by sample. With the identity as explanation Φ(x) = x,
    ‖Φ(x + δ) − Φ(x)‖ = ‖δ‖; here recomputed from the same seed with float64 draws (float32
    draws take other bits of the stream and give other values)."""
    images = torch.tensor([[[[0.1, 0.7], [0.3, 0.9]]]], dtype=torch.float64)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2)).double()

    def identity(batch, targets):
        return batch[:, 0]

    result = max_sensitivity(
        model, images, images[:, 0], 0, identity, radius=0.2, samples=3, relative=False,
        generator=torch.Generator().manual_seed(5),
    )  # fmt: skip
    stream = torch.Generator().manual_seed(5)
    norms = [
        ((2 * torch.rand(1, 1, 2, 2, generator=stream, dtype=torch.float64) - 1) * 0.2).norm()
        for _ in range(3)
    ]
    assert result.values.dtype == torch.float64
    torch.testing.assert_close(result.values, torch.stack(norms).max()[None], rtol=1e-12, atol=0)
