"""ARCC (Gildenblat, arXiv 2605.14641, after Poppi et al., "Revisiting the Evaluation of Class
Activation Mapping for Explainability", CVPR-W 2021) in pytorch-grad-cam 1.5.7's classes.

- Complexity: mean |M| over the pixels (0: empty map, 1: all ones; lower is better).
- Coherency: (ρ(M, M') + 1) / 2, ρ Pearson's correlation (ε = 1e-8) between the map M and the
  map M' the base method gives for the image multiplied by M.
- ARCC: the harmonic mean of coherency, 1 − complexity and ROAD, the last as
  clip(2 · ROADCombined, 0, 1) over the percentiles 20, 40, 60, 80 (each term + 1e-8).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from faithcam.compat.pytorch_grad_cam.metrics.road import ROADCombined

EPS = 1e-8


def batch_pearson_coherency(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pearson's ρ between the flattened A[i] and B[i] (sample standard deviations, ε = 1e-8)."""
    a = A.reshape(A.shape[0], -1)
    b = B.reshape(B.shape[0], -1)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    n = a.shape[1] - 1
    covariance = (a * b).sum(axis=1) / n
    spread = np.sqrt((a**2).sum(axis=1) / n) * np.sqrt((b**2).sum(axis=1) / n)
    return covariance / (spread + EPS)


class Complexity:
    def __call__(self, grayscale_cams: np.ndarray) -> np.ndarray:
        flat = grayscale_cams.reshape(grayscale_cams.shape[0], -1)
        return np.abs(flat).sum(axis=1) / flat.shape[1]


class Coherency:
    def __call__(
        self,
        input_tensor: torch.Tensor,
        grayscale_cams: np.ndarray,
        targets: Sequence[Callable],
        model: nn.Module,
        base_method: Callable,
    ) -> np.ndarray:
        masks = torch.from_numpy(grayscale_cams)[:, None].to(input_tensor.device)
        again = base_method(input_tensor=input_tensor * masks, targets=targets)
        return (batch_pearson_coherency(again, grayscale_cams) + 1) / 2


class ARCC:
    def __init__(self, base_method: Callable, road_percentiles: Sequence[float] = (20, 40, 60, 80)):
        self.complexity = Complexity()
        self.coherency = Coherency()
        self.road = ROADCombined(percentiles=road_percentiles)
        self.base_method = base_method

    def __call__(self, input_tensor, grayscale_cams, targets, model) -> np.ndarray:
        complexity = self.complexity(grayscale_cams)
        coherency = self.coherency(input_tensor, grayscale_cams, targets, model, self.base_method)
        road = np.clip(self.road(input_tensor, grayscale_cams, targets, model) * 2, 0, 1)
        inverse = 1 / (coherency + EPS) + 1 / ((1 - complexity) + EPS) + 1 / (road + EPS)
        return 3 / inverse
