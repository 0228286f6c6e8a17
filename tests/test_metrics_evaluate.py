"""faithcam.metrics.evaluate: several methods x several metrics -> tidy table."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from faithcam.errors import FaithcamTypeError, FaithcamValueError
from faithcam.metrics import METRICS, evaluate


def model_and_images():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        nn.Linear(16, 3),
    ).eval()  # fmt: skip
    return model, torch.rand(3, 3, 12, 12)


def toy_explain(model, images, method, targets):
    if method == "saliency":
        x = images.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(model(x).gather(1, targets[:, None]).sum(), x)
        return g.abs().sum(1)
    gen = torch.Generator().manual_seed(0)
    return torch.rand(images.shape[0], *images.shape[2:], generator=gen)


BOXES = [[(0, 0, 6, 6)], [(3, 3, 9, 9)], [(6, 6, 12, 12)]]


def test_table_rows_and_pandas():
    model, images = model_and_images()
    metrics = ["deletion", "insertion", "pointing_game", "energy_pointing_game", "road_morf",
               "max_sensitivity", "model_randomisation", "average_drop"]  # fmt: skip
    table = evaluate(
        model, images, methods=["saliency", "random"], metrics=metrics, boxes=BOXES,
        explain=toy_explain,
        metric_kwargs={"deletion": {"steps": 8}, "insertion": {"steps": 8},
                       "road_morf": {"percentages": [20, 60]},
                       "max_sensitivity": {"n_samples": 3}},
    )  # fmt: skip
    assert len(table) == 16
    assert set(table[0]) == {"method", "metric", "mean", "ci_low", "ci_high", "n"}
    assert [(r["method"], r["metric"]) for r in table[:2]] == [
        ("saliency", "deletion"),
        ("saliency", "insertion"),
    ]
    assert all(r["n"] == 3 for r in table)
    assert table.results[("random", "deletion")].values.shape == (3,)
    pytest.importorskip("pandas")
    frame = table.to_pandas()
    assert list(frame.columns) == ["method", "metric", "mean", "ci_low", "ci_high", "n"]
    assert "saliency" in repr(table)


def test_unknown_metric_lists_valid_names():
    model, images = model_and_images()
    with pytest.raises(FaithcamValueError, match=r"unknown metric names \['delete'\]; valid names"):
        evaluate(model, images, ["random"], ["delete"], explain=toy_explain)
    with pytest.raises(FaithcamValueError, match="bbox_accuracy"):
        evaluate(model, images, ["random"], ["nope"], explain=toy_explain)


def test_boxes_checked_before_any_work():
    model, images = model_and_images()
    calls = []

    def spy(*args):
        calls.append(args)
        return toy_explain(*args)

    with pytest.raises(FaithcamValueError, match="need ground-truth boxes"):
        evaluate(model, images, ["random"], ["pointing_game"], explain=spy)
    with pytest.raises(FaithcamValueError, match="empty box list"):
        evaluate(model, images, ["random"], ["pointing_game"], boxes=[[], [], []], explain=spy)
    with pytest.raises(FaithcamTypeError, match="methods must be a non-empty list"):
        evaluate(model, images, [], ["deletion"], explain=spy)
    assert calls == []


def test_registry_names():
    assert {"deletion", "insertion", "road_lerf", "infidelity", "bbox_accuracy"} <= set(METRICS)
