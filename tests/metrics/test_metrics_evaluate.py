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
               "max_sensitivity", "model_randomization", "average_drop"]  # fmt: skip
    table = evaluate(
        model, images, methods=["saliency", "random"], metrics=metrics, boxes=BOXES,
        explain=toy_explain,
        metric_kwargs={"deletion": {"curve_steps": 8}, "insertion": {"curve_steps": 8},
                       "road_morf": {"percentages": [20, 60]},
                       "max_sensitivity": {"samples": 3}},
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


def test_evaluate_numbers_equal_direct_metric_calls():
    """Every deterministic metric of the table equals the metric called directly on the same
    maps and targets (so a mis-wired order, substrate or keyword in evaluate shows)."""
    from faithcam.metrics import (
        average_drop,
        bbox_accuracy,
        deletion,
        energy_pointing_game,
        increase_in_confidence,
        infidelity,
        insertion,
        pointing_game,
        road,
    )

    model, images = model_and_images()
    targets = model(images).argmax(1)
    kwargs = {
        "deletion": {"curve_steps": 8, "substrate": "blur", "score": "logit"},
        "insertion": {"curve_steps": 8},
        "road_morf": {"percentages": [20, 60], "seed": 0, "score": "logit"},
        "road_lerf": {"percentages": [20, 60], "seed": 0, "score": "logit"},
        "infidelity": {"samples": 4, "seed": 0},
    }
    direct = {
        "deletion": lambda m: deletion(model, images, m, targets, **kwargs["deletion"]),
        "insertion": lambda m: insertion(model, images, m, targets, **kwargs["insertion"]),
        "average_drop": lambda m: average_drop(model, images, m, targets),
        "increase_in_confidence": lambda m: increase_in_confidence(model, images, m, targets),
        "road_morf": lambda m: road(model, images, m, targets, order="morf", **kwargs["road_morf"]),
        "road_lerf": lambda m: road(model, images, m, targets, order="lerf", **kwargs["road_lerf"]),
        "infidelity": lambda m: infidelity(model, images, m, targets, **kwargs["infidelity"]),
        "pointing_game": lambda m: pointing_game(images, m, BOXES),
        "energy_pointing_game": lambda m: energy_pointing_game(images, m, BOXES),
        "bbox_accuracy": lambda m: bbox_accuracy(images, m, BOXES),
    }
    table = evaluate(
        model, images, ["saliency", "random"], list(direct), boxes=BOXES, explain=toy_explain,
        metric_kwargs=kwargs,
    )  # fmt: skip
    for method in ("saliency", "random"):
        maps = toy_explain(model, images, method, targets)
        for metric, call in direct.items():
            got = table.results[(method, metric)].values
            torch.testing.assert_close(got, call(maps).values, msg=f"{method} {metric}")
    morf = table.results[("saliency", "road_morf")].values
    lerf = table.results[("saliency", "road_lerf")].values
    assert not torch.allclose(morf, lerf)  # the two orders differ, so a swap would show


def test_blur_substrate_really_blurs():
    """The deletion curve ends (and the insertion curve starts) at the score of the fully
    blurred image; the reference blur is scipy's Gaussian filter (σ = 5, radius 5, mirror)."""
    from scipy.ndimage import gaussian_filter

    from faithcam.metrics import deletion, insertion

    model, images = model_and_images()
    blurred = torch.from_numpy(
        gaussian_filter(images.double().numpy(), sigma=(0, 0, 5, 5), truncate=1.0, mode="mirror")
    ).float()
    assert (blurred - images).abs().max() > 0.1
    with torch.no_grad():
        expected = model(blurred)[:, 0].double()
        original = model(images)[:, 0].double()
    maps = torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(2))
    kw = {"curve_steps": 4, "score": "logit", "substrate": "blur"}
    curves = deletion(model, images, maps, 0, **kw).details["curves"]
    torch.testing.assert_close(curves[:, -1], expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(curves[:, 0], original, rtol=1e-4, atol=1e-5)
    curves = insertion(model, images, maps, 0, **kw).details["curves"]
    torch.testing.assert_close(curves[:, 0], expected, rtol=1e-4, atol=1e-5)
