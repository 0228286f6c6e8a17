"""The metric registry: every registered metric runs in evaluate with its declared range,
direction and options; every interval stays inside its metric's range, also on adversarial
values; a user's metric registered with one call works in evaluate and run_study."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import faithcam
from faithcam.cli.main import build_parser
from faithcam.engine.defaults import BATCH_SIZE, CURVE_STEPS
from faithcam.errors import FaithcamTypeError, FaithcamValueError
from faithcam.metrics import (
    METRICS,
    MetricResult,
    deletion,
    evaluate,
    metric_bounds,
    metric_spec,
    register_metric,
)
from faithcam.studies import run_study
from tests.metrics.metric_models import seeded, tiny_classifier

REGISTERED = sorted(METRICS)  # the built-in metrics, read before any test registers one
BOXES = [[(0, 0, 6, 6)], [(3, 3, 9, 9)], [(6, 6, 12, 12)], [(0, 6, 6, 12)]]
# Small settings so that every metric runs in a fraction of a second.
QUICK = {
    "deletion": {"curve_steps": 4},
    "insertion": {"curve_steps": 4},
    "road_morf": {"percentages": [30, 70], "seed": 0},
    "road_lerf": {"percentages": [30, 70], "seed": 0},
    "infidelity": {"samples": 4, "seed": 0},
    "max_sensitivity": {"samples": 2, "seed": 0},
    "model_randomization": {"layers": ["4"]},
}


def model_and_images() -> tuple[nn.Module, torch.Tensor]:
    return tiny_classifier(), seeded(4, 3, 12, 12, seed=1)


def saliency(model: nn.Module, images: torch.Tensor, method: str, targets) -> torch.Tensor:
    """|∂y_c/∂x| summed over channels: a deterministic explain function of (images, targets)."""
    x = images.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x).gather(1, targets[:, None]).sum(), x)
    return grad.abs().sum(1) + 1e-3


@pytest.fixture
def user_metric():
    """Register ``map_share`` for one test; the registry is restored afterwards."""
    before = dict(METRICS)

    def map_share(model, images, maps, targets, *, corner: int = 6):
        """Share of the map's mass in the top-left corner (one value per image)."""
        return maps[:, :corner, :corner].sum((1, 2)) / maps.sum((1, 2)).clamp_min(1e-12)

    yield register_metric("map_share", map_share, direction="higher", bounds=(0.0, 1.0))
    METRICS.clear()
    METRICS.update(before)


# ----------------------------------------------------------------------------- every metric
@pytest.mark.parametrize("name", REGISTERED)
def test_every_registered_metric_runs_in_evaluate_inside_its_range(name: str) -> None:
    model, images = model_and_images()
    spec = METRICS[name]
    table = evaluate(
        model, images, ["saliency"], [name], boxes=BOXES, explain=saliency,
        metric_kwargs={name: QUICK.get(name, {})},
    )  # fmt: skip
    (row,) = table
    result = table.results[("saliency", name)]
    assert row["metric"] == name and row["n"] == 4
    assert result.name == name  # the metric names its own result (seed 20261223)
    assert result.values.dtype == torch.float64  # every metric's values (seed 20261225)
    assert result.bounds == spec.range(QUICK.get(name, {}))
    low, high = spec.range(QUICK.get(name, {})) or (-math.inf, math.inf)
    assert low <= float(result.values.min()) and float(result.values.max()) <= high
    assert low <= row["ci_low"] <= row["mean"] <= row["ci_high"] <= high
    assert spec.direction in ("higher", "lower") and spec.citation


@pytest.mark.parametrize("name", REGISTERED)
def test_every_registered_metric_is_documented(name: str) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
    assert f"| `{name}` | {METRICS[name].direction} |" in docs.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", REGISTERED)
def test_every_registered_metric_declares_its_options_and_inputs(name: str) -> None:
    spec = METRICS[name]
    assert set(QUICK.get(name, {})) <= set(spec.options)
    parameters = list(inspect.signature(spec.fn).parameters)
    inputs = ["images", "maps", "boxes"] if spec.needs_boxes else ["model", "images", "maps"]
    assert parameters[: len(inputs)] == inputs
    if "batch_size" in spec.options:
        assert spec.options["batch_size"] == BATCH_SIZE, "one batch size everywhere"
    if spec.uses_black_substrate:
        assert "normalization" in spec.options


