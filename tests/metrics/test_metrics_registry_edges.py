"""The metric registry and the metrics' targets at their edges: deprecated option names, a user
metric's bounds, bounds that follow options, class ids out of range or boolean, repeated classes
(issue 25: the edge cases behind the hand-written mutants of metrics/registry.py and
metrics/scoring.py). Expected values are read off the documented contracts."""

from __future__ import annotations

import math

import pytest
import torch

from faithcam.engine.targets import MultiLabel
from faithcam.errors import FaithcamValueError
from faithcam.metrics.registry import METRICS, metric_bounds, metric_spec, register_metric
from faithcam.metrics.scoring import metric_target, target_scores


def test_a_deprecated_option_name_is_renamed_with_a_warning() -> None:
    with pytest.warns(Warning, match="tolerance"):
        options = metric_spec("pointing_game").check_options({"tolerance": 2}, "evaluate")
    assert options == {"radius": 2}


@pytest.fixture
def edge_metric():
    spec = register_metric("edge_metric", lambda model, images, maps, targets: [0.5] * len(images),
                           direction="higher", bounds=(0.0, 1.0))  # fmt: skip
    yield spec
    METRICS.pop("edge_metric")


def test_a_user_metric_returning_values_keeps_its_bounds(edge_metric) -> None:
    result = edge_metric.as_result([0.5, 0.25], 2, {})
    assert result.bounds == (0.0, 1.0)
    assert result.values.tolist() == [0.5, 0.25]


def test_bounds_follow_the_score_option() -> None:
    assert metric_bounds("deletion") == (0.0, 1.0)
    assert metric_bounds("deletion", {"score": "logit"}) is None
    assert metric_bounds("average_drop", {"score": "logit"}) is None
    assert metric_bounds("road_morf", {"score": "probability"}) == (0.0, 1.0)


def test_model_randomization_bounds_follow_absolute() -> None:
    assert metric_bounds("model_randomization") == (-1.0, 1.0)
    assert metric_bounds("model_randomization", {"absolute": True}) == (0.0, 1.0)


def test_a_renamed_metric_name_cannot_be_registered() -> None:
    with pytest.raises(FaithcamValueError, match="'model_randomisation' is already registered"):
        register_metric("model_randomisation", lambda *a: [0.0], direction="lower")
    assert "model_randomisation" not in METRICS


@pytest.mark.parametrize("bounds", [(1.0, 1.0), (2.0, 1.0), (math.inf, math.inf)])
def test_empty_bounds_are_refused(bounds) -> None:
    with pytest.raises(FaithcamValueError, match="bounds: expected low < high"):
        register_metric("edge_bounds", lambda *a: [0.0], direction="lower", bounds=bounds)
    assert "edge_bounds" not in METRICS


def test_a_class_id_equal_to_the_class_count_is_refused() -> None:
    logits = torch.zeros(2, 3)
    with pytest.raises(FaithcamValueError, match=r"class ids in \[0, 2\], got min 0, max 3"):
        target_scores(logits, torch.tensor([3, 0]), "logit")


def bind(targets, score=None):
    images = torch.rand(2, 3, 4, 4)
    return metric_target(targets, images, lambda: torch.zeros(2, 3), score=score,
                         default="probability", metric="deletion")  # fmt: skip


def test_boolean_targets_are_not_class_ids() -> None:
    with pytest.raises(FaithcamValueError, match="targets must be None, an int, or 2 integer"):
        bind(torch.tensor([True, False]))


def test_repeated_classes_of_a_probability_target_sum_up_to_their_count() -> None:
    """softmax p_1 + p_1 can reach 2; distinct classes' probabilities sum to at most 1."""
    assert bind(MultiLabel([[1, 1], [0, 2]], score="probability")).bounds == (0.0, 2.0)
    assert bind(MultiLabel([[1, 0], [0, 2]], score="probability")).bounds == (0.0, 1.0)


def test_score_option_applies_to_plain_class_ids() -> None:
    assert bind([0, 1], score="logit").score == "logit"
    assert bind([0, 1]).score == "probability"
    assert bind([0, 1], score="logit").bounds is None


def test_a_registered_metric_knows_the_old_names_of_its_options() -> None:
    """Seed 20261216: a metric function decorated with ``renamed_keywords`` is registered with
    its old option names as aliases, and ``check_options`` moves them to the new ones."""
    from faithcam.engine.deprecation import renamed_keywords
    from tests.helpers import warnings_of

    @renamed_keywords(steps="curve_steps")
    def stepped(model, images, maps, targets, curve_steps=5):
        return [float(curve_steps)] * len(images)

    spec = register_metric("edge_renamed", stepped, direction="higher")
    try:
        assert dict(spec.aliases) == {"steps": "curve_steps"}
        assert dict(spec.options) == {"curve_steps": 5}
        renamed = warnings_of(lambda: spec.check_options({"steps": 3}, "metric_kwargs"))[0]
        assert renamed == {"curve_steps": 3}
    finally:
        METRICS.pop("edge_renamed", None)


def test_an_unseeded_stochastic_metric_gets_a_seed_from_the_whole_62_bit_range() -> None:
    """Seed 20261216: a metric given neither seed nor generator gets one seed drawn from
    [0, 2**62) of torch's global RNG: ten draws are ten different seeds, not all below 2**32."""
    from faithcam.metrics.evaluate import common_random_numbers

    spec = metric_spec("infidelity")
    seeds = []
    with torch.random.fork_rng():  # the global RNG is left as it was for the tests after
        torch.manual_seed(0)
        for _ in range(10):
            options = {"infidelity": {}}
            assert common_random_numbers([spec], options) == {}
            seeds.append(options["infidelity"]["seed"])
    assert len(set(seeds)) == 10 and max(seeds) >= 2**32
    assert all(0 <= seed < 2**62 for seed in seeds)
