"""CAMs computed from the layer's activations alone (one forward pass, no gradient):

- EigenCAM and KPCA-CAM: principal components of the activations (:mod:`faithcam.cams.eigen`);
  class-agnostic, the target only sets ``result.targets`` / ``scores``.
- RandomCAM (pytorch-grad-cam's sanity baseline, after Adebayo et al., "Sanity Checks for
  Saliency Maps", NeurIPS 2018): w_k ~ U(−1, 1) i.i.d. per image and channel, drawn from the
  call's generator (``seed=``), map = Σ_k w_k A^k. A faithful method should beat it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from faithcam.cams.eigen import check_kernel, eigencam, first_component, kpcacam
from faithcam.cams.method import Method, Raw
from faithcam.engine.capture import capture_inputs
from faithcam.engine.request import Request


class EigenCAM(Method):
    """Eigen-CAM: the first principal component of A (``eigen_smooth`` changes nothing)."""

    def run(self, request: Request) -> Raw:
        captured = capture_inputs(request)
        raw = eigencam(captured.activations)
        return Raw(raw, captured.scores, request.layer.name, {}, request.target)


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

    def run(self, request: Request) -> Raw:
        captured = capture_inputs(request)
        activations = captured.activations
        weights = random_weights(tuple(activations.shape[:2]), request.generator, activations)
        terms = weights[:, :, None, None] * activations
        raw = first_component(terms) if request.eigen_smooth else terms.sum(dim=1)
        settings = {"eigen_smooth": request.eigen_smooth}
        return Raw(raw, captured.scores, request.layer.name, settings, request.target)
