"""Principal-component CAMs: the first principal component of a layer's feature vectors.

Each image's (K, h, w) tensor is read as h·w feature vectors of K channels, X ∈ R^{hw×K},
centred per channel (X − mean over positions); the map is the projection of every position on
the first right-singular vector v₁ of the centred X: map = X v₁ (= σ₁ u₁), reshaped to (h, w).

- EigenCAM (Muhammad & Yeasin, "Eigen-CAM: Class Activation Map using Principal Components",
  IJCNN 2020): the activations A, no gradient, no target (class-agnostic).
- EigenGradCAM (pytorch-grad-cam's variant): the element-wise product G ⊙ A.
- ``eigen_smooth=True`` (pytorch-grad-cam's option, for every method): the per-channel terms
  whose channel sum is the map (w_k A^k, G ⊙ A, ...) are projected instead of summed.
- KPCA-CAM (Karmani et al., "KPCA-CAM: Visual Explainability of Deep Computer Vision Models
  using Kernel PCA", 2024): the first kernel principal component of the centred X, with the
  kernel matrix double-centred as in kernel PCA: map = √λ₁ α₁, (λ₁, α₁) the top eigenpair of
  the centred kernel (sigmoid tanh(γ xᵀy + c₀) by default, γ = 1/K, c₀ = 1).

Sign: a singular vector is only defined up to sign, and the sign decides which region the map
shows after its ReLU (the principal direction or its complement). :data:`SIGN_RULES`:

- ``"pytorch-grad-cam"`` (the default): the sign NumPy's ``np.linalg.svd`` (LAPACK gesdd)
  returns for the centred float32 matrix, as pytorch-grad-cam 1.5.7 keeps it (no correction),
  so faithcam's Eigen-CAM, EigenGradCAM and ``eigen_smooth`` maps and the drop-in's match the
  peer's (with the same NumPy). torch's SVD returns the opposite sign on about a third of
  random matrices, which is why the SVD of this rule runs in NumPy, per image, on the CPU.
- ``"faithcam"``: v₁ is oriented so that its channel loadings sum to a positive number,
  Σ_k v₁k > 0. Since ⟨X v₁, X 1⟩ = ⟨X v₁, X_c 1⟩ = σ₁² Σ_k v₁k, this is the sign under which
  the map correlates positively with the channel sum Σ_k T_k (the activation energy for
  Eigen-CAM; for ``eigen_smooth`` the very map being smoothed), so the projection never
  inverts the map it summarises. A tie (|Σ_k v₁k| < 1e-6) falls back to ``"peak"``. It does
  not depend on the SVD routine, so it holds on every device and LAPACK build.
- ``"peak"``: Seg-Eigen-CAM's sign correction (Chung & Ying, Appl. Sci. 2025, eq. 13): the map
  is negated when |min| > |max|, so its largest-magnitude value is positive.

EigenCAM takes the rule as its option ``sign``; :func:`sign_rule` sets it for a block (every
``eigen_smooth`` map and EigenGradCAM within it).
Kernel PCA's eigenvector is signed as scikit-learn's (its largest-magnitude entry positive).
NaNs are treated as 0, as the peer does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import torch

from faithcam.errors import FaithcamTypeError, FaithcamValueError

KERNELS = ("sigmoid", "rbf", "poly", "linear")
SIGN_RULES = ("faithcam", "pytorch-grad-cam", "peak")
SIGN_TIE = 1e-6  # |Σ_k v₁k| below this (v₁ of unit norm) is a tie of the "faithcam" rule
_SIGN_RULE: ContextVar[str] = ContextVar("faithcam_eigen_sign_rule", default="pytorch-grad-cam")


def check_sign_rule(sign: str) -> str:
    if sign not in SIGN_RULES:
        raise FaithcamValueError(f"sign: expected one of {', '.join(SIGN_RULES)}, got {sign!r}")
    return sign


@contextmanager
def sign_rule(sign: str) -> Iterator[None]:
    """Within the block, :func:`first_component` (every Eigen-CAM, EigenGradCAM and
    ``eigen_smooth`` map) signs v₁ by ``sign`` (one of :data:`SIGN_RULES`)."""
    token = _SIGN_RULE.set(check_sign_rule(sign))
    try:
        yield
    finally:
        _SIGN_RULE.reset(token)


def _centred_features(tensor: torch.Tensor) -> torch.Tensor:
    """(B, K, h, w) -> (B, hw, K) feature vectors, centred per channel, on the CPU in float32
    (float64 stays float64), NaN -> 0."""
    x = tensor.detach().flatten(2).transpose(1, 2).cpu()
    x = x if x.dtype == torch.float64 else x.float()
    x = torch.nan_to_num(x, nan=0.0)
    return x - x.mean(dim=1, keepdim=True)


def peak_sign(maps: torch.Tensor) -> torch.Tensor:
    """(B,) signs that make each (B, ...) map's largest-magnitude value positive (Seg-Eigen-CAM,
    eq. 13: negate when |min| > |max|)."""
    flat = maps.flatten(1)
    return torch.where(flat.amin(1).abs() > flat.amax(1).abs(), -1.0, 1.0).to(maps.dtype)


def faithcam_sign(top: torch.Tensor, projection: torch.Tensor) -> torch.Tensor:
    """(B,) signs of faithcam's rule for the (B, K) first right-singular vectors ``top`` and
    their (B, hw) ``projection``: sign(Σ_k v₁k), or :func:`peak_sign` on a tie."""
    loadings = top.sum(dim=1)
    return torch.where(loadings.abs() < SIGN_TIE, peak_sign(projection), torch.sign(loadings))


def _numpy_projection(tensor: torch.Tensor) -> torch.Tensor:
    """(B, hw) X v₁ as pytorch-grad-cam 1.5.7 computes it: per image in NumPy, NaN -> 0, centred,
    v₁ from ``np.linalg.svd`` with the sign it returns (gesdd; the same v₁ as full matrices)."""
    x = tensor.detach().flatten(2).transpose(1, 2).cpu()
    array = np.nan_to_num((x if x.dtype == torch.float64 else x.float()).numpy())
    projections = []
    for matrix in array:
        centred = matrix - matrix.mean(axis=0)
        _, _, vh = np.linalg.svd(centred, full_matrices=False)
        projections.append(centred @ vh[0])
    return torch.from_numpy(np.stack(projections))


def first_component(tensor: torch.Tensor, sign: str | None = None) -> torch.Tensor:
    """Projection of each position on the first principal component: (B, K, h, w) -> (B, h, w).

    map = X v₁ with X the centred (hw × K) matrix and v₁ its first right-singular vector,
    signed by ``sign`` (one of :data:`SIGN_RULES`; None: the rule of the enclosing
    :func:`sign_rule` block, by default ``"pytorch-grad-cam"``). The SVD runs on the CPU (the
    matrices are small).
    """
    rule = check_sign_rule(_SIGN_RULE.get() if sign is None else sign)
    if rule == "pytorch-grad-cam":
        projection = _numpy_projection(tensor)
    else:
        x = _centred_features(tensor)
        _, _, vh = torch.linalg.svd(x, full_matrices=False)
        projection = torch.einsum("bnk,bk->bn", x, vh[:, 0])
        signs = faithcam_sign(vh[:, 0], projection) if rule == "faithcam" else None
        projection = projection * (peak_sign(projection) if signs is None else signs)[:, None]
    return projection.view(tensor.shape[0], *tensor.shape[2:]).to(tensor.device, tensor.dtype)


def eigencam(activations: torch.Tensor, sign: str | None = None) -> torch.Tensor:
    """Eigen-CAM (Muhammad & Yeasin, IJCNN 2020): the first principal component of A."""
    return first_component(activations, sign)


def eigengradcam(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """EigenGradCAM (pytorch-grad-cam): the first principal component of G ⊙ A."""
    return first_component(gradients * activations)


def segeigencam(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Seg-Eigen-CAM (Chung & Ying, "Seg-Eigen-CAM: Eigen-Value-Based Visual Explanations for
    Semantic Segmentation Models", Appl. Sci. 2025, eqs. 10-13): the first principal component
    of |G| ⊙ A (eq. 10: both signs of the gradient count as evidence), signed so that the map's
    largest-magnitude value is positive (eq. 13, the ``"peak"`` rule), whatever the SVD gave."""
    return first_component(gradients.abs() * activations, sign="peak")


