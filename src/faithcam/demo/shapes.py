"""The ShapesBench section of ``faithcam demo``: every demo method on the bundled models,
scored against exact ground truth.

For each bundled model, a seeded batch of ShapesBench test images is explained for its true
class with the methods of :func:`faithcam.demo.settings.demo_methods`, then scored with
the localisation metrics against the known mechanism (the target object's box on the clean
split, the cue patch's box on the spurious split) and with the model-based faithfulness
metrics. The report gets an overlay grid, a metric table with 95 % confidence intervals,
deletion curves and a per-method ranking (mean rank over the metrics).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from faithcam import metrics
from faithcam.api import explain
from faithcam.data.models import ShapesModel, bundled_models, load_shapes_model
from faithcam.data.shapes import CLASSES, ShapesBench, mask_boxes
from faithcam.demo.settings import demo_methods, demo_options
from faithcam.io.report import Report
from faithcam.metrics import MetricResult
from faithcam.viz import curves_plot, method_grid

SECTION_SEED = 20_000  # disjoint from the training and test seeds of train_shapes.py
CURVE_STEPS = 16
ROAD_PERCENTAGES = (20, 50, 80)
LAYER_NOTES = {
    "vgg": "The head after this layer is flatten + linear: HiResCAM is exactly each location's "
    "contribution to the logit, and the gradient is the same for every input, so Integrated and "
    "Expected Grad-CAM differ from Grad-CAM only through the baseline's activations "
    "(A − A' in place of A).",
    "resnet": "Explained one block before the GAP + linear head (there every gradient method "
    "would equal CAM); the rest of the network is non-linear, so the estimators differ.",
}
PATH_METHODS = ("integrated-gradcam", "expected-gradcam")
COINCIDE = 1e-3  # maps in [0, 1] closer than this are called the same


def layer_note(arch: str, maps: dict[str, Tensor]) -> str:
    """The section's note on the layer, with what the maps shown actually do: the largest
    difference between each path method's maps and Grad-CAM's, measured, never assumed."""
    note = LAYER_NOTES[arch]
    if "gradcam" not in maps:
        return note
    gaps = {
        m: float((maps[m] - maps["gradcam"]).abs().max()) for m in PATH_METHODS if m in maps
    }
    same = [m for m, gap in gaps.items() if gap < COINCIDE]
    other = [f"{m} by up to {gap:.2f}" for m, gap in gaps.items() if gap >= COINCIDE]
    parts = []
    if same:
        parts.append(f"{' and '.join(same)} coincide with Grad-CAM here (maps within {COINCIDE})")
    if other:
        parts.append(f"the maps differ from Grad-CAM's here: {', '.join(other)} (maps in [0, 1])")
    return f"{note} Measured: {'; '.join(parts)}." if parts else note


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    higher_is_better: bool
    percent: bool = False


METRIC_COLUMNS = (
    Metric("ebpg", "EBPG ↑", True),
    Metric("pointing_game", "pointing game ↑", True),
    Metric("bbox_accuracy", "bbox acc. ↑", True),
    Metric("average_drop", "Avg. Drop % ↓", False, percent=True),
    Metric("increase_in_confidence", "Inc. Conf. % ↑", True, percent=True),
    Metric("deletion", "deletion ↓", False),
    Metric("insertion", "insertion ↑", True),
    Metric("road", "ROAD MoRF ↓", False),
)


def _score(
    model: torch.nn.Module, images: Tensor, maps: Tensor, labels: Tensor, boxes: list
) -> dict[str, MetricResult]:
    """The metric suite for one method's maps (boxes: one ``[(x0, y0, x1, y1)]`` per image)."""
    return {
        "ebpg": metrics.energy_pointing_game(images, maps, boxes),
        "pointing_game": metrics.pointing_game(images, maps, boxes),
        "bbox_accuracy": metrics.bbox_accuracy(images, maps, boxes),
        "average_drop": metrics.average_drop(model, images, maps, labels),
        "increase_in_confidence": metrics.increase_in_confidence(model, images, maps, labels),
        "deletion": metrics.deletion(model, images, maps, labels, curve_steps=CURVE_STEPS),
        "insertion": metrics.insertion(model, images, maps, labels, curve_steps=CURVE_STEPS),
        "road": metrics.road(
            model, images, maps, labels, percentages=ROAD_PERCENTAGES, seed=0
        ),
    }


def _summary(result: MetricResult) -> dict[str, float]:
    return {"mean": result.mean, "ci_low": result.ci_low, "ci_high": result.ci_high}


def _cell(summary: dict[str, float], percent: bool) -> str:
    digits = 1 if percent else 3
    mean, low, high = summary["mean"], summary["ci_low"], summary["ci_high"]
    if math.isnan(low):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def rank_methods(scores: dict[str, dict[str, dict[str, float]]]) -> list[tuple[str, float]]:
    """Methods sorted by their mean rank over :data:`METRIC_COLUMNS` (1 = best; ties share the
    average rank), best first."""
    methods = list(scores)
    total = np.zeros(len(methods))
    for column in METRIC_COLUMNS:
        values = np.array([scores[m][column.key]["mean"] for m in methods])
        keys = -values if column.higher_is_better else values
        order = np.argsort(keys, kind="stable")
        ranks = np.empty(len(methods))
        ranks[order] = np.arange(1, len(methods) + 1)
        for value in np.unique(keys):  # average ranks of ties
            tied = keys == value
            ranks[tied] = ranks[tied].mean()
        total += ranks
    mean_rank = total / len(METRIC_COLUMNS)
    return sorted(zip(methods, mean_rank.tolist(), strict=True), key=lambda item: item[1])


