"""One checked :func:`faithcam.explain` call as a small frozen record, and the CamResult it
ends in, shared by the method families that do not go through the estimator path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from faithcam.engine.capture import Capture, capture_inputs
from faithcam.engine.layers import LayerSpec, ResolvedLayer, resolve_layer
from faithcam.engine.layouts import ReshapeTransform
from faithcam.engine.result import CamResult, build_result
from faithcam.engine.targets import BoundTarget, OutputSelector, Target
from faithcam.errors import FaithcamValueError


@dataclass(frozen=True)
class Call:
    """The validated arguments of one explain() call (images already on the model's device)."""

    model: nn.Module
    images: torch.Tensor
    name: str
    target: Target
    layer: LayerSpec
    batch_size: int
    output_selector: OutputSelector
    relu: bool
    generator: torch.Generator | None = None
    progress: bool | None = None
    eigen_smooth: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    reshape_transform: ReshapeTransform | None = None

    def take_options(self, defaults: dict[str, Any]) -> dict[str, Any]:
        """The method's options merged with ``defaults``; an unknown one is an error."""
        unknown = sorted(set(self.options) - set(defaults))
        if unknown:
            valid = ", ".join(defaults) or "none"
            raise FaithcamValueError(
                f"method {self.name!r}: unexpected options {unknown}; valid: {valid}"
            )
        return {**defaults, **self.options}

    def bind(self) -> BoundTarget:
        return self.target.bind(len(self.images), self.images.device)

    def resolve(self) -> ResolvedLayer:
        return resolve_layer(self.model, self.layer, self.images, self.reshape_transform)

    def forward_capture(self, layer: ResolvedLayer, target: BoundTarget) -> Capture:
        """Activations and scores of every image, forward only."""
        return capture_inputs(
            self.model,
            layer,
            self.images,
            target,
            batch_size=self.batch_size,
            output_selector=self.output_selector,
        )


def make_result(
    call: Call,
    raw: torch.Tensor,
    target: BoundTarget,
    scores: torch.Tensor,
    layer: str,
    settings: dict[str, Any],
    name: str | None = None,
) -> CamResult:
    """Post-process ``raw`` (B, h, w) maps into the CamResult of ``call``."""
    return build_result(
        raw, tuple(call.images.shape[-2:]), target, scores, layer,
        call.name if name is None else name, {**settings, "relu": call.relu}, call.relu,
    )  # fmt: skip
