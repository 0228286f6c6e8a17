"""Run several explanation methods through several metrics and collect a tidy table."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from faithcam.api import explain
from faithcam.cams.baselines import data_aware_references
from faithcam.cams.registry import method_spec
from faithcam.engine.defaults import BATCH_SIZE
from faithcam.engine.normalization import Normalization, NormalizationSpec, as_normalization
from faithcam.engine.progress import Progress, current
from faithcam.errors import FaithcamTypeError, FaithcamValueError
from faithcam.metrics._common import MetricResult, check_images, check_positive_int
from faithcam.metrics.localization import GroundTruth, boxes_to_masks
from faithcam.metrics.registry import (
    METRICS,
    RENAMED_METRICS,
    MetricRun,
    MetricSpec,
    metric_bounds,
    metric_spec,
)
from faithcam.metrics.scoring import MetricTarget, Targets, forward, metric_target

__all__ = ["METRICS", "EvaluationTable", "evaluate", "evaluation_work", "metric_bounds"]

EVALUATION_UNIT = "image·method"

ExplainCallable = Callable[[nn.Module, Tensor, str, Any], Any]


class EvaluationTable(list):
    """A list of dict rows ``{method, metric, mean, ci_low, ci_high, n}``.

    ``results[(method, metric)]`` keeps the full :class:`MetricResult` (per-image values,
    curves...).
    """

    def __init__(self, rows: Sequence[dict[str, Any]], results: dict[tuple[str, str], Any]):
        super().__init__(rows)
        self.results = results

    def to_pandas(self) -> Any:
        """The rows as a ``pandas.DataFrame`` (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("EvaluationTable.to_pandas needs pandas: pip install pandas") from err
        return pd.DataFrame(list(self))

    def __repr__(self) -> str:
        lines = [f"{'method':<24}{'metric':<24}{'mean':>10}  95% CI"]
        for row in self:
            lines.append(
                f"{row['method']:<24}{row['metric']:<24}{row['mean']:>10.4g}  "
                f"[{row['ci_low']:.4g}, {row['ci_high']:.4g}] (n={row['n']})"
            )
        return "\n".join(lines)


def default_explain(images: Tensor, normalization: NormalizationSpec = None) -> ExplainCallable:
    """``faithcam.explain`` with the evaluation's normalization, and for the methods that
    sample baselines (Expected Grad-CAM) the data-aware D of the evaluated images
    (:func:`~faithcam.cams.baselines.data_aware_references`)."""
    found = data_aware_references(len(images), lambda picks: images[picks])
    references = found[0] if found is not None else None

    def run(model: nn.Module, batch: Tensor, method: str, targets: Any) -> Any:
        options: dict[str, Any] = {}
        estimator = method_spec(method)[1].estimator
        if estimator == "expected" and references is not None:
            options["baseline"] = references
        return explain(
            model, batch, method=method, targets=targets, normalization=normalization,
            progress=False, **options,
        ).maps  # fmt: skip

    return run


def _check_names(values: Any, name: str, valid: Sequence[str] | None = None) -> list[str]:
    if isinstance(values, str):
        values = [values]
    if (
        not isinstance(values, Sequence)
        or not values
        or not all(isinstance(v, str) for v in values)
    ):
        raise FaithcamTypeError(f"{name} must be a non-empty list of names, got {values!r}")
    if valid is not None:
        unknown = [v for v in values if v not in valid]
        if unknown:
            raise FaithcamValueError(f"unknown {name} {unknown}; valid names: {sorted(valid)}")
    return list(values)


def metric_options(
    metrics: Sequence[str],
    metric_kwargs: dict[str, dict[str, Any]] | None,
    normalization: Normalization | None = None,
    batch_size: int | None = None,
) -> dict[str, dict[str, Any]]:
    """The options each metric runs with: ``metric_kwargs`` (checked against the registry,
    old names renamed), plus ``normalization`` for the metrics that replace pixels by black
    and ``batch_size`` for those that take one (``metric_kwargs`` wins)."""
    given = dict(metric_kwargs or {})
    valid = [*METRICS, *RENAMED_METRICS]
    _check_names(list(given) or ["deletion"], "metric_kwargs keys", valid)
    options = {}
    for metric in metrics:
        spec = metric_spec(metric)
        own = spec.check_options(given.get(metric, given.get(spec.name, {})), "metric_kwargs")
        shared: dict[str, Any] = {}
        if normalization is not None and spec.uses_black_substrate:
            shared["normalization"] = normalization
        if batch_size is not None and "batch_size" in spec.options:
            shared["batch_size"] = batch_size
        options[spec.name] = {**shared, **own}
    return options


def _checked_metrics(metrics: Any, boxes: GroundTruth | None, images: Tensor) -> list[MetricSpec]:
    names = _check_names(metrics, "metric names", [*METRICS, *RENAMED_METRICS])
    specs = [metric_spec(m) for m in names]
    needs_boxes = [s.name for s in specs if s.needs_boxes]
    if needs_boxes and boxes is None:
        raise FaithcamValueError(f"metrics {needs_boxes} need ground-truth boxes: pass boxes=")
    if boxes is not None:
        given = _annotated(boxes)
        if given is None:
            boxes_to_masks(boxes, images)  # validate before any heavy work
        elif given:
            boxes_to_masks([boxes[i] for i in given], images[given])
    return specs


def _annotated(boxes: GroundTruth) -> list[int] | None:
    """The images that have ground truth when ``boxes`` is a list holding None for some (None
    when every image has its boxes)."""
    listed = isinstance(boxes, Sequence) and not isinstance(boxes, str)
    if listed and any(item is None for item in boxes):
        return [i for i, item in enumerate(boxes) if item is not None]
    return None


def _score(spec: MetricSpec, run: MetricRun, options: dict[str, Any]) -> MetricResult:
    """One metric on one method's maps; a metric that needs boxes is NaN for the images
    without any (``boxes[i]`` None), which are left out of its ``n``."""
    given = _annotated(run.boxes) if spec.needs_boxes else None
    if given is None:
        return spec.call(run, options)
    values = torch.full((len(run.images),), math.nan, dtype=torch.float64)
    details: dict[str, Any] = {"annotated": given}
    bounds = spec.range(options)
    if given:
        part = dataclasses.replace(
            run, images=run.images[given], maps=run.maps[given],
            boxes=[run.boxes[i] for i in given],
        )  # fmt: skip
        result = spec.call(part, options)
        values[given] = result.values
        details, bounds = {**result.details, **details}, result.bounds
    return MetricResult(spec.name, values, details, bounds=bounds)


def _metric_kind(method: str, spec: MetricSpec) -> str:
    """What one unit of the metric costs depends on the method only when it re-explains."""
    return spec.name if spec.explains is None else f"{spec.name} {method}"


def evaluation_work(
    methods: Sequence[str], metrics: Sequence[str], n_images: int
) -> dict[str, float]:
    """The work of evaluating ``n_images`` images, in images x methods, per kind of task:
    each method's explanation and each metric take an equal share of an image x method (the
    progress line's ETA prices every kind at its own measured rate)."""
    specs = [metric_spec(m) for m in metrics]
    share = n_images / (1 + len(specs))
    work: dict[str, float] = {}
    for method in methods:
        for kind in (f"explain {method}", *(_metric_kind(method, s) for s in specs)):
            work[kind] = work.get(kind, 0.0) + share
    return work


def _run(
    model: nn.Module,
    images: Tensor,
    maps: Any,
    target: MetricTarget,
    boxes: GroundTruth | None,
    method: str,
    explain_fn: ExplainCallable,
) -> MetricRun:
    return MetricRun(
        model,
        images,
        getattr(maps, "maps", maps),
        target.explained(),
        boxes,
        lambda batch, targets: explain_fn(model, batch, method, targets),
        lambda other, batch, targets: explain_fn(other, batch, method, targets),
    )


def common_random_numbers(
    specs: Sequence[MetricSpec], options: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Make every stochastic metric draw the same perturbations for every method (common random
    numbers), so that a difference between methods is not noise of the draws: a metric given
    neither ``seed`` nor ``generator`` gets one seed, drawn once from torch's global RNG (so
    unseeded runs still differ from run to run); a given ``generator``'s state is returned, to
    be replayed for each method. ``options`` are updated in place."""
    replay = {}
    for spec in specs:
        own = options[spec.name]
        if "seed" not in spec.options:
            continue
        generator = own.get("generator")
        if isinstance(generator, torch.Generator):
            replay[spec.name] = generator
        elif own.get("seed") is None and generator is None:
            own["seed"] = int(torch.randint(0, 2**62, (1,)).item())
    return {name: (g.device, g.get_state()) for name, g in replay.items()}


def _replayed(options: dict[str, Any], state: tuple[Any, Tensor] | None) -> dict[str, Any]:
    """``options`` with a fresh generator in the saved state (None: ``options`` as given)."""
    if state is None:
        return options
    device, saved = state
    generator = torch.Generator(device=device)
    generator.set_state(saved)
    return {**options, "generator": generator}


def evaluate(
    model: nn.Module,
    images: Tensor,
    methods: Sequence[str],
    metrics: Sequence[str],
    boxes: GroundTruth | None = None,
    targets: Targets = None,
    explain: ExplainCallable | None = None,
    *,
    metric_kwargs: dict[str, dict[str, Any]] | None = None,
    batch_size: int = BATCH_SIZE,
    normalization: NormalizationSpec = None,
    progress: bool | None = None,
) -> EvaluationTable:
    """Explain ``images`` with every method and score every map with every metric.

    ``explain(model, images, method, targets)`` returns maps (B, H, W) (or an object with
    ``.maps``); default: ``faithcam.explain(model, images, method=method, targets=targets)``.
    ``targets`` takes what :func:`faithcam.explain` takes; they are resolved once (``None`` =
    the predicted class) so that every method explains, and every metric scores, the same
    class. ``metric_kwargs`` maps a metric name to its options, e.g.
    ``{"deletion": {"curve_steps": 50}}`` (checked against the registry, :data:`METRICS`; the
    localization metrics need ``boxes``). ``batch_size``: inputs per forward pass, in the
    metrics too. ``boxes[i]`` None: image i has no ground truth, the metrics that need boxes
    give NaN there (left out of their ``n``). ``progress``: a line with the images x methods
    done and an ETA (:mod:`faithcam.engine.progress`; None: shown in a terminal when the call
    takes over 2 s; inside an active reporter, as a study's, it reports there).
    ``normalization=(mean, std)`` makes black pixel black in the metrics and the default
    explain; with more than one image, the default explain draws Expected Grad-CAM's baselines
    from the other images (the data-aware D). Stochastic metrics (infidelity, max-sensitivity,
    ROAD, model randomization) draw the same perturbations for every method
    (:func:`common_random_numbers`). Returns an :class:`EvaluationTable`, one row per (method,
    metric).
    """
    images = check_images(images)
    methods = _check_names(methods, "methods")
    specs = _checked_metrics(metrics, boxes, images)
    batch_size = check_positive_int(batch_size, "batch_size")
    norm = as_normalization(normalization)
    options = metric_options([s.name for s in specs], metric_kwargs, norm, batch_size)
    replay = common_random_numbers(specs, options)
    if explain is None:
        explain = default_explain(images, norm)
    elif not callable(explain):
        raise FaithcamTypeError("explain must be a callable (model, images, method, targets)")
    target = metric_target(
        targets, images, lambda: forward(model, images, batch_size),
        score=None, default="logit", metric="evaluate",
    )  # fmt: skip
    work = (model, images, methods, specs, options, replay, boxes, target, explain)
    active = current()
    if active is not None:  # a study's, or the caller's
        return _evaluate_methods(*work, active)
    names = [s.name for s in specs]
    with Progress(
        evaluation_work(methods, names, len(images)), "evaluate", EVALUATION_UNIT,
        enabled=progress,
    ) as own:  # fmt: skip
        return _evaluate_methods(*work, own)


def _evaluate_methods(
    model: nn.Module,
    images: Tensor,
    methods: list[str],
    specs: list[MetricSpec],
    options: dict[str, dict[str, Any]],
    replay: dict[str, Any],
    boxes: GroundTruth | None,
    target: MetricTarget,
    explain: ExplainCallable,
    reporter: Progress,
) -> EvaluationTable:
    """Every method explained, every map scored; one progress task for each."""
    share = len(images) / (1 + len(specs))
    rows, results = [], {}
    for method in methods:
        with reporter.task(share, f"explain {method}", label=method):
            maps = explain(model, images, method, target.explained())
        run = _run(model, images, maps, target, boxes, method, explain)
        for spec in specs:
            own = _replayed(options[spec.name], replay.get(spec.name))
            with reporter.task(share, _metric_kind(method, spec), label=f"{method} {spec.name}"):
                result = _score(spec, run, own)
            results[(method, spec.name)] = result
            rows.append({"method": method, **result.summary(), "metric": spec.name})
    return EvaluationTable(rows, results)