def _ground_truth(bench: ShapesBench) -> tuple[Tensor, str]:
    """Masks of the mechanism the model should use, and its description."""
    if bench.split == "spurious":
        return bench.cue_masks, "the cue patch (the only label-predictive feature)"
    return bench.target_masks, "the target object"


def _explain_model(
    shapes_model: ShapesModel,
    n_images: int,
    out_dir: Path,
    report: Report,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    bench = ShapesBench(shapes_model.split, n_images, seed=SECTION_SEED)
    model, images, labels = shapes_model.model, bench.images, bench.labels
    truth, truth_text = _ground_truth(bench)
    boxes = [[box.tolist()] for box in mask_boxes(truth)]
    with torch.no_grad():
        accuracy = float((model(images).argmax(1) == labels).double().mean())
    scores: dict[str, dict[str, dict[str, float]]] = {}
    maps: dict[str, Tensor] = {}
    curves: dict[str, np.ndarray] = {}
    fraction = None
    for method in demo_methods():
        start = time.perf_counter()
        result = explain(
            model, images, method, targets=labels, layer=shapes_model.layer, seed=0,
            **demo_options(method, images),
        )  # fmt: skip
        seconds = (time.perf_counter() - start) / n_images
        maps[method] = result.maps
        results = _score(model, images, result.maps, labels, boxes)
        scores[method] = {key: _summary(value) for key, value in results.items()}
        scores[method]["seconds_per_image"] = {"mean": seconds}
        curves[method] = results["deletion"].details["curves"].mean(0).numpy()
        fraction = results["deletion"].details["fraction"].numpy()
        progress(f"{shapes_model.name}: {method}")
    ranking = rank_methods(scores)
    _write_section(
        report, shapes_model, bench, truth, truth_text, accuracy, maps, scores, ranking, out_dir
    )
    report.image(
        curves_plot(
            curves, fraction, out_dir / f"shapes-{shapes_model.name}-deletion.png",
            f"{shapes_model.name}: deletion",
        ),
        f"{shapes_model.name} deletion curves",
    )  # fmt: skip
    return {
        "accuracy": accuracy,
        "layer": shapes_model.layer,
        "ground_truth": truth_text,
        "methods": scores,
        "ranking": ranking,
    }


def _write_section(
    report: Report,
    shapes_model: ShapesModel,
    bench: ShapesBench,
    truth: Tensor,
    truth_text: str,
    accuracy: float,
    maps: dict[str, Tensor],
    scores: dict[str, dict[str, dict[str, float]]],
    ranking: list[tuple[str, float]],
    out_dir: Path,
) -> None:
    name, n = shapes_model.name, len(bench)
    report.heading(f"ShapesBench: {name} (layer {shapes_model.layer})")
    report.paragraph(
        f"{n} seeded ShapesBench {bench.split} images (seed {SECTION_SEED}), explained for their "
        f"true class; model accuracy on them {accuracy:.1%}. Localisation metrics use the box "
        f"around {truth_text}. {layer_note(shapes_model.arch, maps)}"
    )
    for i in range(min(2, n)):
        panels = {"ground truth": truth[i].float(), **{m: maps[m][i] for m in maps}}
        label = CLASSES[int(bench.labels[i])]
        grid = method_grid(
            bench.images[i], panels, out_dir / f"shapes-{name}-{i}.png",
            title=f"{name}: image {i}, explaining '{label}'",
        )  # fmt: skip
        report.image(grid, f"{name} image {i}")
    report.table(
        ["method", *(c.label for c in METRIC_COLUMNS), "s / image"],
        [
            [method]
            + [_cell(scores[method][c.key], c.percent) for c in METRIC_COLUMNS]
            + [scores[method]["seconds_per_image"]["mean"]]
            for method in scores
        ],
        caption=f"{name}: mean [95 % CI] over {n} images; deletion to black, insertion from a "
        f"blurred copy ({CURVE_STEPS} steps); ROAD MoRF accuracy at {list(ROAD_PERCENTAGES)} %",
    )
    report.table(
        ["rank", "method", "mean rank"],
        [[i + 1, method, value] for i, (method, value) in enumerate(ranking)],
        caption=f"{name}: methods by mean rank over the {len(METRIC_COLUMNS)} metrics",
    )


def run_shapes_section(
    report: Report,
    out_dir: str | Path,
    progress: Callable[[str], None] | None = None,
    n_images: int = 32,
) -> dict[str, Any]:
    """Add the ShapesBench section to ``report`` (images written under ``out_dir``).

    ``progress(text)`` is called once per (model, method). Returns
    ``{"models": {name: {"accuracy", "layer", "ground_truth", "methods": {method: {metric:
    {"mean", "ci_low", "ci_high"}}}, "ranking": [(method, mean rank), ...]}}, "seconds": s}``.
    """
    out_dir = Path(out_dir)
    progress = progress or (lambda text: None)
    start = time.perf_counter()
    results = {}
    for arch, split in bundled_models():
        shapes_model = load_shapes_model(arch, split)
        results[shapes_model.name] = _explain_model(
            shapes_model, n_images, out_dir, report, progress
        )
    return {"models": results, "seconds": time.perf_counter() - start}


def markdown_table(section: dict[str, Any]) -> str:
    """The section's results as a README-ready markdown table (means only)."""
    header = ["model", "method", *(c.label for c in METRIC_COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, model in section["models"].items():
        for method, scores in model["methods"].items():
            cells = [f"{scores[c.key]['mean']:.{1 if c.percent else 3}f}" for c in METRIC_COLUMNS]
            lines.append("| " + " | ".join([name, method, *cells]) + " |")
    return "\n".join(lines)
