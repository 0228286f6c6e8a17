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

from faithcam.cams.eigen import first_component
from faithcam.cams.method import Method, Raw
from faithcam.cams.weightings import per_channel
from faithcam.engine.capture import capture_batches
from faithcam.engine.request import Request


class ShapleyCAM(Method):
    """ShapleyCAM maps (chunks of ``batch_size`` images; no options)."""

    kind = "computed from its own gradient and Hessian-vector product"

    def run(self, request: Request) -> Raw:
        maps, scores = [], []
        for _, captured in capture_batches(request, hessian_product=True):
            corrected = captured.gradients - 0.5 * captured.hessian_product
            terms = per_channel(corrected.flatten(2).mean(2), captured.activations)
            maps.append(first_component(terms) if request.eigen_smooth else terms.sum(dim=1))
            scores.append(captured.scores)
        settings = {"eigen_smooth": request.eigen_smooth}
        raw, all_scores = torch.cat(maps), torch.cat(scores)
        return Raw(raw, all_scores, request.layer.name, settings, request.target)
