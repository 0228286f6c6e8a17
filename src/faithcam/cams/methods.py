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

from faithcam.cams import (
    activation_cams,
    cam,
    composite,
    finer,
    fullgrad,
    gradient_free,
    guided,
    multilayer,
    shapley,
    smoothed_score,
)
from faithcam.cams.call import Call
from faithcam.cams.estimators import Estimator, make_estimator
from faithcam.cams.weightings import eigen_smoothed, get_weighting
from faithcam.engine.capture import capture_inputs
from faithcam.engine.layers import LayerSpec, ResolvedLayer, resolve_layer
from faithcam.engine.layouts import ReshapeTransform, check_reshape_transform
from faithcam.engine.model_state import guards_model
from faithcam.engine.normalization import NormalizationSpec, as_normalization
from faithcam.engine.result import CamResult, build_result
from faithcam.engine.targets import OutputSelector, as_target
from faithcam.engine.validation import (
    check_batch_size,
    check_images,
    check_model,
    make_generator,
    model_device,
    model_dtype,
)
from faithcam.errors import FaithcamTypeError, FaithcamValueError


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
    "gradcam-elementwise": MethodSpec("gradcam-elementwise", citation="pytorch-grad-cam, 2021"),
    "eigengradcam": MethodSpec("eigengradcam", citation="pytorch-grad-cam, after Eigen-CAM"),
    "finercam": MethodSpec("gradcam", citation="Zhang et al., CVPR 2025"),
    "eigencam": MethodSpec(None, None, "Muhammad & Yeasin, IJCNN 2020"),
    "kpcacam": MethodSpec(None, None, "Karmani et al., 2024"),
    "randomcam": MethodSpec(None, None, "sanity baseline, after Adebayo et al., NeurIPS 2018"),
    "shapleycam": MethodSpec(None, None, "Cai et al., 2025"),
    "fullgrad": MethodSpec(None, None, "Srinivas & Fleuret, NeurIPS 2019"),
    "guided-gradcam": MethodSpec(None, None, "Selvaraju et al., ICCV 2017"),
    "sscam": MethodSpec(None, None, "Wang et al., 2020 (SS-CAM)"),
    "iscam": MethodSpec(None, None, "Naidu et al., 2020 (IS-CAM)"),
}
# Methods with their own runner (they do not go through an estimator), given a Call.
RUNNERS: dict[str, Callable[[Call], CamResult]] = {
    "eigencam": activation_cams.run_eigencam,
    "kpcacam": activation_cams.run_kpcacam,
    "randomcam": activation_cams.run_randomcam,
    "shapleycam": shapley.run_shapleycam,
    "fullgrad": fullgrad.run_fullgrad,
    "guided-gradcam": guided.run_guided_gradcam,
    "sscam": smoothed_score.run_sscam,
    "iscam": smoothed_score.run_iscam,
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
    "gradcamelementwise": "gradcam-elementwise",
    "eigen-cam": "eigencam",
    "eigen-gradcam": "eigengradcam",
    "kpca-cam": "kpcacam",
    "random-cam": "randomcam",
    "shapley-cam": "shapleycam",
    "finer-cam": "finercam",
    "guided-grad-cam": "guided-gradcam",
    "guidedgradcam": "guided-gradcam",
    "ss-cam": "sscam",
    "is-cam": "iscam",
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


@guards_model
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
    reshape_transform: ReshapeTransform | None = None,
    relu: bool = True,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    progress: bool | None = None,
    normalization: NormalizationSpec = None,
    train_mode: bool = False,
    eigen_smooth: bool = False,
    aug_smooth: bool = False,
    fusion: str = "mean",
    **options: Any,
) -> CamResult:
    """Explain ``images`` (B, C, H, W) for ``targets`` with a class activation map.

    Args:
        model: the network, run in eval mode; its modes, parameters, buffers and
            ``requires_grad`` flags are left exactly as they were.
        method: a name from :data:`METHODS` (``"gradcam"``, ``"hirescam"``,
            ``"expected-gradcam"``, ...).
        targets: None (predicted class), a class id, one class id per image, a
            :class:`~faithcam.engine.targets.Target`, or a callable ``outputs -> (N,) scores``.
        layer: dotted module name, ``"name:input"`` (the module's input), module, or None
            (automatic: the last feature map; the first norm of a transformer's last block;
            the backbone's last stage of segmentation and detection models); a list of them
            runs the method once per layer and fuses the maps (``fusion``).
        estimator: override the method's gradient estimator (``"vanilla"``, ``"integrated"``,
            ``"expected"``, ``"smooth"`` or an Estimator object).
        batch_size: sample rows per forward pass; bounds memory for every estimator.
        output_selector: index, key or callable picking the logits from a tuple/dict output.
        reshape_transform: a callable turning the layer's tensor (and, alike, its gradient)
            into (B, C, h, w), as pytorch-grad-cam's; None infers token (B, N, C) and
            channels-last (B, h, w, C) layouts and refuses ambiguous ones.
        relu: False keeps the sign of the map (scaled to [-1, 1]).
        seed: make the stochastic estimators reproducible (an int seed).
        generator: the same with your own ``torch.Generator``.
        progress: show a progress bar (None: only on long runs in a terminal).
        normalization: the model's input normalisation, ``(mean, std)`` or a
            :class:`~faithcam.engine.normalization.Normalization`, so that ``Black()`` is pixel
            black. Without it, black is the model input 0 (mean grey for normalised inputs).
            With it, ``images`` may also be a PIL image or NumPy pixels (H, W[, C]) or
            (B, H, W, C), or a list of them: they are converted, x = (pixels − mean) / std.
        train_mode: run the model in its own mode (dropout, batch statistics) instead of eval
            mode; its buffers are still restored bit for bit afterwards.
        eigen_smooth: project the per-channel terms of the map on their first principal
            component instead of summing them (pytorch-grad-cam's option).
        aug_smooth: average the min-max scaled maps of 6 flipped / intensity-scaled copies
            (pytorch-grad-cam's test-time augmentation; :mod:`faithcam.cams.composite`).
        fusion: how a list of layers is fused: ``"mean"`` (pytorch-grad-cam) or
            ``"layercam"`` (LayerCAM's tanh-scaled element-wise maximum).
        **options: estimator options (``steps``, ``samples``, ``baseline``, ``sigma``,
            ``relative_activations``, ``variant``), ``classifier`` for CAM, ``weights``
            (``"softmax"`` / ``"cic"``) and ``align_corners`` for Score-CAM.
    """
    name, spec = method_spec(method)
    model = check_model(model)
    images = check_images(images, normalization)
    if images.is_inference():  # made under a caller's inference_mode: autograd cannot use it
        with torch.inference_mode(False):
            images = images.clone()
    batch_size = check_batch_size(batch_size)
    reshape_transform = check_reshape_transform(reshape_transform)
    eigen_smooth, aug_smooth = _flag("eigen_smooth", eigen_smooth), _flag("aug_smooth", aug_smooth)
    composite.check_fusion(fusion)
    images = images.to(model_device(model, images.device), model_dtype(model, images.dtype))
    generator = make_generator(seed, generator, images.device)
    norm = as_normalization(normalization)
    if norm is not None:
        norm.check(images)
    if aug_smooth or isinstance(layer, list | tuple):
        again = dict(
            estimator=estimator,
            batch_size=batch_size,
            output_selector=output_selector,
            relu=relu,
            generator=generator,
            progress=progress,
            eigen_smooth=eigen_smooth,
            fusion=fusion,
            reshape_transform=reshape_transform,
            normalization=normalization,
            train_mode=train_mode,
        )

        def run(x: torch.Tensor, one: LayerSpec) -> CamResult:
            return explain(model, x, name, targets, one, **again, **options)

        if aug_smooth:
            return composite.augmentation_smoothing(lambda x: run(x, layer), images, relu)
        fast = None
        if estimator is None and spec.estimator == "vanilla":  # one capture for all layers
            target_spec = as_target(targets)
            if name == "finercam":
                target_spec = finer.finer_target(target_spec, options)
            make_estimator("vanilla", **options)  # no options left
            call = Call(
                model, images, name, target_spec, None, batch_size, output_selector, relu,
                reshape_transform=reshape_transform,
            )  # fmt: skip
            fast = (call, spec.weighting, eigen_smooth)
        return multilayer.explain_layers(run, images, list(layer), fusion, relu, fast)
    target_spec = as_target(targets)
    if name == "finercam":
        target_spec = finer.finer_target(target_spec, options)
    if name in RUNNERS:
        if estimator is not None:
            raise FaithcamValueError(f"estimator: method {name!r} takes no estimator")
        call = Call(
            model,
            images,
            name,
            target_spec,
            layer,
            batch_size,
            output_selector,
            relu,
            generator,
            progress,
            eigen_smooth,
            options,
            reshape_transform,
        )
        with torch.inference_mode(False):  # as below: targets are bound outside a caller's
            return RUNNERS[name](call)  # inference_mode, so they can be updated
    layer = _Layer(layer, reshape_transform)
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
            {**options, "eigen_smooth": eigen_smooth},
        )
    if spec.weighting is None:
        options["eigen_smooth"] = eigen_smooth
        return _explain_cam(
            model, images, name, target_spec, layer, batch_size, output_selector, relu, options
        )
    estimator_obj = make_estimator(estimator or spec.estimator, **options)
    weighting = eigen_smoothed(spec.weighting) if eigen_smooth else get_weighting(spec.weighting)
    estimator_obj.validate(images)
    estimator_obj = estimator_obj.bind(images, norm)
    resolved = layer.resolve(model, images)
    # Gradients need autograd: a caller's inference_mode is left for the capture and the
    # target it binds (an inference tensor cannot be updated or differentiated outside it).
    with (
        torch.inference_mode(False),
        _progress_bar(progress, len(images) * estimator_obj.rows_per_image, name) as advance,
    ):
        target = target_spec.bind(len(images), images.device)
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
    if eigen_smooth:
        settings["eigen_smooth"] = True
    if estimate.samples_used is not None:
        settings["samples_used"] = estimate.samples_used
    return _result(raw, images, target, estimate.scores, resolved, display_name, settings, relu)


