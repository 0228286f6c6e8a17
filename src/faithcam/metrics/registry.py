"""The metric registry: one :class:`MetricSpec` per metric name, read by
:func:`~faithcam.metrics.evaluate`, :func:`~faithcam.studies.run_study` and the CLI.

A spec says how to call the metric on one method's maps, the range of its per-image values
(which keeps every confidence interval inside it), whether higher or lower is better, whether it
needs ground-truth boxes, whether it replaces pixels by black (so it needs the input
normalization to know what black is), its options and its paper. :func:`register_metric` adds a
user's metric; it then works in ``evaluate`` and ``run_study`` like the built-in ones.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch
from torch import Tensor

from faithcam.engine.deprecation import warn_renamed
from faithcam.errors import FaithcamTypeError, FaithcamValueError
from faithcam.metrics._common import Bounds, MetricResult
from faithcam.metrics.faithfulness import (
    average_drop,
    deletion,
    increase_in_confidence,
    insertion,
)
from faithcam.metrics.localization import bbox_accuracy, energy_pointing_game, pointing_game
from faithcam.metrics.road import road
from faithcam.metrics.robustness import infidelity, max_sensitivity
from faithcam.metrics.sanity import model_randomization

__all__ = [
    "METRICS",
    "MetricSpec",
    "metric_bounds",
    "metric_spec",
    "register_metric",
]

Direction = Literal["higher", "lower"]
BoundsRule = Bounds | Callable[[Mapping[str, Any]], Bounds]
# The inputs a metric is called with (see MetricSpec.call).
MODEL_INPUTS = ("model", "images", "maps", "targets")
BOX_INPUTS = ("images", "maps", "boxes")


@dataclass(frozen=True)
class MetricRun:
    """What one metric needs for one method's maps: the model, images, maps (B, H, W),
    targets, boxes, and explain functions that re-explain perturbed images
    (``explain_images(images, targets)``) or another model (``explain_model(model, images,
    targets)``) with the same method."""

    model: Any
    images: Tensor
    maps: Tensor
    targets: Any
    boxes: Any
    explain_images: Callable[[Tensor, Any], Any]
    explain_model: Callable[[Any, Tensor, Any], Any]


@dataclass(frozen=True)
class MetricSpec:
    """One metric of the registry.

    ``fn`` is the metric function. It is called as ``fn(model, images, maps, targets,
    **options)``, or ``fn(images, maps, boxes, **options)`` when ``needs_boxes``, with
    ``explain_images`` / ``explain_model`` after ``targets`` when ``explains`` is
    ``"images"`` / ``"model"`` (max-sensitivity, model randomization). ``bounds`` is the range
    (lo, hi) of one image's value (``hi`` may be ``inf``; None: unbounded), or a function of the
    options that returns it. ``direction``: which way is better. ``uses_black_substrate``: the
    metric replaces pixels by black, so :func:`evaluate` passes it the input normalization.
    ``result_bounds``: the :class:`MetricResult` that ``fn`` returns states its own range (it
    may depend on the targets: a ``ClassLogit`` target makes deletion unbounded); ``bounds``
    then serves stored per-image values (study summaries). ``options``: the metric's keyword
    options and their defaults (read from ``fn``); ``aliases``: deprecated option names
    (old -> new).
    """

    name: str
    fn: Callable[..., Any]
    direction: Direction
    bounds: BoundsRule = None
    needs_boxes: bool = False
    uses_black_substrate: bool = False
    explains: Literal["images", "model"] | None = None
    citation: str = ""
    result_bounds: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)

    def range(self, options: Mapping[str, Any] | None = None) -> Bounds:
        """The range of the per-image values under ``options``."""
        rule = self.bounds
        return rule(dict(options or {})) if callable(rule) else rule

    def check_options(self, options: Mapping[str, Any], where: str) -> dict[str, Any]:
        """``options`` with deprecated names renamed (warning); unknown names are an error."""
        unknown = [k for k in options if k not in self.options and k not in self.aliases]
        if unknown:
            raise FaithcamValueError(
                f"{where}: unknown option(s) {unknown} for metric {self.name!r}; its options: "
                f"{', '.join(self.options) or '(none)'}"
            )
        out = {}
        for key, value in options.items():
            if key in self.aliases:
                warn_renamed(key, self.aliases[key], f"{where} ({self.name})")
                key = self.aliases[key]
            out[key] = value
        return out

    def call(self, run: MetricRun, options: Mapping[str, Any]) -> MetricResult:
        """The metric on one method's maps, as a :class:`MetricResult` carrying its range."""
        if self.needs_boxes:
            out = self.fn(run.images, run.maps, run.boxes, **options)
        else:
            extra = {"images": (run.explain_images,), "model": (run.explain_model,)}
            explainer = extra.get(self.explains or "", ())
            out = self.fn(run.model, run.images, run.maps, run.targets, *explainer, **options)
        return self.as_result(out, len(run.images), options)

    def as_result(self, out: Any, n_images: int, options: Mapping[str, Any]) -> MetricResult:
        """A user metric may return per-image values (a tensor, array or list) instead of a
        :class:`MetricResult`; either way the result carries the metric's range."""
        if not isinstance(out, MetricResult):
            values = torch.as_tensor(out, dtype=torch.float64).detach().cpu().reshape(-1)
            if values.numel() != n_images:
                raise FaithcamValueError(
                    f"metric {self.name!r} returned {values.numel()} values for {n_images} images"
                )
            out = MetricResult(self.name, values)
        elif self.result_bounds:
            return out
        return replace(out, bounds=self.range(options))


