"""Weighting rules: activations A and (estimated) gradients G -> a low-resolution signed map.

Each rule takes A, G of shape (B, K, h, w) and returns the map before the final ReLU, shape
(B, h, w); the rules sum over "every dimension after the channels", so the (B, K, T, h, w)
activations of a 3-D (video) convolution give a (B, T, h, w) map by the same formula. Which
estimator produced G (vanilla, integrated, expected, smooth) is not their business: that is the
point of the estimator x weighting split. :data:`WEIGHTINGS` holds every rule once, with its
per-channel terms (``eigen_smooth``); ``faithcam.register_weighting`` adds one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from faithcam.cams.eigen import eigengradcam, first_component, segeigencam
from faithcam.errors import FaithcamValueError

Weighting = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
EPS = 1e-7


def _weighted_sum(weights: torch.Tensor, activations: torch.Tensor) -> torch.Tensor:
    """Σ_k w_k A^k for channel weights (B, K)."""
    return torch.einsum("bk,bk...->b...", weights, activations)


def per_channel(weights: torch.Tensor, activations: torch.Tensor) -> torch.Tensor:
    """The terms w_k A^k (B, K, ...) for channel weights (B, K) (any number of spatial dims)."""
    return weights.view(*weights.shape, *[1] * (activations.dim() - 2)) * activations


def gradcam_weights(gradients: torch.Tensor) -> torch.Tensor:
    """Grad-CAM's channel weights w_k = (1/Z) Σ_ij G^k_ij, (B, K)."""
    return gradients.flatten(2).mean(2)


def gradcam(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al., ICCV 2017): w_k = (1/Z) Σ_ij G^k_ij, map = Σ_k w_k A^k."""
    return torch.einsum("bk,bk...->b...", gradients.flatten(2).mean(2), activations)


def gradcam_plus_plus_weights(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++'s channel weights w_k (see :func:`gradcam_plus_plus`), (B, K)."""
    spatial = tuple(range(2, activations.dim()))
    activation_sums = activations.sum(dim=spatial, keepdim=True)
    denominator = 2 + activation_sums * gradients
    valid = (gradients != 0) & (denominator != 0)
    alpha = torch.where(valid, 1 / torch.where(valid, denominator, 1.0), 0.0)
    return (alpha * gradients.clamp(min=0)).flatten(2).sum(2)


def gradcam_plus_plus(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++ (Chattopadhyay et al., WACV 2018, eq. 19, exponential score):

    α^k_ij = G² / (2 G² + Σ_ab A^k_ab G³) = 1 / (2 + Σ_ab A^k_ab · G^k_ij)  (0 where G = 0
    or the denominator vanishes), w_k = Σ_ij α^k_ij ReLU(G^k_ij), map = Σ_k w_k A^k.

    The second form is the paper's formula divided by G², exact and free of the ε that
    pytorch-grad-cam adds to the denominator (its ε = 1e-6 damps α where |G| is small).
    """
    return _weighted_sum(gradcam_plus_plus_weights(activations, gradients), activations)


def xgradcam(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """XGrad-CAM (Fu et al., BMVC 2020): w_k = Σ_ij (A^k_ij / Σ_ab A^k_ab) G^k_ij,
    map = Σ_k w_k A^k. Conservation: on ReLU nets with a GAP + linear head the map sums to
    the class score minus the bias.
    """
    return _weighted_sum(xgradcam_weights(activations, gradients), activations)


def xgradcam_weights(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """XGrad-CAM's channel weights w_k = Σ_ij (A^k_ij / Σ_ab A^k_ab) G^k_ij, (B, K)."""
    activation_sums = activations.flatten(2).sum(2)
    return (activations * gradients).flatten(2).sum(2) / (activation_sums + EPS)


def hirescam(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """HiResCAM (Draelos & Carin, 2020): map = Σ_k G^k ⊙ A^k, no spatial averaging.

    Equals CAM / Z on a GAP + linear head.
    """
    return (gradients * activations).sum(dim=1)


def layercam(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """LayerCAM (Jiang et al., IEEE TIP 2021): map = Σ_k ReLU(G^k) ⊙ A^k."""
    return (gradients.clamp(min=0) * activations).sum(dim=1)


def gradcam_elementwise(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """GradCAMElementWise (pytorch-grad-cam): map = Σ_k ReLU(G^k ⊙ A^k), HiResCAM with the ReLU
    applied per channel before the sum."""
    return (gradients * activations).clamp(min=0).sum(dim=1)


@dataclass
class WeightingRule:
    """A weighting rule, from one source: its per-channel terms T_k (B, K, h, w), whose sum
    over the channels k is the map, and (for the built-in rules) the map computed directly.

    ``map`` is (A, G) -> the (B, h, w) map Σ_k T_k; ``smoothed`` (``eigen_smooth=True``) the
    projection of the T_k on their first principal component (:mod:`faithcam.cams.eigen`). A
    rule whose map already is that projection (``projected``: EigenGradCAM, Seg-Eigen-CAM)
    is its own smoothing.
    """

    name: str
    channel_terms: Weighting
    direct: Weighting | None = None  # the map without materialising the terms (same formula)
    citation: str = ""
    projected: bool = False
    map: Weighting = field(init=False, repr=False)
    smoothed: Weighting = field(init=False, repr=False)

    def __post_init__(self) -> None:
        terms = self.channel_terms
        self.map = self.direct or (lambda a, g: terms(a, g).sum(dim=1))
        self.smoothed = self.map if self.projected else lambda a, g: first_component(terms(a, g))

    def __call__(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        return self.map(activations, gradients)


WEIGHTINGS: dict[str, WeightingRule] = {
    rule.name: rule
    for rule in (
        WeightingRule(
            "gradcam",
            lambda a, g: per_channel(gradcam_weights(g), a),
            gradcam,
            "Selvaraju et al., ICCV 2017",
        ),
        WeightingRule(
            "gradcam++",
            lambda a, g: per_channel(gradcam_plus_plus_weights(a, g), a),
            gradcam_plus_plus,
            "Chattopadhyay et al., WACV 2018",
        ),
        WeightingRule(
            "xgradcam",
            lambda a, g: per_channel(xgradcam_weights(a, g), a),
            xgradcam,
            "Fu et al., BMVC 2020",
        ),
        WeightingRule("hirescam", lambda a, g: g * a, hirescam, "Draelos & Carin, 2020"),
        WeightingRule(
            "layercam", lambda a, g: g.clamp(min=0) * a, layercam, "Jiang et al., IEEE TIP 2021"
        ),
        WeightingRule(
            "gradcam-elementwise",
            lambda a, g: (g * a).clamp(min=0),
            gradcam_elementwise,
            "pytorch-grad-cam, 2021",
        ),
        # its map is already the first principal component of G ⊙ A
        WeightingRule("eigengradcam", lambda a, g: g * a, eigengradcam, "pytorch-grad-cam", True),
        WeightingRule(
            "segeigencam",
            lambda a, g: g.abs() * a,
            segeigencam,
            "Chung & Ying, Appl. Sci. 2025",
            True,
        ),
    )
}


def get_weighting(name: str, eigen_smooth: bool = False) -> Weighting:
    """The map function (A, G) -> (B, h, w) of the rule called ``name`` (one of
    :data:`WEIGHTINGS`), eigen-smoothed if asked."""
    try:
        rule = WEIGHTINGS[name]
    except KeyError:
        raise FaithcamValueError(
            f"weighting: unknown rule {name!r}; valid: {', '.join(WEIGHTINGS)}"
        ) from None
    return rule.smoothed if eigen_smooth else rule.map
