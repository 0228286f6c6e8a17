"""Run several explanation methods through several metrics and collect a tidy table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from faithcam.cams.baselines import ReferenceSet
from faithcam.cams.methods import explain, method_spec
from faithcam.engine.normalization import NormalizationSpec, as_normalization
from faithcam.errors import FaithcamTypeError, FaithcamValueError
from faithcam.metrics._common import MetricResult, Targets, check_images, resolve_targets
from faithcam.metrics.faithfulness import average_drop, deletion, increase_in_confidence, insertion
from faithcam.metrics.localization import (
    GroundTruth,
    bbox_accuracy,
    boxes_to_masks,
    energy_pointing_game,
    pointing_game,
)
from faithcam.metrics.road import road
from faithcam.metrics.robustness import infidelity, max_sensitivity
from faithcam.metrics.sanity import model_randomisation

__all__ = ["METRICS", "EvaluationTable", "evaluate", "metric_bounds"]

ExplainCallable = Callable[[nn.Module, Tensor, str, Tensor], Any]


@dataclass(frozen=True)
class _Run:
    """What one metric needs for one method."""

    model: nn.Module
    images: Tensor
    maps: Tensor
    targets: Tensor
    boxes: GroundTruth | None
    method: str
    explain: ExplainCallable

    def explain_images(self, images: Tensor, targets: Tensor) -> Any:
        return self.explain(self.model, images, self.method, targets)

    def explain_model(self, model: nn.Module, images: Tensor, targets: Tensor) -> Any:
        return self.explain(model, images, self.method, targets)


def _model_args(r: _Run) -> tuple[Any, ...]:
    return (r.model, r.images, r.maps, r.targets)


def _box_args(r: _Run) -> tuple[Any, ...]:
    return (r.images, r.maps, r.boxes)


MetricFn = Callable[..., MetricResult]

# name -> (function of a _Run and keyword arguments, needs ground-truth boxes)
METRICS: dict[str, tuple[MetricFn, bool]] = {
    "deletion": (lambda r, **kw: deletion(*_model_args(r), **kw), False),
    "insertion": (lambda r, **kw: insertion(*_model_args(r), **kw), False),
    "average_drop": (lambda r, **kw: average_drop(*_model_args(r), **kw), False),
    "increase_in_confidence": (
        lambda r, **kw: increase_in_confidence(*_model_args(r), **kw),
        False,
    ),
    "road_morf": (lambda r, **kw: road(*_model_args(r), order="morf", **kw), False),
    "road_lerf": (lambda r, **kw: road(*_model_args(r), order="lerf", **kw), False),
    "infidelity": (lambda r, **kw: infidelity(*_model_args(r), **kw), False),
    "max_sensitivity": (
        lambda r, **kw: max_sensitivity(*_model_args(r), r.explain_images, **kw),
        False,
    ),
    "model_randomisation": (
        lambda r, **kw: model_randomisation(*_model_args(r), r.explain_model, **kw),
        False,
    ),
    "pointing_game": (lambda r, **kw: pointing_game(*_box_args(r), **kw), True),
    "energy_pointing_game": (lambda r, **kw: energy_pointing_game(*_box_args(r), **kw), True),
    "bbox_accuracy": (lambda r, **kw: bbox_accuracy(*_box_args(r), **kw), True),
}


# Metrics whose per-image values lie in [0, 1] (deletion and insertion when they score
# probabilities, their default): their confidence intervals must stay there too.
UNIT_INTERVAL_METRICS = ("pointing_game", "energy_pointing_game", "bbox_accuracy")
PROBABILITY_METRICS = ("deletion", "insertion")


def metric_bounds(metric: str, kwargs: dict[str, Any] | None = None) -> tuple[float, float] | None:
    """The range of ``metric``'s per-image values under ``kwargs``, or None if unbounded."""
    score = (kwargs or {}).get("score", "probability")
    if metric in UNIT_INTERVAL_METRICS or (
        metric in PROBABILITY_METRICS and score == "probability"
    ):
        return (0.0, 1.0)
    return None


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


# Metrics that replace pixels by black, and so need the input normalisation to know black.
_BLACK_METRICS = ("deletion", "insertion", "average_drop", "increase_in_confidence")


def default_explain(
    images: Tensor, normalization: NormalizationSpec = None
) -> ExplainCallable:
    """``faithcam.explain`` with the evaluation's normalisation, and for the methods that
    sample baselines (Expected Grad-CAM) the data-aware D: the other evaluated images."""
    references = ReferenceSet(images) if len(images) > 1 else None

    def run(model: nn.Module, batch: Tensor, method: str, targets: Tensor) -> Any:
        options: dict[str, Any] = {}
        estimator = method_spec(method)[1].estimator
        if estimator == "expected" and references is not None:
            options["baseline"] = references
        return explain(
            model, batch, method=method, targets=targets, normalization=normalization, **options
        ).maps

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
    batch_size: int = 64,
    normalization: NormalizationSpec = None,
    progress: Callable[[str, int], None] | None = None,
) -> EvaluationTable:
    """Explain ``images`` with every method and score every map with every metric.

    ``explain(model, images, method, targets)`` returns maps (B, H, W) (or an object with
    ``.maps``); default: ``faithcam.explain(model, images, method=method, targets=targets)``.
    Targets are resolved once (``None`` = the predicted class) so that every method explains
    the same class. ``metric_kwargs`` maps a metric name to extra keyword arguments, e.g.
    ``{"deletion": {"steps": 50}}``. Metric names: see :data:`METRICS` (the localisation ones
    need ``boxes``). ``progress(method, n)`` is called with n = 0 before each method and with
    n = the number of images once its metrics are done.
    ``normalization=(mean, std)`` makes black pixel black in the metrics and the default
    explain; with more than one image, the default explain draws Expected Grad-CAM's baselines
    from the other images (the data-aware D). Returns an :class:`EvaluationTable`, one row per
    (method, metric).
    """
    images = check_images(images)
    methods = _check_names(methods, "methods")
    metrics = _check_names(metrics, "metric names", list(METRICS))
    metric_kwargs = dict(metric_kwargs or {})
    _check_names(list(metric_kwargs) or ["deletion"], "metric_kwargs keys", list(METRICS))
    needs_boxes = [m for m in metrics if METRICS[m][1]]
    if needs_boxes and boxes is None:
        raise FaithcamValueError(f"metrics {needs_boxes} need ground-truth boxes: pass boxes=")
    if boxes is not None:
        boxes_to_masks(boxes, images)  # validate before any heavy work
    norm = as_normalization(normalization)
    if explain is None:
        explain = default_explain(images, norm)
    elif not callable(explain):
        raise FaithcamTypeError("explain must be a callable (model, images, method, targets)")
    targets_t = resolve_targets(model, images, targets, batch_size)
    rows, results = [], {}
    for method in methods:
        if progress is not None:
            progress(method, 0)
        maps = explain(model, images, method, targets_t)
        maps = getattr(maps, "maps", maps)
        run = _Run(model, images, maps, targets_t, boxes, method, explain)
        for metric in metrics:
            fn, _ = METRICS[metric]
            kwargs = {"normalization": norm} if norm and metric in _BLACK_METRICS else {}
            result = fn(run, **{**kwargs, **metric_kwargs.get(metric, {})})
            results[(method, metric)] = result
            summary = result.summary()
            rows.append({"method": method, **summary, "metric": metric})
        if progress is not None:
            progress(method, len(images))
    return EvaluationTable(rows, results)
