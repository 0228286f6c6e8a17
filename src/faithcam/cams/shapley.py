"""ShapleyCAM (Cai et al., "CAMs as Shapley Value-based Explainers", 2025, arXiv 2501.06261).

A second-order Taylor expansion of the score around the activations gives each channel's
Shapley-style contribution; averaged over positions, the channel weights are

    w_k = (1/Z) Σ_ij (G − ½ H·A)^k_ij,   map = ReLU(Σ_k w_k A^k),

G = ∂y^c/∂A and H·A the Hessian-vector product ∂/∂A (G · A) with A held fixed. The capture
engine gets both from one forward and a double backward through the head only (the part of the
network after the layer). On heads that are piecewise linear in A (ReLU, pooling, linear layers
on logits) H·A = 0 and ShapleyCAM equals Grad-CAM.
"""

from __future__ import annotations

import torch

from faithcam.cams.call import Call, make_result
from faithcam.cams.eigen import first_component
from faithcam.engine.capture import capture
from faithcam.engine.result import CamResult


def run_shapleycam(call: Call) -> CamResult:
    """ShapleyCAM maps of ``call`` (chunks of ``batch_size`` images)."""
    call.take_options({})
    target, layer = call.bind(), call.resolve()
    images = call.images
    maps, scores = [], []
    for start in range(0, len(images), call.batch_size):
        inputs = images[start : start + call.batch_size]
        index = torch.arange(start, start + len(inputs), device=images.device)
        is_input = torch.ones(len(inputs), dtype=torch.bool, device=images.device)
        captured = capture(
            call.model,
            layer,
            inputs,
            target,
            index,
            is_input,
            output_selector=call.output_selector,
            hessian_product=True,
        )
        corrected = captured.gradients - 0.5 * captured.hessian_product
        terms = corrected.mean(dim=(2, 3))[:, :, None, None] * captured.activations
        maps.append(first_component(terms) if call.eigen_smooth else terms.sum(dim=1))
        scores.append(captured.scores)
    settings = {"eigen_smooth": call.eigen_smooth}
    return make_result(call, torch.cat(maps), target, torch.cat(scores), layer.name, settings)
