"""Weighting rules: activations A and (estimated) gradients G -> a low-resolution signed map.

Each rule takes A, G of shape (B, K, h, w) and returns the map before the final ReLU, shape
(B, h, w). Which estimator produced G (vanilla, integrated, expected, smooth) is not their
business: that is the point of the estimator x weighting split.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from faithcam.errors import FaithcamValueError

Weighting = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
EPS = 1e-7


def _weighted_sum(weights: torch.Tensor, activations: torch.Tensor) -> torch.Tensor:
    """Σ_k w_k A^k for channel weights (B, K)."""
    return torch.einsum("bk,bkhw->bhw", weights, activations)


def gradcam(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al., ICCV 2017): w_k = (1/Z) Σ_ij G^k_ij, map = Σ_k w_k A^k."""
    return _weighted_sum(gradients.mean(dim=(2, 3)), activations)


def gradcam_plus_plus(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++ (Chattopadhyay et al., WACV 2018, eq. 19, exponential score):

    α^k_ij = G² / (2 G² + Σ_ab A^k_ab G³) = 1 / (2 + Σ_ab A^k_ab · G^k_ij)  (0 where G = 0
    or the denominator vanishes), w_k = Σ_ij α^k_ij ReLU(G^k_ij), map = Σ_k w_k A^k.

    The second form is the paper's formula divided by G², exact and free of the ε that
    pytorch-grad-cam adds to the denominator (its ε = 1e-6 damps α where |G| is small).
    """
    activation_sums = activations.sum(dim=(2, 3), keepdim=True)
    denominator = 2 + activation_sums * gradients
    valid = (gradients != 0) & (denominator != 0)
    alpha = torch.where(valid, 1 / torch.where(valid, denominator, 1.0), 0.0)
    weights = (alpha * gradients.clamp(min=0)).sum(dim=(2, 3))
    return _weighted_sum(weights, activations)


def xgradcam(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """XGrad-CAM (Fu et al., BMVC 2020): w_k = Σ_ij (A^k_ij / Σ_ab A^k_ab) G^k_ij,
    map = Σ_k w_k A^k. Conservation: on ReLU nets with a GAP + linear head the map sums to
    the class score minus the bias.
    """
    activation_sums = activations.sum(dim=(2, 3))
    weights = (activations * gradients).sum(dim=(2, 3)) / (activation_sums + EPS)
    return _weighted_sum(weights, activations)


def hirescam(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """HiResCAM (Draelos & Carin, 2020): map = Σ_k G^k ⊙ A^k, no spatial averaging.

    Equals CAM / Z on a GAP + linear head.
    """
    return (gradients * activations).sum(dim=1)


def layercam(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """LayerCAM (Jiang et al., IEEE TIP 2021): map = Σ_k ReLU(G^k) ⊙ A^k."""
    return (gradients.clamp(min=0) * activations).sum(dim=1)


WEIGHTINGS: dict[str, Weighting] = {
    "gradcam": gradcam,
    "gradcam++": gradcam_plus_plus,
    "xgradcam": xgradcam,
    "hirescam": hirescam,
    "layercam": layercam,
}


def get_weighting(name: str) -> Weighting:
    """The weighting rule called ``name`` (one of :data:`WEIGHTINGS`)."""
    try:
        return WEIGHTINGS[name]
    except KeyError:
        raise FaithcamValueError(
            f"weighting: unknown rule {name!r}; valid: {', '.join(WEIGHTINGS)}"
        ) from None
