"""CAMs computed from the layer's activations alone (one forward pass, no gradient):

- EigenCAM and KPCA-CAM: principal components of the activations (:mod:`faithcam.cams.eigen`);
  class-agnostic, the target only sets ``result.targets`` / ``scores``.
- FEM (Fuad et al., "Features Understanding in 3D CNNs for Actions Recognition in Video", IPTA
  2020): each channel is binarised at the k-sigma threshold of its own values,
  B^k = 1[A^k > μ_k + k·σ_k] (μ_k, σ_k the mean and population standard deviation of A^k over
  the positions, k = 2 by default), its weight is the share of positions that pass,
  w_k = mean_ij B^k_ij, and map = Σ_k w_k A^k: channels with a few strong, localised responses
  weigh most. Class-agnostic, one forward pass.
- RandomCAM (pytorch-grad-cam's sanity baseline, after Adebayo et al., "Sanity Checks for
  Saliency Maps", NeurIPS 2018): w_k ~ U(−1, 1) i.i.d. per image and channel, drawn from the
  call's generator (``seed=``), map = Σ_k w_k A^k. A faithful method should beat it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from faithcam.cams.eigen import (
    check_kernel,
    check_sign_rule,
    eigencam,
    first_component,
    kpcacam,
)
from faithcam.cams.method import Method, Raw
from faithcam.cams.weightings import per_channel
from faithcam.engine.capture import capture_inputs
from faithcam.engine.request import Request
from faithcam.errors import FaithcamTypeError


@dataclass(frozen=True)
class SignOptions:
    """How the principal direction is signed (:data:`faithcam.cams.eigen.SIGN_RULES`):
    ``"pytorch-grad-cam"`` (NumPy's SVD, as the peer; the default), ``"faithcam"`` (the map
    correlates positively with the channel sum Σ_k A^k) or ``"peak"`` (largest |value|
    positive)."""

    sign: str = "pytorch-grad-cam"

    def __post_init__(self) -> None:
        check_sign_rule(self.sign)


class EigenCAM(Method):
    """Eigen-CAM: the first principal component of A, signed by option ``sign`` (default
    ``"pytorch-grad-cam"``, the peer's; ``"faithcam"``: the map correlates positively with the
    activation energy Σ_k A^k; see :mod:`faithcam.cams.eigen`). ``eigen_smooth`` changes
    nothing."""

    Options = SignOptions

    def run(self, request: Request) -> Raw:
        request = request.class_agnostic()
        captured = capture_inputs(request)
        raw = eigencam(captured.activations, self.options.sign)
        return Raw(raw, captured.scores, request.layer.name, self.settings(), request.target)


@dataclass(frozen=True)
class ThresholdOptions:
    """FEM's k in the k-sigma threshold μ_k + k·σ_k."""

    k: float = 2.0

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int | float):
            raise FaithcamTypeError(f"k: expected a number, got {self.k!r}")


def fem_weights(activations: torch.Tensor, k: float = 2.0) -> torch.Tensor:
    """FEM's (B, K) channel weights w_k = mean_ij 1[A^k_ij > μ_k + k·σ_k] (σ: population)."""
    flat = activations.flatten(2)
    threshold = flat.mean(dim=2, keepdim=True) + k * flat.std(dim=2, correction=0, keepdim=True)
    return (flat > threshold).to(activations.dtype).mean(dim=2)


class FEM(Method):
    """FEM: Σ_k w_k A^k with w_k the share of A^k above its k-sigma threshold (option ``k``);
    the first principal component of the terms w_k A^k with ``eigen_smooth``."""

    Options = ThresholdOptions

    def run(self, request: Request) -> Raw:
        request = request.class_agnostic()
        captured = capture_inputs(request)
        activations = captured.activations
        terms = per_channel(fem_weights(activations, self.options.k), activations)
        raw = first_component(terms) if request.eigen_smooth else terms.sum(dim=1)
        settings = {**self.settings(), "eigen_smooth": request.eigen_smooth}
        return Raw(raw, captured.scores, request.layer.name, settings, request.target)


@dataclass(frozen=True)
class KernelOptions:
    """KPCA-CAM's kernel (``"sigmoid"``, ``"rbf"``, ``"poly"``, ``"linear"``) and its γ
    (None: 1 / channels)."""

    kernel: str = "sigmoid"
    gamma: float | None = None

    def __post_init__(self) -> None:
        check_kernel(self.kernel, self.gamma)


class KPCACAM(Method):
    """KPCA-CAM: the first kernel principal component of A (options ``kernel``, ``gamma``)."""

    Options = KernelOptions

    def run(self, request: Request) -> Raw:
        request = request.class_agnostic()
        captured = capture_inputs(request)
        raw = kpcacam(captured.activations, self.options.kernel, self.options.gamma)
        return Raw(raw, captured.scores, request.layer.name, self.settings(), request.target)


def random_weights(
    shape: tuple[int, int], generator: torch.Generator | None, like: torch.Tensor
) -> torch.Tensor:
    """(B, K) weights drawn i.i.d. from U(−1, 1)."""
    device = generator.device if generator is not None else None
    draws = torch.rand(shape, generator=generator, device=device, dtype=torch.float64)
    return (2 * draws - 1).to(like.device, like.dtype)


class RandomCAM(Method):
    """RandomCAM: map = Σ_k w_k A^k with w_k ~ U(−1, 1) (first principal component of w_k A^k
    with ``eigen_smooth``)."""

    draws_random = True

    def run(self, request: Request) -> Raw:
        request = request.class_agnostic()
        captured = capture_inputs(request)
        activations = captured.activations
        weights = random_weights(tuple(activations.shape[:2]), request.generator, activations)
        terms = per_channel(weights, activations)
        raw = first_component(terms) if request.eigen_smooth else terms.sum(dim=1)
        settings = {"eigen_smooth": request.eigen_smooth}
        return Raw(raw, captured.scores, request.layer.name, settings, request.target)
