"""Confidence change after multiplying the (normalised) image by its CAM, x ⊙ M
(pytorch-grad-cam's ``cam_mult_image``): the change itself, its drop max(0, s(x) − s(x ⊙ M))
and whether it increased, 1[s(x ⊙ M) > s(x)]."""

from __future__ import annotations

import numpy as np
import torch

from faithcam.compat.pytorch_grad_cam.metrics.perturbation_confidence import (
    PerturbationConfidenceMetric,
)


def multiply_tensor_with_cam(input_tensor: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """x ⊙ M (the map broadcast over the channels)."""
    return input_tensor * cam


class CamMultImageConfidenceChange(PerturbationConfidenceMetric):
    """s(x ⊙ M) − s(x) per image."""

    def __init__(self) -> None:
        super().__init__(multiply_tensor_with_cam)


class DropInConfidence(CamMultImageConfidenceChange):
    """max(0, s(x) − s(x ⊙ M)) per image."""

    def __call__(self, *args, **kwargs) -> np.ndarray:
        return np.maximum(-super().__call__(*args, **kwargs), 0)


class IncreaseInConfidence(CamMultImageConfidenceChange):
    """1 where s(x ⊙ M) > s(x), else 0, per image (float32)."""

    def __call__(self, *args, **kwargs) -> np.ndarray:
        return np.float32(super().__call__(*args, **kwargs) > 0)