@pytest.mark.parametrize("name", [m for m in REGISTERED if METRICS[m].uses_black_substrate])
def test_evaluate_makes_black_pixel_black_where_the_registry_says_so(name: str) -> None:
    """evaluate passes normalization= to the metrics that replace pixels by black (forgetting
    one would silently use the input 0): the table equals the direct call with it."""
    model, images = model_and_images()
    norm = ((0.4, 0.5, 0.6), (0.2, 0.25, 0.3))
    black = {"substrate": "black"} if "substrate" in METRICS[name].options else {}
    options = {**QUICK.get(name, {}), **black}
    table = evaluate(
        model, images, ["saliency"], [name], explain=saliency, metric_kwargs={name: options},
        normalization=norm,
    )  # fmt: skip
    targets = model(images).argmax(1)
    maps = saliency(model, images, "saliency", targets)
    direct = METRICS[name].fn(model, images, maps, targets, normalization=norm, **options)
    without = METRICS[name].fn(model, images, maps, targets, **options)
    got = table.results[("saliency", name)]
    torch.testing.assert_close(got.values, direct.values)
    scored = [k for k in ("curves", "masked") if k in direct.details]
    assert scored
    for key in scored:  # the scores of the perturbed images: pixel black is not the input 0
        torch.testing.assert_close(got.details[key], direct.details[key])
        assert not torch.equal(direct.details[key], without.details[key]), key


# ----------------------------------------------------------------------------- intervals
def _adversarial_samples(bounds: tuple[float, float] | None) -> list[torch.Tensor]:
    """Values piled at a bound, two-valued rates, tiny samples, heavy tails, NaN gaps."""
    low, high = bounds or (-1e6, 1e6)
    top = high if math.isfinite(high) else 1e6
    span = top - low
    near = [low, low, low, low + 0.9 * span]
    return [
        torch.tensor(v, dtype=torch.float64)
        for v in (
            near,
            [top, top, top, low + 0.1 * span],
            [low, low, top],  # a rate: Wilson
            [low, top],
            [low, low, low],
            [top, top, top],
            [low + 1e-9 * span, low, low, low, low, math.nan, top],
            [low + 0.5 * span, low + 0.5 * span],
        )
    ]


@pytest.mark.parametrize("name", REGISTERED)
def test_every_interval_stays_inside_its_metric_range_on_adversarial_values(name: str) -> None:
    bounds = metric_bounds(name)
    for values in _adversarial_samples(bounds):
        result = MetricResult(name, values, bounds=bounds)
        low, high = result.ci
        lo, hi = bounds or (-math.inf, math.inf)
        assert lo <= low <= result.mean <= high <= hi, (name, values.tolist(), (low, high))


def test_the_issues_intervals_now_stay_in_range() -> None:
    """Issue 26: Increase in Confidence [-110.1, 176.8] % (0, 0, 100 with Student's t);
    issue 23: infidelity below 0."""
    rate = torch.tensor([0.0, 0.0, 100.0], dtype=torch.float64)
    student = MetricResult("increase_in_confidence", rate).ci
    assert student == pytest.approx((-110.1, 176.8), abs=0.05)
    low, high = MetricResult("x", rate, bounds=metric_bounds("increase_in_confidence")).ci
    assert 0 <= low < 100 / 3 < high <= 100
    tail = torch.tensor([0.01, 0.02, 0.01, 40.0], dtype=torch.float64)
    assert MetricResult("infidelity", tail).ci_low < 0
    assert MetricResult("infidelity", tail, bounds=metric_bounds("infidelity")).ci_low >= 0


def test_bounds_follow_the_score_option_and_the_target() -> None:
    assert metric_bounds("deletion") == (0.0, 1.0)
    assert metric_bounds("deletion", {"score": "logit"}) is None
    assert metric_bounds("average_drop") == (0.0, 100.0)
    assert metric_bounds("road_morf") == (0.0, 1.0)
    assert metric_bounds("road_morf", {"score": "logit"}) is None
    assert metric_bounds("model_randomization") == (-1.0, 1.0)
    assert metric_bounds("model_randomization", {"absolute": True}) == (0.0, 1.0)
    model, images = model_and_images()
    maps = torch.rand(4, 12, 12)
    assert deletion(model, images, maps, faithcam.ClassLogit(1), curve_steps=3).bounds is None
    assert deletion(model, images, maps, 1, curve_steps=3).bounds == (0.0, 1.0)


