"""The registry of named methods and :func:`explain`, the one entry point of every CAM.

A gradient method is a preset pair (estimator, weighting): ``"integrated-gradcam"`` is
integrated × gradcam, ``"hirescam"`` is vanilla × hirescam, and any other pair is legal through
``estimator=`` (``explain(..., method="hirescam", estimator="expected")``). Gradient-free
methods (CAM, Score-CAM, Ablation-CAM) share the same layer, target and post-processing code.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from faithcam.cams import cam, gradient_free
from faithcam.cams.estimators import Estimator, make_estimator
from faithcam.cams.weightings import get_weighting
from faithcam.engine.capture import capture_inputs
from faithcam.engine.layers import LayerSpec, ResolvedLayer, resolve_layer
from faithcam.engine.normalization import NormalizationSpec, as_normalization
from faithcam.engine.result import CamResult, postprocess
from faithcam.engine.targets import OutputSelector, as_target
from faithcam.engine.validation import (
    check_batch_size,
    check_images,
    check_model,
    make_generator,
    model_device,
)
from faithcam.errors import FaithcamValueError


@dataclass(frozen=True)
class MethodSpec:
    """A named method: a weighting and a default estimator, or a gradient-free kind."""

    weighting: str | None
    estimator: str | None = "vanilla"
    citation: str = ""


METHODS: dict[str, MethodSpec] = {
    "gradcam": MethodSpec("gradcam", citation="Selvaraju et al., ICCV 2017"),
    "gradcam++": MethodSpec("gradcam++", citation="Chattopadhyay et al., WACV 2018"),
    "xgradcam": MethodSpec("xgradcam", citation="Fu et al., BMVC 2020"),
    "hirescam": MethodSpec("hirescam", citation="Draelos & Carin, 2020"),
    "layercam": MethodSpec("layercam", citation="Jiang et al., IEEE TIP 2021"),
    "integrated-gradcam": MethodSpec("gradcam", "integrated", "Sattarzadeh et al., ICASSP 2021"),
    "expected-gradcam": MethodSpec("gradcam", "expected", "Buono et al., 2024"),
    "smoothgradcam++": MethodSpec("gradcam++", "smooth", "Omeiza et al., 2019"),
    "cam": MethodSpec(None, None, "Zhou et al., CVPR 2016"),
    "scorecam": MethodSpec(None, None, "Wang et al., CVPR-W 2020"),
    "ablationcam": MethodSpec(None, None, "Desai & Ramaswamy, WACV 2020"),
}
ALIASES = {
    "grad-cam": "gradcam",
    "gradcampp": "gradcam++",
    "gradcam-plus-plus": "gradcam++",
    "xgrad-cam": "xgradcam",
    "hires-cam": "hirescam",
    "layer-cam": "layercam",
    "integrated": "integrated-gradcam",
    "expected": "expected-gradcam",
    "score-cam": "scorecam",
    "ablation-cam": "ablationcam",
}


def method_spec(method: str) -> tuple[str, MethodSpec]:
    """The canonical name and spec of ``method`` (case-insensitive, aliases accepted)."""
    if not isinstance(method, str):
        raise FaithcamValueError(f"method: expected a method name, got {method!r}")
    name = ALIASES.get(method.lower(), method.lower())
    if name not in METHODS:
        close = difflib.get_close_matches(name, list(METHODS) + list(ALIASES), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise FaithcamValueError(f"method: unknown {method!r}{hint}; valid: {', '.join(METHODS)}")
    return name, METHODS[name]


def explain(
    model: nn.Module,
    images: torch.Tensor,
    method: str = "gradcam",
    targets: Any = None,
    layer: LayerSpec = None,
    *,
    estimator: str | Estimator | None = None,
    batch_size: int = 16,
    output_selector: OutputSelector = None,
    relu: bool = True,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    progress: bool | None = None,
    normalization: NormalizationSpec = None,
    **options: Any,
) -> CamResult:
    """Explain ``images`` (B, C, H, W) for ``targets`` with a class activation map.

    Args:
        model: the network; its mode, parameters and ``requires_grad`` flags are left as they
            are (call ``model.eval()`` yourself for inference behaviour).
        method: a name from :data:`METHODS` (``"gradcam"``, ``"hirescam"``,
            ``"expected-gradcam"``, ...).
        targets: None (predicted class), a class id, one class id per image, a
            :class:`~faithcam.engine.targets.Target`, or a callable ``outputs -> (N,) scores``.
        layer: dotted module name, module, or None (automatic: the last 4-D feature map).
        estimator: override the method's gradient estimator (``"vanilla"``, ``"integrated"``,
            ``"expected"``, ``"smooth"`` or an Estimator object).
        batch_size: sample rows per forward pass; bounds memory for every estimator.
        output_selector: index, key or callable picking the logits from a tuple/dict output.
        relu: False keeps the sign of the map (scaled to [-1, 1]).
        seed / generator: make the stochastic estimators reproducible.
        progress: show a progress bar (None: only on long runs in a terminal).
        normalization: the model's input normalisation, ``(mean, std)`` or a
            :class:`~faithcam.engine.normalization.Normalization`, so that ``Black()`` is pixel
            black. Without it, black is the model input 0 (mean grey for normalised inputs).
        **options: estimator options (``steps``, ``samples``, ``baseline``, ``sigma``,
            ``relative_activations``, ``variant``), ``classifier`` for CAM, ``weights``
            (``"softmax"`` / ``"cic"``) and ``align_corners`` for Score-CAM.
    """
    name, spec = method_spec(method)
    model = check_model(model)
    images = check_images(images)
    batch_size = check_batch_size(batch_size)
    images = images.to(model_device(model, images.device))
    generator = make_generator(seed, generator, images.device)
    target_spec = as_target(targets)
    norm = as_normalization(normalization)
    if norm is not None:
        norm.check(images)
    if name in gradient_free.PERTURBATION_OPTIONS:
        if estimator is not None:
            raise FaithcamValueError(
                f"estimator: method {name!r} is gradient-free, got {estimator!r}"
            )
        return _explain_perturbation(
            model,
            images,
            name,
            target_spec,
            layer,
            batch_size,
            output_selector,
            relu,
            progress,
            options,
        )
    if spec.weighting is None:
        return _explain_cam(
            model, images, name, target_spec, layer, batch_size, output_selector, relu, options
        )
    estimator_obj = make_estimator(estimator or spec.estimator, **options)
    weighting = get_weighting(spec.weighting)
    estimator_obj.validate(images)
    estimator_obj = estimator_obj.bind(images, norm)
    resolved = resolve_layer(model, layer, images)
    target = target_spec.bind(len(images), images.device)
    with _progress_bar(progress, len(images) * estimator_obj.rows_per_image, name) as advance:
        estimate = estimator_obj.estimate(
            model,
            resolved,
            images,
            target,
            batch_size=batch_size,
            generator=generator,
            output_selector=output_selector,
            map_fn=weighting,
            progress=advance,
        )
    raw = (
        estimate.maps
        if estimate.maps is not None
        else weighting(estimate.activations, estimate.gradients)
    )
    display_name = name if estimator is None else f"{estimator_obj.name}-{spec.weighting}"
    settings = {"weighting": spec.weighting, **estimator_obj.settings(), "relu": relu}
    if estimate.samples_used is not None:
        settings["samples_used"] = estimate.samples_used
    return _result(raw, images, target, estimate.scores, resolved, display_name, settings, relu)


def _explain_cam(
    model, images, name, target_spec, layer, batch_size, output_selector, relu, options
) -> CamResult:
    classifier = options.pop("classifier", None)
    if options:
        raise FaithcamValueError(f"method {name!r}: unexpected options {sorted(options)}")
    resolved = resolve_layer(model, layer, images)
    target = target_spec.bind(len(images), images.device)
    captured = capture_inputs(
        model, resolved, images, target, batch_size=batch_size, output_selector=output_selector
    )
    weights = cam.classifier_weights(model, captured.activations.shape[1], classifier)
    raw = cam.cam_maps(captured.activations, weights, target)
    return _result(raw, images, target, captured.scores, resolved, name, {"relu": relu}, relu)


def _explain_perturbation(
    model, images, name, target_spec, layer, batch_size, output_selector, relu, progress, options
) -> CamResult:
    options = gradient_free.check_options(name, options)
    target = target_spec.bind(len(images), images.device)
    resolved = resolve_layer(model, layer, images)
    captured = capture_inputs(
        model, resolved, images, target, batch_size=batch_size, output_selector=output_selector
    )
    run = gradient_free.score_cam if name == "scorecam" else gradient_free.ablation_cam
    # one bar row per image (the capture) and per channel (its masked or ablated forward)
    rows = len(images) * (1 + captured.activations.shape[1])
    with _progress_bar(progress, rows, name) as advance:
        if advance is not None:
            advance(len(images))
        raw, settings = run(
            model,
            resolved,
            images,
            target,
            captured,
            batch_size=batch_size,
            output_selector=output_selector,
            progress=advance,
            **options,
        )
    settings = {**settings, "relu": relu}
    return _result(raw, images, target, captured.scores, resolved, name, settings, relu)


def _result(raw, images, target, scores, layer: ResolvedLayer, name, settings, relu) -> CamResult:
    maps = postprocess(raw, tuple(images.shape[-2:]), relu=relu)
    class_ids = getattr(target, "class_ids", None)
    return CamResult(
        maps=maps,
        raw_maps=raw.detach(),
        targets=None if class_ids is None else class_ids.clone(),
        scores=scores,
        layer=layer.name,
        method=name,
        settings=settings,
    )


class _progress_bar:
    """Context manager yielding ``advance(n_rows)`` or None when no bar is shown."""

    def __init__(self, progress: bool | None, rows: int, name: str):
        show = progress if progress is not None else (rows >= 256 and sys.stderr.isatty())
        self.bar = None
        if show:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # pragma: no cover - tqdm is a dependency
                return
            self.bar = tqdm(total=rows, desc=name, unit="sample", leave=False)

    def __enter__(self) -> Callable[[int], None] | None:
        return None if self.bar is None else self.bar.update

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


class CamMethod:
    """One class per method: ``GradCAM(model, layer)(images, targets)`` -> CamResult."""

    method = "gradcam"

    def __init__(self, model: nn.Module, layer: LayerSpec = None, **options: Any) -> None:
        method_spec(self.method)
        self.model = check_model(model)
        self.layer = layer
        self.options = options

    def __call__(self, images: torch.Tensor, targets: Any = None, **options: Any) -> CamResult:
        return explain(
            self.model, images, self.method, targets, self.layer, **{**self.options, **options}
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(layer={self.layer!r}, options={self.options!r})"


def _method_class(class_name: str, method: str) -> type[CamMethod]:
    citation = METHODS[method].citation
    doc = f"{class_name} ({citation}); see :func:`faithcam.explain` for the options."
    return type(class_name, (CamMethod,), {"method": method, "__doc__": doc})


GradCAM = _method_class("GradCAM", "gradcam")
GradCAMPlusPlus = _method_class("GradCAMPlusPlus", "gradcam++")
XGradCAM = _method_class("XGradCAM", "xgradcam")
HiResCAM = _method_class("HiResCAM", "hirescam")
LayerCAM = _method_class("LayerCAM", "layercam")
IntegratedGradCAM = _method_class("IntegratedGradCAM", "integrated-gradcam")
ExpectedGradCAM = _method_class("ExpectedGradCAM", "expected-gradcam")
SmoothGradCAMPlusPlus = _method_class("SmoothGradCAMPlusPlus", "smoothgradcam++")
CAM = _method_class("CAM", "cam")
ScoreCAM = _method_class("ScoreCAM", "scorecam")
AblationCAM = _method_class("AblationCAM", "ablationcam")
