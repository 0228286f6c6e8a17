"""The gradient methods: a gradient estimator × a weighting rule.

``"integrated-gradcam"`` is integrated × gradcam, ``"hirescam"`` is vanilla × hirescam, and any
other pair is legal through ``estimator=`` (``explain(..., "hirescam", estimator="expected")``).
The method's options are its estimator's (``steps``, ``samples``, ``baseline``, ``sigma``, ...);
Finer-CAM adds ``alpha`` and ``comparisons``, which shape its target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from faithcam.cams.estimators import ESTIMATORS, Estimator, Vanilla, make_estimator
from faithcam.cams.finer import DEFAULT_COMPARISONS, finer_target
from faithcam.cams.method import Method, Option, Raw, check_option_names, options_of
from faithcam.cams.multilayer import vanilla_layers
from faithcam.cams.weightings import get_weighting
from faithcam.engine import validation
from faithcam.engine.progress import track
from faithcam.engine.targets import Target
from faithcam.errors import FaithcamValueError

if TYPE_CHECKING:
    from faithcam.cams.registry import MethodSpec
    from faithcam.engine.request import Request


@dataclass
class GradientMethod(Method):
    """Estimator × weighting (the estimators: :mod:`faithcam.cams.estimators`; the rules:
    :mod:`faithcam.cams.weightings`). ``options`` is the estimator."""

    weighting: str = "gradcam"
    estimator: Estimator = field(default_factory=Vanilla)
    overridden: bool = False  # ``estimator=`` given: the result is named after the pair
    extra: dict[str, Any] = field(default_factory=dict)  # the method's own options

    @classmethod
    def create(cls, spec: MethodSpec, estimator: Any, options: dict[str, Any]) -> Method:
        options, extra = dict(options), {}
        if options:
            own = [option.name for option in cls.extra_options()]
            extra = {name: options.pop(name) for name in own if name in options}
        if options and not isinstance(estimator, Estimator):
            _check_estimator_options(spec.name, estimator or spec.estimator, options, own)
        chosen = make_estimator(estimator or spec.estimator, **options)
        return cls(spec.name, chosen, spec.weighting, chosen, estimator is not None, extra)

    @classmethod
    def extra_options(cls) -> list[Option]:
        """Options of the method itself, beside its estimator's (none here)."""
        return []

    @classmethod
    def option_list(cls, spec: MethodSpec, estimator: str | None = None) -> list[Option]:
        return cls.extra_options() + _estimator_options(estimator or spec.estimator)

    def check(self, request: Request) -> None:
        """The estimator's checks, then its cost (rows per image x images, warned or refused)."""
        self.estimator.validate(request.images)
        rows = self.estimator.rows_per_image
        if len(request.images) * rows > validation.WARN_ROWS:  # check_cost names the options
            settings = self.estimator.settings()
            sizes = " ".join(f"{k}={settings[k]}" for k in ("steps", "samples") if k in settings)
            option, images = sizes or request.method, len(request.images)
            validation.check_cost(images, rows, option, request.batch_size)

    def run(self, request: Request) -> Raw:
        """The estimator's (A, G) or averaged per-sample maps, then the weighting."""
        weighting = get_weighting(self.weighting, request.eigen_smooth)
        estimator = self.estimator.bind(request.images, request.normalization)
        rows = len(request.images) * estimator.rows_per_image
        with track(rows, request.method, "sample", enabled=request.progress) as advance:
            estimate = estimator.estimate(request, weighting, advance)
        raw = estimate.maps
        if raw is None:
            raw = weighting(estimate.activations, estimate.gradients)
        settings = {"weighting": self.weighting, **estimator.settings(), **self.extra}
        if request.eigen_smooth:
            settings["eigen_smooth"] = True
        if estimate.samples_used is not None:
            settings["samples_used"] = estimate.samples_used
        name = f"{estimator.name}-{self.weighting}" if self.overridden else None
        return Raw(raw, estimate.scores, request.layer.name, settings, request.target, name)

    def run_layers(self, requests: list[Request]) -> list[Raw]:
        """Vanilla methods capture every layer in one forward and one backward per chunk."""
        if self.overridden or self.estimator.name != "vanilla":
            return super().run_layers(requests)
        eigen_smooth = requests[0].eigen_smooth
        weighting = get_weighting(self.weighting, eigen_smooth)
        settings = {"weighting": self.weighting, "estimator": "vanilla", **self.extra}
        return vanilla_layers(requests, weighting, {**settings, "eigen_smooth": eigen_smooth})

    def settings(self) -> dict[str, Any]:
        return {"weighting": self.weighting, **self.estimator.settings(), **self.extra}


@dataclass
class FinerGradientMethod(GradientMethod):
    """Finer-CAM (:mod:`faithcam.cams.finer`): a gradient method explaining the contrastive
    score of the class against its most similar classes (options ``alpha``, ``comparisons``)."""

    @classmethod
    def extra_options(cls) -> list[Option]:
        return [Option("alpha", float, 1.0), Option("comparisons", tuple, DEFAULT_COMPARISONS)]

    @classmethod
    def create(cls, spec: MethodSpec, estimator: Any, options: dict[str, Any]) -> Method:
        """As a gradient method, with every own option recorded (given, else its default; a
        tuple as a list, as JSON stores it), so that the result's settings name them."""
        method = super().create(spec, estimator, options)
        chosen = {o.name: method.extra.get(o.name, o.default) for o in cls.extra_options()}
        method.extra = {k: list(v) if isinstance(v, tuple) else v for k, v in chosen.items()}
        return method

    def target(self, target: Target) -> Target:
        return finer_target(target, **self.extra)


def _estimator_options(name: Any) -> list[Option]:
    if isinstance(name, Estimator):
        return []
    if name not in ESTIMATORS:
        raise FaithcamValueError(f"estimator: unknown {name!r}; valid: {', '.join(ESTIMATORS)}")
    return options_of(ESTIMATORS[name])


def _check_estimator_options(
    method: str, estimator: str, options: dict[str, Any], own: list[str]
) -> None:
    """An option that neither the method (its ``own`` options) nor ``estimator`` takes is an
    error that lists the valid ones and the estimators that take it."""
    valid = [o.name for o in _estimator_options(estimator)]
    unknown = set(options) - set(valid)
    takers = [
        other
        for other in ESTIMATORS
        if other != estimator and unknown <= {o.name for o in _estimator_options(other)}
    ]
    hint = f" (estimator {estimator!r}; estimator={' or '.join(map(repr, takers))} takes them)"
    check_option_names(method, own + valid, options, hint if takers else "")