def check_kernel(kernel: str, gamma: float | None) -> None:
    """Validate KPCA-CAM's options before any forward pass."""
    if kernel not in KERNELS:
        raise FaithcamValueError(f"kernel: expected one of {', '.join(KERNELS)}, got {kernel!r}")
    if gamma is not None and (isinstance(gamma, bool) or not isinstance(gamma, int | float)):
        raise FaithcamTypeError(f"gamma: expected a number or None, got {gamma!r}")
    if gamma is not None and not gamma > 0:
        raise FaithcamValueError(f"gamma: must be > 0, got {gamma}")


def _kernel_matrix(x: torch.Tensor, kernel: str, gamma: float) -> torch.Tensor:
    """(B, n, K) -> (B, n, n) kernel matrices (scikit-learn's definitions, c₀ = 1, degree 3)."""
    dot = x @ x.transpose(1, 2)
    if kernel == "linear":
        return dot
    if kernel == "sigmoid":
        return torch.tanh(gamma * dot + 1.0)
    if kernel == "poly":
        return (gamma * dot + 1.0) ** 3
    squared = x.pow(2).sum(-1)
    distances = (squared[:, :, None] + squared[:, None, :] - 2 * dot).clamp(min=0)
    return torch.exp(-gamma * distances)


def kpcacam(activations: torch.Tensor, kernel: str, gamma: float | None = None):
    """KPCA-CAM (Karmani et al., 2024): √λ₁ α₁ of the double-centred kernel matrix
    K̃ = K − 1ₙK − K1ₙ + 1ₙK1ₙ of the centred feature vectors; (B, K, h, w) -> (B, h, w)."""
    check_kernel(kernel, gamma)
    x = _centred_features(activations)
    matrix = _kernel_matrix(x, kernel, 1.0 / x.shape[-1] if gamma is None else float(gamma))
    matrix = (
        matrix
        - matrix.mean(dim=1, keepdim=True)
        - matrix.mean(dim=2, keepdim=True)
        + matrix.mean(dim=(1, 2), keepdim=True)
    )
    values, vectors = torch.linalg.eigh(matrix)
    top = vectors[..., -1]  # (B, n), eigenvalues ascending
    peak = top.gather(1, top.abs().argmax(dim=1, keepdim=True))
    top = top * torch.sign(peak)  # scikit-learn's svd_flip: largest |entry| positive
    projection = top * values[:, -1:].clamp(min=0).sqrt()
    shape = (activations.shape[0], *activations.shape[2:])
    return projection.view(shape).to(activations.device, activations.dtype)
