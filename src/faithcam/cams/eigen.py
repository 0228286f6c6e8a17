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

Sign: a singular vector is only defined up to sign. pytorch-grad-cam 1.5.7 applies no sign
correction to Eigen-CAM (it keeps what LAPACK's SVD returns, then its ReLU); faithcam does the
same by running the SVD with LAPACK on the CPU (the matrices are small, hw × K), so the sign
matches the peer's on every device; kernel PCA's eigenvector is signed as scikit-learn's
(its largest-magnitude entry positive). NaNs are treated as 0, as the peer does.
"""

from __future__ import annotations

import torch

from faithcam.errors import FaithcamTypeError, FaithcamValueError

KERNELS = ("sigmoid", "rbf", "poly", "linear")


def _centred_features(tensor: torch.Tensor) -> torch.Tensor:
    """(B, K, h, w) -> (B, hw, K) feature vectors, centred per channel, on the CPU in float32
    (float64 stays float64), NaN -> 0."""
    x = tensor.detach().flatten(2).transpose(1, 2).cpu()
    x = x if x.dtype == torch.float64 else x.float()
    x = torch.nan_to_num(x, nan=0.0)
    return x - x.mean(dim=1, keepdim=True)


def first_component(tensor: torch.Tensor) -> torch.Tensor:
    """Projection of each position on the first principal component: (B, K, h, w) -> (B, h, w).

    map = X v₁ with X the centred (hw × K) matrix and v₁ its first right-singular vector (LAPACK
    on the CPU, the sign it returns, as pytorch-grad-cam 1.5.7).
    """
    x = _centred_features(tensor)
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    projection = torch.einsum("bnk,bk->bn", x, vh[:, 0])
    return projection.view(tensor.shape[0], *tensor.shape[2:]).to(tensor.device, tensor.dtype)


def eigencam(activations: torch.Tensor) -> torch.Tensor:
    """Eigen-CAM (Muhammad & Yeasin, IJCNN 2020): the first principal component of A."""
    return first_component(activations)


def eigengradcam(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """EigenGradCAM (pytorch-grad-cam): the first principal component of G ⊙ A."""
    return first_component(gradients * activations)


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


def kpcacam(activations: torch.Tensor, kernel: str = "sigmoid", gamma: float | None = None):
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
