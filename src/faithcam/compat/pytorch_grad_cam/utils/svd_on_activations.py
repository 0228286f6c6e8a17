"""pytorch-grad-cam's projections of (B, K, h, w) NumPy activations on their first (kernel)
principal component -> (B, h, w) float32, on :mod:`faithcam.cams.eigen` (NaNs count as 0)."""

from __future__ import annotations

import numpy as np
import torch

from faithcam.cams.eigen import first_component, kpcacam


def _tensor(activation_batch: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.nan_to_num(np.array(activation_batch, copy=True), nan=0.0))


def get_2d_projection(activation_batch: np.ndarray) -> np.ndarray:
    """X v₁ of each centred (hw × K) matrix, with the sign NumPy's SVD gives (Eigen-CAM)."""
    return np.float32(first_component(_tensor(activation_batch), "pytorch-grad-cam").numpy())


def get_2d_projection_kernel(
    activation_batch: np.ndarray, kernel: str = "sigmoid", gamma: float | None = None
) -> np.ndarray:
    """√λ₁ α₁ of the double-centred kernel matrix (KPCA-CAM; scikit-learn's kernels)."""
    return np.float32(kpcacam(_tensor(activation_batch), kernel, gamma).numpy())


def get_2d_projection_with_sign_correction(activation_batch: np.ndarray) -> np.ndarray:
    """X v₁ negated when |min| > |max| (Seg-Eigen-CAM, eq. 13)."""
    return np.float32(first_component(_tensor(activation_batch), "peak").numpy())
