"""pytorch-grad-cam 1.5.7's meta-methods, which run a drop-in base class: FinerCAM and
RefineCAM (SESS: :mod:`faithcam.compat.pytorch_grad_cam.sess`).

- FinerCAM (Zhang et al., CVPR 2025): without ``targets``, each image explains
  :class:`~faithcam.compat.pytorch_grad_cam.utils.model_targets.FinerWeightedTarget` of the class
  whose logit is closest to the target logit (the top one, or ``target_idx``'s) against the
  classes at the ranks ``comparison_categories`` (default 1, 2, 3) of |y − y_target|; with
  ``targets``, those targets unchanged (as the peer).
- RefineCAM (Gildenblat, arXiv 2605.14641): the base method's scaled map at each layer on its
  own, multiplied, M = Π_l M_l, then min-max scaled (faithcam's ``fusion="product"``).
  Difference from the peer, on purpose: ``eigen_smooth`` reaches the base method as
  ``eigen_smooth`` (the peer passes it where the base class reads ``aug_smooth``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from faithcam.compat.pytorch_grad_cam.base_cam import (
    GradCAM,
    GradCAMPlusPlus,
    PeerTarget,
    check_inputs,
)
from faithcam.compat.pytorch_grad_cam.utils.image import scale_cam_image
from faithcam.compat.pytorch_grad_cam.utils.model_targets import FinerWeightedTarget
from faithcam.engine.model_state import model_guard
from faithcam.engine.validation import model_device

Reshape = Callable[[torch.Tensor], torch.Tensor] | None
DEFAULT_COMPARISON_CATEGORIES = (1, 2, 3)


class WrapperCAM:
    """A meta-method's call protocol: ``cam(input_tensor, targets, ...)`` is ``forward``."""

    def __call__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError

    def release(self) -> None:
        """Nothing to release: faithcam removes its hooks after every call."""

    def __enter__(self) -> WrapperCAM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def finer_targets(
    outputs: torch.Tensor,
    alpha: float,
    comparison_categories: Sequence[int] | None = None,
    target_idx: int | None = None,
) -> list[FinerWeightedTarget]:
    """One FinerWeightedTarget per row of the (B, C) logits (see the module docstring)."""
    logits = outputs.detach().float().cpu().numpy()
    classes = logits.shape[-1]
    if comparison_categories is None:
        ranks = list(DEFAULT_COMPARISON_CATEGORIES[: max(classes - 1, 0)])
    else:
        ranks = [int(c) for c in comparison_categories if c < classes]
    reference = logits.max(-1) if target_idx is None else logits[:, target_idx]
    order = np.argsort(np.abs(logits - reference[:, None]), axis=-1)
    return [FinerWeightedTarget(int(row[0]), [int(row[r]) for r in ranks], alpha) for row in order]


class FinerCAM(WrapperCAM):
    """Finer-CAM over any drop-in ``base_method`` (default GradCAM)."""

    def __init__(
        self,
        model: nn.Module,
        target_layers: Sequence[nn.Module],
        reshape_transform: Reshape = None,
        base_method: type = GradCAM,
    ) -> None:
        self.base_cam = base_method(model, target_layers, reshape_transform)
        self.model = model

    def forward(
        self,
        input_tensor: torch.Tensor,
        targets: Sequence[PeerTarget] | None = None,
        eigen_smooth: bool = False,
        alpha: float = 1,
        comparison_categories: Sequence[int] | None = None,
        target_idx: int | None = None,
    ) -> np.ndarray:
        if targets is None:
            images = check_inputs(input_tensor)
            with torch.no_grad(), model_guard(self.model):
                outputs = self.model(images.to(model_device(self.model, images.device)))
            targets = finer_targets(outputs, alpha, comparison_categories, target_idx)
        return self.base_cam(input_tensor, targets, eigen_smooth=eigen_smooth)


class RefineCAM(WrapperCAM):
    """RefineCAM over any drop-in ``base_method`` (default GradCAMPlusPlus; ``kwargs`` go to
    its constructor)."""

    def __init__(
        self,
        model: nn.Module,
        target_layers: Sequence[nn.Module],
        reshape_transform: Reshape = None,
        base_method: type = GradCAMPlusPlus,
        **kwargs: Any,
    ) -> None:
        self.base_cam_per_layer = [
            base_method(model, [layer], reshape_transform, **kwargs) for layer in target_layers
        ]

    def forward(
        self,
        input_tensor: torch.Tensor,
        targets: Sequence[PeerTarget] | None = None,
        eigen_smooth: bool = False,
    ) -> np.ndarray:
        maps = [
            cam(input_tensor, targets, eigen_smooth=eigen_smooth) for cam in self.base_cam_per_layer
        ]
        return scale_cam_image(np.prod(np.stack(maps), axis=0))