@dataclass(frozen=True)
class _Layer:
    """The layer argument and the reshape transform, resolved once the images are checked."""

    spec: LayerSpec
    reshape_transform: ReshapeTransform | None

    def resolve(self, model: nn.Module, images: torch.Tensor) -> ResolvedLayer:
        return resolve_layer(model, self.spec, images, self.reshape_transform)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise FaithcamTypeError(f"{name}: expected True or False, got {value!r}")
    return value


def _explain_cam(
    model, images, name, target_spec, layer, batch_size, output_selector, relu, options
) -> CamResult:
    classifier = options.pop("classifier", None)
    eigen_smooth = options.pop("eigen_smooth")
    if options:
        raise FaithcamValueError(f"method {name!r}: unexpected options {sorted(options)}")
    resolved = layer.resolve(model, images)
    target = target_spec.bind(len(images), images.device)
    captured = capture_inputs(
        model, resolved, images, target, batch_size=batch_size, output_selector=output_selector
    )
    weights = cam.classifier_weights(model, captured.activations.shape[1], classifier)
    raw = cam.cam_maps(captured.activations, weights, target, eigen_smooth=eigen_smooth)
    settings = {"relu": relu, "eigen_smooth": eigen_smooth}
    return _result(raw, images, target, captured.scores, resolved, name, settings, relu)


