""":func:`explain`, the one entry point of every CAM, and the method classes made from the
registry (``faithcam.GradCAM(model, layer)(images)``).

``explain`` is a short pipeline: look the method up and build it with its typed options; check
the shared arguments once into a frozen :class:`~faithcam.engine.request.Request`; run the
method at its layer (or fused layers, or augmented copies: :mod:`faithcam.cams.compose`); and
post-process the raw maps into a :class:`~faithcam.engine.result.CamResult`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from faithcam.cams import compose
from faithcam.cams.estimators import Estimator
from faithcam.cams.registry import METHODS, method_spec
from faithcam.engine.layers import LayerSpec
from faithcam.engine.layouts import ReshapeTransform
from faithcam.engine.model_state import model_guard
from faithcam.engine.normalization import NormalizationSpec
from faithcam.engine.request import Request
from faithcam.engine.result import CamResult, build_result
from faithcam.engine.targets import OutputSelector, as_target
from faithcam.engine.validation import channel_mismatch, check_flag, check_model


def explain(
    model: nn.Module,
    images: torch.Tensor,
    method: str = "gradcam",
    targets: Any = None,
    layer: LayerSpec | list[LayerSpec] = None,
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
        model: the network, run in eval mode (modes, parameters, buffers, flags left intact).
        method: a name from :data:`METHODS` (``"gradcam"``, ``"expected-gradcam"``, ...).
        targets: None (predicted class), a class id, one class id per image, a
            :class:`~faithcam.engine.targets.Target`, or a callable ``outputs -> (N,) scores``.
        layer: dotted module name, ``"name:input"`` (the module's input), module, or None
            (automatic: docs/automatic-layers.md); a list of them runs the method once per
            layer and fuses the maps (``fusion``).
        estimator: the gradient estimator instead of the method's (a name or an Estimator).
        batch_size: sample rows per forward pass; bounds memory for every estimator.
        output_selector: index, key or callable picking the logits from a tuple/dict output.
        reshape_transform: a callable turning the layer's tensor (and, alike, its gradient)
            into (B, C, h, w), as pytorch-grad-cam's; None infers token (B, N, C) and
            channels-last (B, h, w, C) layouts and refuses ambiguous ones.
        relu: False keeps the sign of the map (scaled to [-1, 1]).
        seed: make the stochastic estimators reproducible (an int seed).
        generator: the same with your own ``torch.Generator``.
        progress: a line with an ETA (None: for calls over 2 s in a terminal; engine.progress).
        normalization: the model's input normalization, ``(mean, std)`` or a ``Normalization``,
            so that ``Black()`` is pixel black (else input 0); PIL / NumPy images use it too.
        train_mode: run the model in its own mode (dropout, batch statistics), not eval mode;
            its buffers are still restored bit for bit afterwards.
        eigen_smooth: project the per-channel terms of the map on their first principal
            component instead of summing them (pytorch-grad-cam's option).
        aug_smooth: average the min-max scaled maps of 6 flipped / intensity-scaled copies
            (pytorch-grad-cam's test-time augmentation; :mod:`faithcam.cams.compose`).
        fusion: how a list of layers is fused: ``"mean"`` (pytorch-grad-cam), ``"layercam"``
            (LayerCAM's tanh-scaled element-wise maximum) or ``"product"`` (RefineCAM).
        **options: the method's typed options (``METHODS[name].options()``): the estimator's
            (``steps``, ``samples``, ``baseline``, ``sigma``, ``variant``, ...), ``classifier``
            for CAM, ``weights`` and ``align_corners`` for Score-CAM, ... An unknown option is
            an error that lists the valid ones.
    """
    name, spec = method_spec(method)
    with model_guard(model, train_mode):
        chosen = spec.method.create(spec, estimator, options)
        augment = aug_smooth if type(aug_smooth) is bool else check_flag("aug_smooth", aug_smooth)
        compose.check_fusion(fusion)
        try:  # autograd even in a caller's inference_mode (its tensors cannot update)
            with torch.inference_mode(False):
                request = Request.build(
                    model, images, chosen.target(as_target(targets)), method=name, layer=layer,
                    batch_size=batch_size, output_selector=output_selector, relu=relu,
                    seed=seed, reshape_transform=reshape_transform, generator=generator,
                    progress=progress, normalization=normalization, eigen_smooth=eigen_smooth,
                )  # fmt: skip
                chosen.check(request)
                raw = compose.run(chosen, request, layer, augment, fusion)
        except RuntimeError as error:  # torch's channel error becomes one naming ``images``
            if (named := channel_mismatch(images, error)) is None:
                raise
            raise named from error
    return build_result(  # ReLU (unless relu=False), upsampled to the input, scaled per image
        raw.maps, tuple(request.images.shape[-2:]), raw.target, raw.scores, raw.layer,
        raw.method or name, {**raw.settings, "relu": relu}, relu,
    )  # fmt: skip


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


_CLASSES: dict[str, type[CamMethod]] = {}


def method_class(method: str) -> type[CamMethod]:
    """The class of a registered method (made once, named after ``MethodSpec.class_name``)."""
    name, spec = method_spec(method)
    if name not in _CLASSES or _CLASSES[name].__name__ != spec.class_name:
        doc = f"{spec.class_name} ({spec.citation}); see :func:`faithcam.explain` for the options."
        _CLASSES[name] = type(spec.class_name, (CamMethod,), {"method": name, "__doc__": doc})
    return _CLASSES[name]


def method_classes() -> dict[str, type[CamMethod]]:
    """Every registered method's class, by class name."""
    return {spec.class_name: method_class(name) for name, spec in METHODS.items()}
