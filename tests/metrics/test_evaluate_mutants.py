"""Edge cases of issue 26's evaluate progress work, written after their semantic mutants
(scripts/semantic_mutants_catalogue.py, group ``owndata``). Expected values by hand: an image
x method is split into equal shares, one for the explanation and one per metric."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from faithcam.engine.progress import Progress
from faithcam.metrics import evaluate
from faithcam.metrics.evaluate import EVALUATION_UNIT, evaluation_work


def test_evaluation_work_prices_a_re_explaining_metric_per_method():
    """3 images, 2 metrics: each of the 3 tasks of an image x method is 3 / 3 = 1 unit.
    Deletion scores a given map, so its cost is one kind across methods (1 + 1 = 2);
    max-sensitivity explains again, so each method's share is a kind of its own."""
    work = evaluation_work(["a", "b"], ["deletion", "max_sensitivity"], 3)
    assert work == pytest.approx({
        "explain a": 1.0, "explain b": 1.0, "deletion": 2.0,
        "max_sensitivity a": 1.0, "max_sensitivity b": 1.0,
    })  # fmt: skip
    assert sum(work.values()) == pytest.approx(3 * 2)  # images x methods


def _maps(model, images, method, targets):
    return images.mean(1)


def test_evaluate_advances_its_reporter_by_images_times_methods():
    """Inside an active reporter (a study's), evaluate of 2 images x 2 methods x 2 metrics
    advances it by exactly 2 x 2 = 4 units: 3 tasks of 2 / 3 each per method."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(2, 3)).eval()  # fmt: skip
    images = torch.rand(2, 3, 8, 8)
    methods, metrics = ["m1", "m2"], ["deletion", "insertion"]
    work = evaluation_work(methods, metrics, len(images))
    with Progress(work, "evaluate", EVALUATION_UNIT, enabled=False, stream=io.StringIO()) as bar:
        evaluate(
            model,
            images,
            methods=methods,
            metrics=metrics,
            explain=_maps,
            metric_kwargs={"deletion": {"curve_steps": 2}, "insertion": {"curve_steps": 2}},
        )
    assert bar.done == pytest.approx(4.0)
    assert bar.total == pytest.approx(4.0)
    assert all(units == pytest.approx(0.0) for units in bar.remaining.values())
