"""report.html of `faithcam evaluate`: what the numbers mean, the methods ranked under each
metric's direction (from the metric registry), the deletion and insertion curves, the chosen
explanations drawn with their boxes and class names, and the settings as a table.

The "what this means" paragraph is generated from the same summary rows as the table
(:func:`interpretation`), so it cannot state a ranking the table contradicts.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faithcam.cli.commands import Session, predict
from faithcam.cli.evaluate_items import PREDICTED, EvalItem, FolderDataset
from faithcam.engine.progress import Progress
from faithcam.io.report import Report
from faithcam.viz import curves_plot, method_grid

ARROWS = {"higher": "↑", "lower": "↓"}
FEW = 30  # below this many explanations, a ranking is called provisional
TIE = 1e-6  # relative difference of two means below which they tie


@dataclass
class EvaluationRun:
    """What the report is made of: the session, the items, the summary rows (with
    ``images``), the store, the image folder, the protocol, the options and the output
    names of the items."""

    session: Session
    dataset: FolderDataset
    rows: list[dict[str, Any]]
    store: Path
    folder: Path
    mode: str | int
    args: argparse.Namespace
    stems: list[str]


# -- ranking and the words about it ------------------------------------------------------------
def directions(metrics: Sequence[str]) -> dict[str, str]:
    """Each metric's better direction, ``"higher"`` or ``"lower"``, from the registry."""
    from faithcam.metrics.registry import metric_spec

    return {m: metric_spec(m).direction for m in metrics}


