"""One :func:`faithcam.explain` call, checked once: the frozen :class:`Request` every method
runs on.

``Request.build`` validates the arguments shared by every method (model, images, targets,
batch size, output selector, reshape transform, seed or generator, normalization, flags), puts
the images on the model's device and dtype and binds the target, before any forward pass. The
layer is resolved by :meth:`Request.at_layer` (automatic selection probes one forward), so that
a method's own checks still run before it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from faithcam.engine.layers import LayerSpec, ResolvedLayer, resolve_layer
from faithcam.engine.layouts import ReshapeTransform, check_reshape_transform
from faithcam.engine.normalization import Normalization, NormalizationSpec, as_normalization
from faithcam.engine.targets import BoundTarget, OutputSelector, Target, class_agnostic
from faithcam.engine.validation import (
    check_count,
    check_flag,
    check_images,
    check_model,
    make_generator,
    model_placement,
)

Progress = Callable[[int], None] | None


@dataclass(frozen=True)
class Request:
    """The checked arguments of one explain() call (images already on the model's device).

    ``target`` is ``target_spec`` bound to ``images``; ``layer`` is the resolved
    ``layer_spec`` (None until :meth:`at_layer`, and for methods without a layer).
    """

    model: nn.Module
    images: torch.Tensor
    target_spec: Target
    target: BoundTarget
    batch_size: int = 16
    output_selector: OutputSelector = None
    layer_spec: Any = None
    layer: ResolvedLayer | None = None
    reshape_transform: ReshapeTransform | None = None
    generator: torch.Generator | None = None
    progress: bool | None = None
    normalization: Normalization | None = None
    relu: bool = True
    eigen_smooth: bool = False
    method: str = ""

    @classmethod
    def build(
        cls,
        model: nn.Module,
        images: torch.Tensor,
        target: Target,
        *,
        method: str = "",
        layer: Any = None,
        batch_size: int = 16,
        output_selector: OutputSelector = None,
        reshape_transform: ReshapeTransform | None = None,
        relu: bool = True,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        progress: bool | None = None,
        normalization: NormalizationSpec = None,
        eigen_smooth: bool = False,
    ) -> Request:
        """Check every shared argument and bind ``target`` (a Target) to the images."""
        model = check_model(model)
        images = check_images(images, normalization)
        if images.is_inference():  # made under a caller's inference_mode: autograd cannot use it
            with torch.inference_mode(False):
                images = images.clone()
        if type(batch_size) is not int or batch_size < 1:  # the common case checks inline
            check_count("batch_size", batch_size)
        if reshape_transform is not None:
            check_reshape_transform(reshape_transform)
        if type(eigen_smooth) is not bool or type(relu) is not bool:
            check_flag("eigen_smooth", eigen_smooth)
            check_flag("relu", relu)
        images = images.to(*model_placement(model, images.device, images.dtype))
        if seed is not None or generator is not None:  # else torch's global RNG
            generator = make_generator(seed, generator, images.device)
        norm = None
        if normalization is not None:
            norm = as_normalization(normalization)
            norm.check(images)
        return cls(
            model, images, target, target.bind(len(images), images.device), batch_size,
            output_selector, layer, None, reshape_transform, generator, progress, norm, relu,
            eigen_smooth, method,
        )  # fmt: skip

    def at_layer(self, layer: LayerSpec) -> Request:
        """This request at one layer (resolved; automatic selection probes one forward), with
        a freshly bound target (a bound target records the predicted classes it resolves)."""
        resolved = resolve_layer(self.model, layer, self.images, self.reshape_transform)
        target = self.target_spec.bind(len(self.images), self.images.device)
        return dataclasses.replace(self, layer_spec=layer, layer=resolved, target=target)

    def class_agnostic(self) -> Request:
        """This request for a method that does not read its target (EigenCAM, KPCA-CAM,
        RandomCAM): see :func:`~faithcam.engine.targets.class_agnostic`."""
        return dataclasses.replace(self, target=class_agnostic(self.target))

    def with_images(self, images: torch.Tensor) -> Request:
        """The same request on other images (augmented copies), the target bound to them."""
        target = self.target_spec.bind(len(images), images.device)
        return dataclasses.replace(self, images=images, target=target)