def _explain_perturbation(
    model, images, name, target_spec, layer, batch_size, output_selector, relu, progress, options
) -> CamResult:
    eigen_smooth = options.pop("eigen_smooth")
    options = gradient_free.check_options(name, options)
    target = target_spec.bind(len(images), images.device)
    resolved = layer.resolve(model, images)
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
            eigen_smooth=eigen_smooth,
            **options,
        )
    settings = {**settings, "relu": relu, "eigen_smooth": eigen_smooth}
    return _result(raw, images, target, captured.scores, resolved, name, settings, relu)


def _result(raw, images, target, scores, layer: ResolvedLayer, name, settings, relu) -> CamResult:
    size = tuple(images.shape[-2:])
    return build_result(raw, size, target, scores, layer.name, name, settings, relu)


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
GradCAMElementWise = _method_class("GradCAMElementWise", "gradcam-elementwise")
EigenCAM = _method_class("EigenCAM", "eigencam")
EigenGradCAM = _method_class("EigenGradCAM", "eigengradcam")
KPCACAM = _method_class("KPCACAM", "kpcacam")
RandomCAM = _method_class("RandomCAM", "randomcam")
ShapleyCAM = _method_class("ShapleyCAM", "shapleycam")
FinerCAM = _method_class("FinerCAM", "finercam")
FullGrad = _method_class("FullGrad", "fullgrad")
GuidedGradCAM = _method_class("GuidedGradCAM", "guided-gradcam")
SSCAM = _method_class("SSCAM", "sscam")
ISCAM = _method_class("ISCAM", "iscam")
CAM = _method_class("CAM", "cam")
ScoreCAM = _method_class("ScoreCAM", "scorecam")
AblationCAM = _method_class("AblationCAM", "ablationcam")
