"""Confidence intervals of bounded metrics stay inside [0, 1] (Wilson for hit rates, the
seeded percentile bootstrap otherwise); unbounded metrics keep Student's t."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from faithcam.metrics import MetricResult, deletion, pointing_game
from faithcam.metrics._common import bootstrap_interval, t_quantile_975, wilson_interval
from faithcam.metrics.evaluate import metric_bounds
from tests.helpers import GapLinearNet


@pytest.mark.parametrize(("hits", "n"), [(0, 4), (3, 4), (4, 4), (7, 20), (1, 2)])
def test_wilson_matches_scipy(hits: int, n: int) -> None:
    reference = stats.binomtest(hits, n).proportion_ci(confidence_level=0.95, method="wilson")
    np.testing.assert_allclose(wilson_interval(hits, n), (reference.low, reference.high), atol=1e-6)


def test_hit_rate_interval_is_wilson_inside_unit_interval() -> None:
    result = MetricResult("pointing_game", torch.tensor([1.0, 1.0, 1.0, 0.0]), bounds=(0.0, 1.0))
    assert result.ci == pytest.approx(wilson_interval(3, 4))
    student = MetricResult("x", result.values).ci
    assert student[1] > 1  # what the t interval would have said
    assert 0 <= result.ci_low <= result.mean <= result.ci_high <= 1


def test_bootstrap_interval_of_a_skewed_deletion_sample() -> None:
    # the case: 4 photos, deletion 0.159 [-0.209, 0.527] with Student's t
    values = torch.tensor([0.02, 0.05, 0.55, 0.02], dtype=torch.float64)
    bounded = MetricResult("deletion", values, bounds=(0.0, 1.0))
    assert MetricResult("deletion", values).ci_low < 0
    low, high = bounded.ci
    assert values.min() <= low <= bounded.mean <= high <= values.max()
    assert bounded.ci == bootstrap_interval(values)  # seeded: the same every time
    # the bootstrap means, enumerated exactly: 4^4 equally likely resamples
    grid = np.array(np.meshgrid(*[values.numpy()] * 4)).reshape(4, -1).mean(0)
    exact = np.quantile(grid, [0.025, 0.975])
    np.testing.assert_allclose((low, high), exact, atol=0.03)


def test_bootstrap_agrees_with_student_t_on_large_samples() -> None:
    values = torch.rand(400, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    low, high = MetricResult("insertion", values, bounds=(0.0, 1.0)).ci
    half = t_quantile_975(399) * values.std().item() / math.sqrt(400)
    assert abs((high - low) / 2 - half) < 0.1 * half


def test_metrics_declare_their_bounds() -> None:
    torch.manual_seed(0)
    model = GapLinearNet().eval()
    images = torch.rand(3, 3, 16, 16)
    maps = torch.rand(3, 16, 16)
    assert deletion(model, images, maps, curve_steps=4).bounds == (0.0, 1.0)
    assert deletion(model, images, maps, curve_steps=4, score="logit").bounds is None
    boxes = [[(0, 0, 8, 8)]] * 3
    assert pointing_game(images, maps, boxes).bounds == (0.0, 1.0)
    assert metric_bounds("deletion") == (0.0, 1.0)
    assert metric_bounds("deletion", {"score": "logit"}) is None
    assert metric_bounds("infidelity") == (0.0, math.inf)  # a squared error: never negative


def test_study_summary_intervals_and_progress_per_image_and_method(tmp_path, capsys) -> None:
    from faithcam.studies.study import run_study
    from tests.studies.study_setup import METHODS, METRIC_KWARGS, METRICS, ToyShapes, toy_model

    rows = run_study(
        toy_model(),
        ToyShapes(n=6),
        METHODS,
        METRICS,
        tmp_path / "s.sqlite",
        batch_size=4,
        metric_kwargs=METRIC_KWARGS,
        progress=True,
    )
    for row in rows:  # deletion (probabilities) and pointing game are both bounded
        assert 0 <= row["ci_low"] <= row["mean"] <= row["ci_high"] <= 1, row
    err = capsys.readouterr().err
    assert f"/{6 * len(METHODS)}" in err  # one step per image and method
    assert all(f"evaluate {m}" in err for m in METHODS)