def _options(fn: Callable[..., Any], inputs: int) -> tuple[dict[str, Any], dict[str, str]]:
    """Keyword options of ``fn`` (after its ``inputs`` positional inputs) with their defaults,
    and its deprecated names (``renamed_keywords``)."""
    fixed = fn.keywords if isinstance(fn, functools.partial) else {}
    base = fn.func if isinstance(fn, functools.partial) else fn
    parameters = list(inspect.signature(fn).parameters.values())[inputs:]
    options = {
        p.name: (None if p.default is inspect.Parameter.empty else p.default)
        for p in parameters
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in fixed
    }
    return options, dict(getattr(base, "__renamed_keywords__", {}))


def _score_range(default: str, probability: Bounds) -> Callable[[Mapping[str, Any]], Bounds]:
    """Bounds of a score-based metric: ``probability`` when it scores probabilities (or
    sigmoids), unbounded on logits."""

    def rule(options: Mapping[str, Any]) -> Bounds:
        score = options.get("score") or default
        return probability if score in ("probability", "sigmoid", "accuracy") else None

    return rule


METRICS: dict[str, MetricSpec] = {}
RENAMED_METRICS = {"model_randomisation": "model_randomization"}


def register_metric(
    name: str,
    fn: Callable[..., Any],
    *,
    direction: Direction,
    bounds: BoundsRule = None,
    needs_boxes: bool = False,
    uses_black_substrate: bool = False,
    explains: Literal["images", "model"] | None = None,
    citation: str = "",
    result_bounds: bool = False,
    replace_existing: bool = False,
) -> MetricSpec:
    """Add a metric to the registry, so that :func:`~faithcam.metrics.evaluate`,
    :func:`~faithcam.studies.run_study` and ``faithcam evaluate --metrics`` run it.

    ``fn(model, images, maps, targets, **options)`` (or ``fn(images, maps, boxes, **options)``
    with ``needs_boxes=True``) returns a :class:`MetricResult` or one value per image.
    ``direction``: ``"higher"`` or ``"lower"`` is better. ``bounds``: the range (lo, hi) of one
    image's value (hi may be ``math.inf``), or a function of the options returning it; it keeps
    the confidence intervals inside the range. ``uses_black_substrate``: ``evaluate`` passes
    ``normalization=`` so that black is pixel black. See :class:`MetricSpec` for ``explains``
    and ``result_bounds``. Returns the spec; a name already registered is an error unless
    ``replace_existing``.
    """
    if not isinstance(name, str) or not name or name.strip() != name:
        raise FaithcamValueError(f"name: expected a non-empty metric name, got {name!r}")
    if (name in METRICS or name in RENAMED_METRICS) and not replace_existing:
        raise FaithcamValueError(
            f"name: metric {name!r} is already registered; pass replace_existing=True"
        )
    if not callable(fn):
        raise FaithcamTypeError(f"fn: expected the metric function, got {type(fn).__name__}")
    if direction not in ("higher", "lower"):
        raise FaithcamValueError(f"direction: expected 'higher' or 'lower', got {direction!r}")
    _check_bounds(bounds)
    if explains not in (None, "images", "model"):
        raise FaithcamValueError(f"explains: expected None, 'images' or 'model', got {explains!r}")
    inputs = len(BOX_INPUTS) if needs_boxes else len(MODEL_INPUTS) + (explains is not None)
    options, aliases = _options(fn, inputs)
    spec = MetricSpec(
        name, fn, direction, bounds, needs_boxes, uses_black_substrate, explains, citation,
        bool(result_bounds), options, aliases,
    )  # fmt: skip
    METRICS[name] = spec
    return spec


