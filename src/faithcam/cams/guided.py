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

from faithcam.cams.call import Call, make_result
from faithcam.cams.weightings import eigen_smoothed, gradcam
from faithcam.engine.capture import capture
from faithcam.engine.result import CamResult
from faithcam.engine.targets import BoundTarget, OutputSelector, as_target, select_output
from faithcam.engine.validation import check_batch_size, check_images, check_model


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


def _guided_chunk(
    model: nn.Module,
    inputs: torch.Tensor,
    target: BoundTarget,
    index: torch.Tensor,
    output_selector: OutputSelector,
) -> torch.Tensor:
    handles = [m.register_forward_hook(_guide) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.enable_grad():
            leaf = inputs.detach().requires_grad_(True)
            outputs = select_output(model(leaf), output_selector)
            is_input = torch.ones(len(inputs), dtype=torch.bool, device=inputs.device)
            scores = target.scores(outputs, index, is_input)
            (gradient,) = torch.autograd.grad(scores.sum(), leaf)
    finally:
        for handle in handles:
            handle.remove()
    return gradient


def _guided(
    model: nn.Module,
    images: torch.Tensor,
    target: BoundTarget,
    batch_size: int,
    output_selector: OutputSelector,
) -> torch.Tensor:
    chunks = []
    for start in range(0, len(images), batch_size):
        inputs = images[start : start + batch_size]
        index = torch.arange(start, start + len(inputs), device=images.device)
        chunks.append(_guided_chunk(model, inputs, target, index, output_selector))
    return torch.cat(chunks)


def guided_backprop(
    model: nn.Module,
    images: torch.Tensor,
    targets: Any = None,
    *,
    batch_size: int = 16,
    output_selector: OutputSelector = None,
) -> torch.Tensor:
    """Guided backpropagation (Springenberg et al., 2015): (B, C, H, W) input gradients."""
    model, images = check_model(model), check_images(images)
    batch_size = check_batch_size(batch_size)
    target = as_target(targets).bind(len(images), images.device)
    return _guided(model, images, target, batch_size, output_selector)


def _gradcam_and_guided(call: Call) -> tuple[torch.Tensor, torch.Tensor, Any, Any, str]:
    """(upsampled ReLU Grad-CAM (B, 1, H, W), guided backprop, target, scores, layer)."""
    target, layer = call.bind(), call.resolve()
    images = call.images
    maps, scores = [], []
    weighting = eigen_smoothed("gradcam") if call.eigen_smooth else gradcam
    for start in range(0, len(images), call.batch_size):
        inputs = images[start : start + call.batch_size]
        index = torch.arange(start, start + len(inputs), device=images.device)
        is_input = torch.ones(len(inputs), dtype=torch.bool, device=images.device)
        captured = capture(
            call.model, layer, inputs, target, index, is_input, output_selector=call.output_selector
        )
        maps.append(weighting(captured.activations, captured.gradients))
        scores.append(captured.scores)
    size = tuple(images.shape[-2:])
    cam = torch.cat(maps).clamp(min=0)[:, None]
    cam = F.interpolate(cam, size=size, mode="bilinear", align_corners=False)
    guided = _guided(call.model, images, target, call.batch_size, call.output_selector)
    return cam, guided, target, torch.cat(scores), layer.name


def guided_gradcam(
    model: nn.Module,
    images: torch.Tensor,
    targets: Any = None,
    layer: Any = None,
    *,
    batch_size: int = 16,
    output_selector: OutputSelector = None,
) -> torch.Tensor:
    """Guided Grad-CAM (Selvaraju et al., 2017): GB ⊙ Up(ReLU(Grad-CAM)), (B, C, H, W)."""
    images = check_images(images)
    call = Call(
        check_model(model),
        images,
        "guided-gradcam",
        as_target(targets),
        layer,
        check_batch_size(batch_size),
        output_selector,
        True,
    )
    cam, guided, *_ = _gradcam_and_guided(call)
    return guided * cam


def run_guided_gradcam(call: Call) -> CamResult:
    """``method="guided-gradcam"``: map = max_c |GB_c ⊙ Up(ReLU(Grad-CAM))|, (B, H, W)."""
    call.take_options({})
    cam, guided, target, scores, layer = _gradcam_and_guided(call)
    raw = (guided * cam).abs().amax(dim=1)
    settings = {"reduction": "max_c |GB_c * cam|", "eigen_smooth": call.eigen_smooth}
    return make_result(call, raw, target, scores, layer, settings)
