"""CAM (Zhou et al., "Learning Deep Features for Discriminative Localization", CVPR 2016):
map = Σ_k W_ck A^k, W the weights of the linear classifier that follows global average pooling
of the target layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from faithcam.cams.eigen import first_component
from faithcam.cams.method import Method, Raw
from faithcam.engine.capture import capture_inputs
from faithcam.engine.request import Request
from faithcam.engine.targets import BoundClassTarget, BoundTarget
from faithcam.errors import LayerError, TargetError


def classifier_weights(
    model: nn.Module, channels: int, classifier: str | None = None
) -> torch.Tensor:
    """The (classes, K) weight of the linear classifier: the named one, or the last nn.Linear
    of the model with ``in_features == K``."""
    modules = dict(model.named_modules())
    if classifier is not None:
        if classifier not in modules or not isinstance(modules[classifier], nn.Linear):
            raise LayerError(f"classifier: {classifier!r} is not an nn.Linear of the model")
        candidates = [modules[classifier]]
    else:
        candidates = [m for m in modules.values() if isinstance(m, nn.Linear)]
        candidates = [m for m in candidates if m.in_features == channels][-1:]
    if not candidates or candidates[0].in_features != channels:
        raise LayerError(
            f"method 'cam': needs a linear classifier with {channels} inputs after global average "
            "pooling of the target layer (a GAP + linear head); none found. Use a gradient "
            "method (hirescam equals CAM on such heads) or pass classifier="
        )
    return candidates[0].weight.detach()


def cam_maps(
    activations: torch.Tensor,
    weights: torch.Tensor,
    target: BoundTarget,
    eigen_smooth: bool = False,
) -> torch.Tensor:
    """CAM: Σ_k W_ck A^k for each image's class c (with ``eigen_smooth``, the first principal
    component of the terms W_ck A^k instead of their sum)."""
    if not isinstance(target, BoundClassTarget):
        raise TargetError(
            "targets: CAM explains class ids; callable targets need a gradient method"
        )
    class_weights = weights.to(activations.dtype)[target.class_ids.to(weights.device)]
    class_weights = class_weights.to(activations.device)
    if eigen_smooth:
        return first_component(class_weights[:, :, None, None] * activations)
    return torch.einsum("bk,bkhw->bhw", class_weights, activations)


@dataclass(frozen=True)
class ClassifierOptions:
    """The dotted name of the linear classifier (None: the last ``nn.Linear`` that fits)."""

    classifier: str | None = None


class CAM(Method):
    """CAM: Σ_k W_ck A^k from the weights of the linear classifier after the layer's GAP."""

    Options = ClassifierOptions

    def run(self, request: Request) -> Raw:
        captured = capture_inputs(request)
        channels = captured.activations.shape[1]
        weights = classifier_weights(request.model, channels, self.options.classifier)
        raw = cam_maps(captured.activations, weights, request.target, request.eigen_smooth)
        settings = {"classifier": self.options.classifier, "eigen_smooth": request.eigen_smooth}
        return Raw(raw, captured.scores, request.layer.name, settings, request.target)