def _check_bounds(bounds: BoundsRule) -> None:
    if bounds is None or callable(bounds):
        return
    try:
        low, high = (float(v) for v in bounds)
    except (TypeError, ValueError):
        raise FaithcamTypeError(f"bounds: expected None or (low, high), got {bounds!r}") from None
    if not (low < high) or math.isnan(low) or low == math.inf:
        raise FaithcamValueError(f"bounds: expected low < high, got {bounds!r}")


def metric_spec(name: str) -> MetricSpec:
    """The spec of a registered metric (old names warn and resolve to the new ones)."""
    if name in RENAMED_METRICS:
        warn_renamed(name, RENAMED_METRICS[name], "metric")
        name = RENAMED_METRICS[name]
    if name not in METRICS:
        raise FaithcamValueError(f"metric: unknown {name!r}; valid names: {sorted(METRICS)}")
    return METRICS[name]


def metric_bounds(metric: str, options: Mapping[str, Any] | None = None) -> Bounds:
    """The range of ``metric``'s per-image values under ``options``, or None if unbounded."""
    return metric_spec(metric).range(options)


_UNIT = (0.0, 1.0)
_PERCENT = (0.0, 100.0)
_CURVE = "Petsiuk et al., RISE, BMVC 2018"
_GRADCAM_PP = "Chattopadhyay et al., Grad-CAM++, WACV 2018"
_ROAD = "Rong et al., ROAD, ICML 2022"
_YEH = "Yeh et al., NeurIPS 2019"
for _name, _fn, _direction, _bounds, _extra in (
    ("deletion", deletion, "lower", _score_range("probability", _UNIT),
     {"uses_black_substrate": True, "citation": _CURVE}),
    ("insertion", insertion, "higher", _score_range("probability", _UNIT),
     {"uses_black_substrate": True, "citation": _CURVE}),
    ("average_drop", average_drop, "lower", _score_range("probability", _PERCENT),
     {"uses_black_substrate": True, "citation": _GRADCAM_PP}),
    ("increase_in_confidence", increase_in_confidence, "higher", _PERCENT,
     {"uses_black_substrate": True, "citation": _GRADCAM_PP}),
    ("road_morf", functools.partial(road, order="morf"), "lower", _score_range("accuracy", _UNIT),
     {"citation": _ROAD}),
    ("road_lerf", functools.partial(road, order="lerf"), "higher",
     _score_range("accuracy", _UNIT), {"citation": _ROAD}),
    ("infidelity", infidelity, "lower", (0.0, math.inf), {"citation": _YEH}),
    ("max_sensitivity", max_sensitivity, "lower", (0.0, math.inf),
     {"explains": "images", "citation": _YEH}),
    ("model_randomization", model_randomization, "lower",
     lambda options: _UNIT if options.get("absolute") else (-1.0, 1.0),
     {"explains": "model", "citation": "Adebayo et al., Sanity Checks, NeurIPS 2018"}),
    ("pointing_game", pointing_game, "higher", _UNIT,
     {"needs_boxes": True, "citation": "Zhang et al., Excitation Backprop, IJCV 2018"}),
    ("energy_pointing_game", energy_pointing_game, "higher", _UNIT,
     {"needs_boxes": True, "citation": "Wang et al., Score-CAM, CVPRW 2020"}),
    ("bbox_accuracy", bbox_accuracy, "higher", _UNIT,
     {"needs_boxes": True, "citation": "Zhou et al., CAM, CVPR 2016"}),
):  # fmt: skip
    register_metric(_name, _fn, direction=_direction, bounds=_bounds, result_bounds=True, **_extra)
