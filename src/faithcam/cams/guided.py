"""Guided backpropagation and Guided Grad-CAM.

- Guided backpropagation (Springenberg et al., "Striving for Simplicity: The All Convolutional
  Net", ICLR-W 2015): the gradient of the score with respect to the input, where every ReLU
  passes back only positive gradients at positive inputs, R_in = R_out · [x > 0] · [R_out > 0].
- Guided Grad-CAM (Selvaraju et al., ICCV 2017, sec. 3): the guided backpropagation map
  multiplied element-wise by the Grad-CAM map upsampled to the input size,
  GGC_c = GB_c ⊙ Up(ReLU(Grad-CAM)) for every input channel c.

The ReLUs are changed only for the duration of the call, by temporary hooks (a forward hook on
each ``nn.ReLU`` module wraps its output in an identity whose backward clamps the incoming
gradient at 0; the ReLU's own backward supplies [x > 0]); they are removed in ``finally`` and
the model is never edited (pytorch-grad-cam swaps the modules in and out instead). Functional
ReLUs (``F.relu`` inside a forward) are not guided, as in the peer. The ``explain`` method
``"guided-gradcam"`` returns one (B, H, W) map per image, max_c |GGC_c| (the channel reduction
of Simonyan et al., 2014), and :func:`guided_gradcam` the full (B, C, H, W) product.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from faithcam.cams.method import Method, Raw
from faithcam.cams.weightings import get_weighting
from faithcam.engine.capture import Rows, capture_batches
from faithcam.engine.layers import LayerSpec
from faithcam.engine.request import Request
from faithcam.engine.targets import OutputSelector, as_target, select_output


class _PositiveGradient(torch.autograd.Function):
    """Identity forward; backward passes only the positive part of the gradient."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad.clamp(min=0)


def _guide(_module: nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor:
    return _PositiveGradient.apply(output)


def _guided_chunk(request: Request, rows: Rows) -> torch.Tensor:
    """Guided-backpropagation input gradients of one chunk."""
    model = request.model
    handles = [m.register_forward_hook(_guide) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.enable_grad():
            leaf = rows.inputs.detach().requires_grad_(True)
            outputs = select_output(model(leaf), request.output_selector)
            scores = request.target.scores(outputs, rows.image_index, rows.is_input)
            (gradient,) = torch.autograd.grad(scores.sum(), leaf)
    finally:
        for handle in handles:
            handle.remove()
    return gradient


def _guided(request: Request) -> torch.Tensor:
    batches = capture_batches(request, run=lambda rows: _guided_chunk(request, rows))
    return torch.cat([gradient for _, gradient in batches])


def guided_backprop(
    model: nn.Module,
    images: torch.Tensor,
    targets: Any = None,
    *,
    batch_size: int = 16,
    output_selector: OutputSelector = None,
) -> torch.Tensor:
    """Guided backpropagation (Springenberg et al., 2015): (B, C, H, W) input gradients."""
    request = Request.build(
        model, images, as_target(targets), batch_size=batch_size, output_selector=output_selector
    )
    return _guided(request)


def _gradcam_and_guided(request: Request) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(upsampled ReLU Grad-CAM (B, 1, H, W), guided backprop, scores)."""
    maps, scores = [], []
    weighting = get_weighting("gradcam", request.eigen_smooth)
    for _, captured in capture_batches(request):
        maps.append(weighting(captured.activations, captured.gradients))
        scores.append(captured.scores)
    size = tuple(request.images.shape[-2:])
    cam = torch.cat(maps).clamp(min=0)[:, None]
    cam = F.interpolate(cam, size=size, mode="bilinear", align_corners=False)
    return cam, _guided(request), torch.cat(scores)


def guided_gradcam(
    model: nn.Module,
    images: torch.Tensor,
    targets: Any = None,
    layer: LayerSpec = None,
    *,
    batch_size: int = 16,
    output_selector: OutputSelector = None,
) -> torch.Tensor:
    """Guided Grad-CAM (Selvaraju et al., 2017): GB ⊙ Up(ReLU(Grad-CAM)), (B, C, H, W)."""
    request = Request.build(
        model, images, as_target(targets), batch_size=batch_size, output_selector=output_selector
    )
    cam, guided, _ = _gradcam_and_guided(request.at_layer(layer))
    return guided * cam


class GuidedGradCAM(Method):
    """``method="guided-gradcam"``: map = max_c |GB_c ⊙ Up(ReLU(Grad-CAM))|, (B, H, W)."""

    kind = "computed from its own guided gradients"

    def run(self, request: Request) -> Raw:
        cam, guided, scores = _gradcam_and_guided(request)
        raw = (guided * cam).abs().amax(dim=1)
        settings = {"reduction": "max_c |GB_c * cam|", "eigen_smooth": request.eigen_smooth}
        return Raw(raw, scores, request.layer.name, settings, request.target)
