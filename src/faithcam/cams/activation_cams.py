"""CAMs computed from the layer's activations alone (one forward pass, no gradient):

- EigenCAM and KPCA-CAM: principal components of the activations (:mod:`faithcam.cams.eigen`);
  class-agnostic, the target only sets ``result.targets`` / ``scores``.
- RandomCAM (pytorch-grad-cam's sanity baseline, after Adebayo et al., "Sanity Checks for
  Saliency Maps", NeurIPS 2018): w_k ~ U(−1, 1) i.i.d. per image and channel, drawn from the
  call's generator (``seed=``), map = Σ_k w_k A^k. A faithful method should beat it.
"""

from __future__ import annotations

import torch

from faithcam.cams.call import Call, make_result
from faithcam.cams.eigen import check_kernel, eigencam, first_component, kpcacam
from faithcam.engine.result import CamResult
from faithcam.engine.targets import class_agnostic


def run_eigencam(call: Call) -> CamResult:
    """Eigen-CAM: the first principal component of A (``eigen_smooth`` changes nothing)."""
    call.take_options({})
    target, layer = class_agnostic(call.bind()), call.resolve()
    captured = call.forward_capture(layer, target)
    raw = eigencam(captured.activations)
    return make_result(call, raw, target, captured.scores, layer.name, {})


def run_kpcacam(call: Call) -> CamResult:
    """KPCA-CAM: the first kernel principal component of A (options ``kernel``, ``gamma``)."""
    options = call.take_options({"kernel": "sigmoid", "gamma": None})
    check_kernel(options["kernel"], options["gamma"])
    target, layer = class_agnostic(call.bind()), call.resolve()
    captured = call.forward_capture(layer, target)
    raw = kpcacam(captured.activations, options["kernel"], options["gamma"])
    return make_result(call, raw, target, captured.scores, layer.name, options)


def random_weights(
    shape: tuple[int, int], generator: torch.Generator | None, like: torch.Tensor
) -> torch.Tensor:
    """(B, K) weights drawn i.i.d. from U(−1, 1)."""
    device = generator.device if generator is not None else None
    draws = torch.rand(shape, generator=generator, device=device, dtype=torch.float64)
    return (2 * draws - 1).to(like.device, like.dtype)


def run_randomcam(call: Call) -> CamResult:
    """RandomCAM: map = Σ_k w_k A^k with w_k ~ U(−1, 1) (first principal component of w_k A^k
    with ``eigen_smooth``)."""
    call.take_options({})
    target, layer = class_agnostic(call.bind()), call.resolve()
    captured = call.forward_capture(layer, target)
    activations = captured.activations
    weights = random_weights(tuple(activations.shape[:2]), call.generator, activations)
    terms = weights[:, :, None, None] * activations
    raw = first_component(terms) if call.eigen_smooth else terms.sum(dim=1)
    settings = {"eigen_smooth": call.eigen_smooth}
    return make_result(call, raw, target, captured.scores, layer.name, settings)