def _by_metric(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        table.setdefault(row["metric"], {})[row["method"]] = row
    return table


def rank_methods(rows: Sequence[dict[str, Any]], direction: dict[str, str]) -> dict[str, list]:
    """Per metric, the methods best first (a method without a value, n = 0, last)."""
    ranking = {}
    for metric, by_method in _by_metric(rows).items():
        sign = -1.0 if direction[metric] == "higher" else 1.0

        def key(method: str, by_method=by_method, sign=sign) -> tuple[bool, float]:
            mean = by_method[method]["mean"]
            return (math.isnan(mean), sign * mean if not math.isnan(mean) else 0.0)

        ranking[metric] = sorted(by_method, key=key)
    return ranking


def places(rows: Sequence[dict[str, Any]], direction: dict[str, str]) -> dict[str, dict]:
    """Per metric, each method's place: 1 + the number of methods with a strictly better mean
    (ties share a place; a method without a value, n = 0, comes after every other)."""
    result = {}
    for metric, by_method in _by_metric(rows).items():
        sign = -1.0 if direction[metric] == "higher" else 1.0
        score = {
            m: math.inf if math.isnan(r["mean"]) else sign * r["mean"] for m, r in by_method.items()
        }
        result[metric] = {
            m: 1 + sum(o < v and not _same(o, v) for o in score.values())
            for m, v in score.items()
        }
    return result


def _same(a: float, b: float) -> bool:
    """Equal up to float rounding (maps computed in float32 differ in the 7th digit); an
    infinite score (a method without a value) equals only itself."""
    finite = math.isfinite(a) and math.isfinite(b)
    return a == b or (finite and abs(a - b) <= TIE * max(1.0, abs(a), abs(b)))


def decimals(rows: Sequence[dict[str, Any]], placed: dict[str, int]) -> int:
    """The decimals that show the means of one metric apart wherever their places differ
    (3, or up to 6 when two different places would print alike)."""
    for digits in range(3, 7):
        shown = {}
        for row in rows:
            if not math.isnan(row["mean"]):
                shown.setdefault(f"{row['mean']:.{digits}f}", set()).add(placed[row["method"]])
        if all(len(p) == 1 for p in shown.values()):
            return digits
    return 6


def mean_ranks(placed: dict[str, dict[str, int]]) -> dict[str, float]:
    """Each method's mean place over the metrics (1 = first on every metric)."""
    ranks: dict[str, list[int]] = {}
    for by_method in placed.values():
        for method, place in by_method.items():
            ranks.setdefault(method, []).append(place)
    return {method: float(np.mean(p)) for method, p in ranks.items()}


def separated(best: dict[str, Any], other: dict[str, Any], direction: str) -> bool:
    """Whether ``best``'s 95 % interval lies wholly on the better side of ``other``'s."""
    if direction == "higher":
        return best["ci_low"] > other["ci_high"]
    return best["ci_high"] < other["ci_low"]


def _value(row: dict[str, Any], digits: int = 3) -> str:
    return f"{row['mean']:.{digits}f} [{row['ci_low']:.{digits}f}, {row['ci_high']:.{digits}f}]"


def _names(methods: Sequence[str]) -> str:
    return methods[0] if len(methods) == 1 else f"{', '.join(methods[:-1])} and {methods[-1]}"


def _metric_sentence(
    metric: str, order: list[str], place: dict[str, int], rows: dict, direction: str
) -> str:
    best = rows[order[0]]
    if math.isnan(best["mean"]):
        return f"No explanation could be scored on {metric} (n = 0)."
    first = [m for m in order if place[m] == 1]
    d = decimals(list(rows.values()), place)
    value = f"{best['mean']:.{d}f} (95% interval [{best['ci_low']:.{d}f}, {best['ci_high']:.{d}f}])"
    if len(first) > 1:
        text = f"On {metric} ({direction} is better), {_names(first)} tie for first with {value}"
    else:
        text = f"On {metric} ({direction} is better), {first[0]} ranks first with {value}"
    rest = [m for m in order if place[m] > 1 and not math.isnan(rows[m]["mean"])]
    if not rest:
        return text + "."
    runner, second = rest[0], rows[rest[0]]
    if separated(best, second, direction):
        return text + (
            f"; its interval does not overlap that of {runner}, the next best "
            f"({second['mean']:.{d}f}), so these images separate them."
        )
    return text + (
        f", but its interval overlaps that of {runner}, the next best ({second['mean']:.{d}f}): "
        "these images do not separate them."
    )


def _leaders_sentence(placed: dict[str, dict[str, int]], by_metric: dict) -> str | None:
    if len(placed) < 2:
        return None
    firsts = {
        metric: [m for m, p in by_method.items() if p == 1 and not math.isnan(
            by_metric[metric][m]["mean"])]
        for metric, by_method in placed.items()
    }  # fmt: skip
    always = [m for m in next(iter(placed.values())) if all(m in f for f in firsts.values())]
    if always:
        verb = "ranks" if len(always) == 1 else "rank (tied)"
        return f"{_names(always)} {verb} first on every metric."
    leaders: dict[str, list[str]] = {}
    for metric, methods in firsts.items():
        for method in methods:
            leaders.setdefault(method, []).append(metric)
    parts = [f"{method} on {', '.join(metrics)}" for method, metrics in leaders.items()]
    return f"No method ranks first on every metric: {'; '.join(parts)}."


def alike_sentence(by_metric: dict[str, dict[str, dict[str, Any]]]) -> str | None:
    """The methods whose means and intervals are the same (up to float rounding) on every
    metric, named in one sentence (a tie on every metric and interval is rarely chance)."""
    methods = list(next(iter(by_metric.values()), {}))
    fields = ("mean", "ci_low", "ci_high")
    groups: list[list[str]] = []
    for method in methods:
        for group in groups:
            if all(
                _same(rows[method][f], rows[group[0]][f])
                for rows in by_metric.values() for f in fields
                if method in rows and group[0] in rows
            ):  # fmt: skip
                group.append(method)
                break
        else:
            groups.append([method])
    parts = [_names(group) for group in groups if len(group) > 1]
    if not parts:
        return None
    why = (
        " (Grad-CAM and HiResCAM give the same map whenever the layer is followed by global "
        "average pooling)"
        if any({"gradcam", "hirescam"} <= set(group) for group in groups)
        else ""
    )
    return (
        f"{'; '.join(parts)} score alike on every metric, intervals included: their maps "
        f"probably coincide on this model{why}."
    )


def _counts_sentence(rows: Sequence[dict[str, Any]], items: Sequence[EvalItem]) -> str:
    by_metric: dict[str, tuple[int, int]] = {}
    for row in rows:
        n, images = by_metric.get(row["metric"], (0, 0))
        by_metric[row["metric"]] = (max(n, row["n"]), max(images, row.get("images", 0)))
    groups: dict[tuple[int, int], list[str]] = {}
    for metric, counts in by_metric.items():
        groups.setdefault(counts, []).append(metric)
    total_images = len({item.path for item in items})
    parts = [
        f"{_names(metrics)} scored {n} explanation{'s' * (n != 1)} from {images} image"
        f"{'s' * (images != 1)}"
        for (n, images), metrics in groups.items()
    ]
    return f"Of {len(items)} explanations of {total_images} images, {'; '.join(parts)}."


def interpretation(
    rows: Sequence[dict[str, Any]], items: Sequence[EvalItem], protocol: str
) -> list[str]:
    """The report's "what this means": the protocol, the leader of each metric and whether
    the intervals separate it from the next best, who leads overall, how many explanations
    and images each metric used, and a caution when they are few."""
    direction = directions([row["metric"] for row in rows])
    ranking = rank_methods(rows, direction)
    placed = places(rows, direction)
    by_metric = _by_metric(rows)
    sentences = [protocol]
    sentences += [
        _metric_sentence(metric, order, placed[metric], by_metric[metric], direction[metric])
        for metric, order in ranking.items()
    ]
    leaders = _leaders_sentence(placed, by_metric)
    if leaders:
        sentences.append(leaders)
    alike = alike_sentence(by_metric)
    if alike:
        sentences.append(alike)
    sentences.append(_counts_sentence(rows, items))
    largest = max((row["n"] for row in rows), default=0)
    if largest < FEW:
        sentences.append(
            f"With at most {largest} explanations per metric the intervals are wide: read the "
            "ranking as provisional and evaluate more images before trusting it."
        )
    return sentences


def _target_setting(mode: str | int, class_name) -> str:
    if mode == "annotated":
        return "each annotated class, scored against its own boxes (the papers' protocol)"
    if mode == "predicted":
        return "the predicted class, scored against every box (--target predicted)"
    return f"class {mode} ({class_name(mode)}), scored against its own boxes (--target)"


def protocol_sentence(mode: str | int, class_name) -> str:
    if mode == "annotated":
        return (
            "Each image is explained for each annotated class in it and scored against the "
            "boxes of that class, as the papers evaluate (--target predicted explains the "
            "predicted class instead)."
        )
    if mode == "predicted":
        return "Each image is explained for the class the model predicts."
    return f"Each image is explained for class {class_name(mode)} (--target)."


# -- the page ------------------------------------------------------------------------------------
def results_table(rows: Sequence[dict[str, Any]]) -> str:
    """Methods (best mean place first) by metrics (header with ↑ / ↓), mean [95 % interval]
    and the place under that metric, the first place of each metric in bold; a last row
    gives n (the images)."""
    metrics = list(dict.fromkeys(row["metric"] for row in rows))
    placed = places(rows, directions(metrics))
    overall = mean_ranks(placed)
    by_metric = _by_metric(rows)
    arrows = directions(metrics)
    head = "".join(f"<th>{html.escape(m)} {ARROWS[arrows[m]]}</th>" for m in metrics)
    digits = {m: decimals(list(by_metric[m].values()), placed[m]) for m in metrics}
    body = []
    for method in sorted(overall, key=lambda m: (overall[m], m)):
        cells = []
        for metric in metrics:
            row, place = by_metric[metric][method], placed[metric][method]
            best = ' class="best"' if place == 1 and not math.isnan(row["mean"]) else ""
            cells.append(f"<td{best}>{_value(row, digits[metric])} <small>#{place}</small></td>")
        name = html.escape(method)
        body.append(f"<tr><td>{name}</td><td>{overall[method]:.1f}</td>{''.join(cells)}</tr>")
    counts = "".join(f"<td>{_count_cell(list(by_metric[m].values()))}</td>" for m in metrics)
    body.append(f"<tr><td>n (images)</td><td></td>{counts}</tr>")
    caption = (
        "mean [95% interval] over the explanations; ↑ higher is better, ↓ lower is better; "
        "#k: the method's place under that metric (ties share a place); methods ordered by "
        "their mean place"
    )
    return (
        f"<table><caption>{caption}</caption><thead><tr><th>method</th><th>mean place</th>"
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _count_cell(rows: list[dict[str, Any]]) -> str:
    ns = sorted({row["n"] for row in rows})
    images = sorted({row.get("images", 0) for row in rows})
    n = str(ns[0]) if len(ns) == 1 else f"{ns[0]}–{ns[-1]}"
    im = str(images[0]) if len(images) == 1 else f"{images[0]}–{images[-1]}"
    return f"{n} ({im})"


def settings_rows(run: EvaluationRun, layer: str | None) -> list[tuple[str, str]]:
    """The run's settings, one (name, value) per row."""
    import torch as torch_module

    from faithcam.cli.main import installed_version

    session, args = run.session, run.args
    prep = session.prep
    options = {m: o for m, o in session.options.items() if o}
    rows = [
        ("model", session.loaded.name),
        ("weights", args.weights or "(the model's own)"),
        ("layer", layer or session.layer or "automatic"),
        ("methods", ", ".join(session.methods)),
        ("method options", json.dumps(options) if options else "defaults"),
        ("target", _target_setting(run.mode, session.loaded.class_name)),
        ("images", f"{len({i.path for i in run.dataset.items})} from {run.folder}"),
        ("explanations", str(len(run.dataset))),
        ("annotations", args.annotations or "none"),
        ("deletion / insertion steps", str(args.curve_steps)),
        ("input", f"{prep.size} x {prep.size}, {prep.channels} channels"),
        ("normalisation", f"mean {list(prep.mean)}, std {list(prep.std)}"),
        ("device", str(session.device)),
        ("batch size", str(session.batch_size)),
        ("seed", str(session.seed)),
        ("per-image rows", str(run.store)),
        ("versions", f"faithcam {installed_version()}, torch {torch_module.__version__}"),
    ]
    return rows


def _curves(run: EvaluationRun, folder: Path) -> list[tuple[Path, str]]:
    """The mean deletion / insertion curve of each method over the stored curves."""
    from faithcam.studies.store import ResultStore

    ids = set(run.dataset.ids)
    gathered: dict[str, dict[str, list[list[float]]]] = {}
    fractions: dict[str, list[float]] = {}
    for image_id, method, metric, _settings, points in ResultStore(run.store).curves():
        curve = json.loads(points)
        if image_id in ids and fractions.setdefault(metric, curve["x"]) == curve["x"]:
            gathered.setdefault(metric, {}).setdefault(method, []).append(curve["y"])
    figures = []
    for metric in ("deletion", "insertion"):
        if metric not in gathered:
            continue
        means = {
            f"{m} ({np.trapezoid(np.mean(c, axis=0), fractions[metric]):.3f})":
                np.mean(c, axis=0)
            for m in run.session.methods if (c := gathered[metric].get(m))
        }  # fmt: skip
        better = "lower" if metric == "deletion" else "higher"
        title = f"{metric}: mean curve ({better} area is better)"
        figures.append(
            (curves_plot(means, np.array(fractions[metric]), folder / f"{metric}.png", title),
             f"{metric} curves")
        )  # fmt: skip
    return figures


def _grid(run: EvaluationRun, index: int, out: Path, reporter: Progress) -> tuple[Path, str]:
    """The explanation ``index`` drawn as in the study (the same target, and for the
    stochastic methods the same per-image seed), its boxes outlined with their class names."""
    from faithcam.studies.settings import image_seed
    from faithcam.studies.study import stochastic

    session, entry = run.session, run.dataset.items[index]
    sample = run.dataset[index]
    inputs = sample["image"][None]
    probabilities = predict(session, inputs)[0]
    top = int(probabilities.argmax())
    target = top if entry.target == PREDICTED else entry.target
    maps = {}
    for method in session.methods:
        seed = image_seed(session.seed or 0, entry.id) if stochastic(method) else None
        with reporter.task(1, method, label=method):
            result = session.explain(inputs, method, torch.tensor([target]), seed)
        maps[method] = result.maps[0]
    boxes = [
        (box, label or entry.label)
        for box, label in zip(sample.get("shown_boxes", []), entry.box_labels, strict=False)
        if box is not None
    ]
    how = "predicted" if entry.target == PREDICTED else "annotated" if entry.box_labels else "given"
    title = (
        f"{entry.path.name}: explaining {session.loaded.class_name(target)} ({how}); the model "
        f"predicts {session.loaded.class_name(top)} ({float(probabilities[top]):.2f})"
    )
    grid = out / f"{run.stems[index]}.compare.png"
    method_grid(sample["crop"], maps, grid, title=title, boxes=boxes)
    return grid, result.layer


def write_report(out: Path, run: EvaluationRun, grids: int) -> Path:
    """report.html (see the module); ``grids``: explanations drawn."""
    session = run.session
    report = Report(f"faithcam evaluate: {session.loaded.name}")
    report.heading("What this means")
    protocol = protocol_sentence(run.mode, session.loaded.class_name)
    sentences = interpretation(run.rows, run.dataset.items, protocol)
    items = "".join(f"<li>{html.escape(sentence)}</li>" for sentence in sentences)
    report.html(f'<ul class="lead">{items}</ul>')
    report.heading("Methods ranked")
    report.html(results_table(run.rows))
    layer = None
    with tempfile.TemporaryDirectory() as scratch:
        figures = _curves(run, Path(scratch))
        if figures:
            report.heading("Deletion and insertion curves")
            report.images(figures)
        if grids:
            report.heading(f"Explanations ({grids} of {len(run.dataset)})")
        work = grids * len(session.methods)
        quiet = False if session.quiet else None
        with Progress(work, "report", "map", enabled=quiet) as reporter:
            for index in range(grids):
                grid, layer = _grid(run, index, out, reporter)
                report.image(grid, grid.name)
    report.heading("Settings")
    report.table(["setting", "value"], settings_rows(run, layer), css="settings")
    return report.write(out / "report.html")