# ----------------------------------------------------------------------------- defaults
def test_one_set_of_defaults_for_the_api_and_the_cli() -> None:
    evaluate_args = build_parser().parse_args(["evaluate", "folder", "--model", "m"])
    assert evaluate_args.curve_steps == CURVE_STEPS == 100
    assert evaluate_args.batch_size == BATCH_SIZE
    model, images = model_and_images()
    images = images[..., :10, :10]  # 100 pixels: one per step
    fraction = deletion(model, images, torch.rand(4, 10, 10)).details["fraction"]
    assert len(fraction) == CURVE_STEPS + 1
    for fn in (faithcam.explain, evaluate, run_study):
        assert inspect.signature(fn).parameters["batch_size"].default == BATCH_SIZE, fn


# ----------------------------------------------------------------------------- user metrics
def test_a_registered_metric_works_in_evaluate(user_metric) -> None:
    model, images = model_and_images()
    table = evaluate(
        model, images, ["saliency"], ["map_share", "deletion"], explain=saliency,
        metric_kwargs={"map_share": {"corner": 4}, "deletion": {"curve_steps": 3}},
    )  # fmt: skip
    result = table.results[("saliency", "map_share")]
    targets = model(images).argmax(1)
    maps = saliency(model, images, "saliency", targets)
    expected = maps[:, :4, :4].sum((1, 2)) / maps.sum((1, 2))  # no zero map here
    torch.testing.assert_close(result.values, expected.double())
    assert result.bounds == (0.0, 1.0) and result.name == "map_share"
    assert user_metric.options == {"corner": 6} and metric_spec("map_share") is user_metric


def test_a_registered_metric_is_not_given_the_normalization_unless_it_asks(user_metric) -> None:
    """Seed 20261224: ``uses_black_substrate`` is False by default, so evaluate's
    ``normalization=`` (for the metrics that paint pixel black) does not reach a user metric
    that has no such option; the value is the same as without it."""
    assert user_metric.uses_black_substrate is False
    model, images = model_and_images()
    norm = ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    plain, normalized = (
        evaluate(model, images, ["saliency"], ["map_share"], explain=saliency, **extra)
        for extra in ({}, {"normalization": norm})
    )
    torch.testing.assert_close(
        normalized.results[("saliency", "map_share")].values,
        plain.results[("saliency", "map_share")].values,
    )


def test_a_registered_metric_works_in_run_study(user_metric, tmp_path) -> None:
    from tests.studies.study_setup import ToyShapes, toy_model

    rows = run_study(
        toy_model(), ToyShapes(n=5), ["gradcam"], ["map_share"], tmp_path / "s.sqlite",
        batch_size=2, progress=False,
    )  # fmt: skip
    (row,) = rows
    assert row["metric"] == "map_share" and row["n"] == 5
    assert 0 <= row["ci_low"] <= row["mean"] <= row["ci_high"] <= 1


def test_registering_checks_its_arguments(user_metric) -> None:
    def fn(model, images, maps, targets):
        return maps.mean((1, 2))

    with pytest.raises(FaithcamValueError, match="already registered"):
        register_metric("map_share", fn, direction="higher")
    with pytest.raises(FaithcamValueError, match="direction: expected 'higher' or 'lower'"):
        register_metric("other", fn, direction="up")
    with pytest.raises(FaithcamValueError, match="bounds: expected low < high"):
        register_metric("other", fn, direction="lower", bounds=(1.0, 0.0))
    with pytest.raises(FaithcamTypeError, match="fn: expected the metric function"):
        register_metric("other", 3, direction="lower")
    assert "other" not in METRICS


def test_unknown_metric_options_are_named_before_any_work(user_metric) -> None:
    model, images = model_and_images()
    calls = []

    def spy(*args):
        calls.append(args)
        return saliency(*args)

    with pytest.raises(FaithcamValueError, match=r"unknown option\(s\) \['corners'\].*corner"):
        evaluate(model, images, ["s"], ["map_share"], explain=spy,
                 metric_kwargs={"map_share": {"corners": 2}})  # fmt: skip
    with pytest.raises(FaithcamValueError, match=r"\['stepz'\] for metric 'deletion'"):
        evaluate(model, images, ["s"], ["deletion"], explain=spy,
                 metric_kwargs={"deletion": {"stepz": 2}})  # fmt: skip
    assert calls == []


def test_a_user_metric_returning_the_wrong_count_is_named(user_metric) -> None:
    register_metric(
        "broken", lambda model, images, maps, targets: maps[:1].mean((1, 2)), direction="lower"
    )
    model, images = model_and_images()
    with pytest.raises(FaithcamValueError, match="metric 'broken' returned 1 values for 4"):
        evaluate(model, images, ["s"], ["broken"], explain=saliency)
