"""Run several explanation methods through several metrics and collect a tidy table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from faithcam.api import explain
from faithcam.cams.baselines import data_aware_references
from faithcam.cams.registry import method_spec
from faithcam.engine.defaults import BATCH_SIZE
from faithcam.engine.normalization import Normalization, NormalizationSpec, as_normalization
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

__all__ = ["METRICS", "EvaluationTable", "evaluate", "metric_bounds"]

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
        boxes_to_masks(boxes, images)  # validate before any heavy work
    return specs


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
    progress: Callable[[str, int], None] | None = None,
) -> EvaluationTable:
    """Explain ``images`` with every method and score every map with every metric.

    ``explain(model, images, method, targets)`` returns maps (B, H, W) (or an object with
    ``.maps``); default: ``faithcam.explain(model, images, method=method, targets=targets)``.
    ``targets`` takes what :func:`faithcam.explain` takes; they are resolved once (``None`` =
    the predicted class) so that every method explains, and every metric scores, the same
    class. ``metric_kwargs`` maps a metric name to its options, e.g.
    ``{"deletion": {"curve_steps": 50}}`` (checked against the registry, :data:`METRICS`; the
    localization metrics need ``boxes``). ``batch_size``: inputs per forward pass, in the
    metrics too. ``progress(method, n)`` is called with n = 0 before each method and with
    n = the number of images once its metrics are done. ``normalization=(mean, std)`` makes
    black pixel black in the metrics and the default explain; with more than one image, the
    default explain draws Expected Grad-CAM's baselines from the other images (the data-aware
    D). Stochastic metrics (infidelity, max-sensitivity, ROAD, model randomization) draw the
    same perturbations for every method (:func:`common_random_numbers`). Returns an
    :class:`EvaluationTable`, one row per (method, metric).
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
    rows, results = [], {}
    for method in methods:
        if progress is not None:
            progress(method, 0)
        maps = explain(model, images, method, target.explained())
        run = _run(model, images, maps, target, boxes, method, explain)
        for spec in specs:
            own = _replayed(options[spec.name], replay.get(spec.name))
            result: MetricResult = spec.call(run, own)
            results[(method, spec.name)] = result
            rows.append({"method": method, **result.summary(), "metric": spec.name})
        if progress is not None:
            progress(method, len(images))
    return EvaluationTable(rows, results)
