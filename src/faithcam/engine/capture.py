"""The capture engine: activations and target-score gradients at one layer, at forward cost.

The cost floor of a gradient CAM is one forward pass: the gradient is only needed from the
target score back to the target layer. So the network runs **without autograd** up to the
layer; a forward hook on the layer switches autograd on and hands downstream a clone of a fresh
leaf ``A.detach().requires_grad_()`` (the clone keeps in-place ops after the layer legal); the
gradient comes from ``torch.autograd.grad(score.sum(), leaf)``: no ``.backward()``, no parameter
``.grad``, no graph over the backbone. Every hook is removed and grad mode restored in
``finally``; the model's mode, parameters and ``requires_grad`` flags are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from faithcam.engine.layers import ResolvedLayer
from faithcam.engine.targets import BoundTarget, OutputSelector, select_output
from faithcam.errors import LayerError, TargetError


@dataclass
class Capture:
    """What one forward pass of a chunk of sample rows gives at the target layer."""

    activations: torch.Tensor  # (N, K, h, w), detached
    gradients: torch.Tensor | None  # (N, K, h, w) d score / d activations, or None
    scores: torch.Tensor  # (N,) target scores, detached
    outputs: torch.Tensor  # (N, ...) selected model outputs, detached
    hessian_product: torch.Tensor | None = None  # (N, K, h, w) H·A, H = ∂²score/∂A², if asked


class _LayerHook:
    """Forward hook that records the layer's output and, if asked, makes it an autograd leaf."""

    def __init__(self, layer: ResolvedLayer, with_gradients: bool) -> None:
        self.layer = layer
        self.with_gradients = with_gradients
        self.calls = 0
        self.activations: torch.Tensor | None = None
        self.leaf: torch.Tensor | None = None

    def __call__(self, _module: nn.Module, _inputs: object, output: object) -> torch.Tensor | None:
        self.calls += 1
        if self.calls > 1:
            raise LayerError(
                f"layer: {self.layer.name!r} runs more than once per forward pass (a shared "
                "module); its activations are ambiguous. Pick a module that runs once."
            )
        if not isinstance(output, torch.Tensor):
            raise LayerError(
                f"layer: {self.layer.name!r} returns {type(output).__name__}, expected a tensor"
            )
        if output.dim() != 4:
            raise LayerError(
                f"layer: {self.layer.name!r} returns a {output.dim()}-D tensor of shape "
                f"{tuple(output.shape)}; expected a 4-D (N, C, h, w) feature map"
            )
        if not self.with_gradients:
            # A copy: an in-place op after the layer (DenseNet's F.relu(inplace=True)) would
            # otherwise overwrite the activations we keep.
            self.activations = output.detach().clone()
            return None
        self.activations = output.detach()
        torch.set_grad_enabled(True)
        self.leaf = output.detach().requires_grad_(True)
        return self.leaf.clone()


def capture(
    model: nn.Module,
    layer: ResolvedLayer,
    inputs: torch.Tensor,
    target: BoundTarget,
    image_index: torch.Tensor,
    is_input: torch.Tensor,
    *,
    with_gradients: bool = True,
    output_selector: OutputSelector = None,
    hessian_product: bool = False,
) -> Capture:
    """Run one forward (and, if asked, the head's backward) of ``inputs`` at ``layer``.

    ``image_index[i]`` is the image that sample row i belongs to and ``is_input[i]`` whether the
    row is that image unmodified (used to resolve *predicted class* targets).
    ``hessian_product=True`` also returns H·A, the Hessian of the score with respect to the
    layer's activations times the activations (a double backward through the head only).
    """
    hook = _LayerHook(layer, with_gradients)
    grad_mode = torch.is_grad_enabled()
    handle = layer.module.register_forward_hook(hook)
    try:
        context = torch.no_grad() if with_gradients else torch.inference_mode()
        with context:
            raw_outputs = model(inputs)
            if hook.activations is None:
                raise LayerError(
                    f"layer: {layer.name!r} was never called during the forward pass; pick a "
                    "module on the path from the input to the output"
                )
            outputs = select_output(raw_outputs, output_selector)
            scores = target.scores(outputs, image_index, is_input)
            gradients = (
                _score_gradients(scores, hook.leaf, layer, hessian_product)
                if with_gradients
                else None
            )
            product = None
            if hessian_product and gradients is not None:
                product = _hessian_product(gradients, hook.leaf)
                gradients = gradients.detach()
    finally:
        handle.remove()
        torch.set_grad_enabled(grad_mode)
    return Capture(hook.activations, gradients, scores.detach(), outputs.detach(), product)


def _hessian_product(gradients: torch.Tensor, leaf: torch.Tensor) -> torch.Tensor:
    """H·A = ∂/∂A (G · A) with A held fixed; zero where G does not depend on A (linear heads)."""
    if not gradients.requires_grad:
        return torch.zeros_like(gradients)
    (product,) = torch.autograd.grad(
        gradients, leaf, grad_outputs=leaf.detach(), allow_unused=True
    )
    return torch.zeros_like(gradients) if product is None else product


def _score_gradients(
    scores: torch.Tensor,
    leaf: torch.Tensor | None,
    layer: ResolvedLayer,
    create_graph: bool = False,
) -> torch.Tensor:
    if leaf is None or not scores.requires_grad:
        raise TargetError(
            f"targets: the target score does not depend on layer {layer.name!r} "
            "(no gradient path from the score to the layer)"
        )
    (gradients,) = torch.autograd.grad(
        scores.sum(), leaf, allow_unused=True, create_graph=create_graph
    )
    if gradients is None:
        raise TargetError(
            f"targets: the target score does not depend on layer {layer.name!r} "
            "(no gradient path from the score to the layer)"
        )
    return gradients


def capture_inputs(
    model: nn.Module,
    layer: ResolvedLayer,
    images: torch.Tensor,
    target: BoundTarget,
    *,
    batch_size: int,
    output_selector: OutputSelector = None,
) -> Capture:
    """Forward-only capture of every image (chunks of ``batch_size``), concatenated."""
    chunks = []
    for start in range(0, len(images), batch_size):
        inputs = images[start : start + batch_size]
        index = torch.arange(start, start + len(inputs), device=images.device)
        is_input = torch.ones(len(inputs), dtype=torch.bool, device=images.device)
        chunks.append(
            capture(
                model,
                layer,
                inputs,
                target,
                index,
                is_input,
                with_gradients=False,
                output_selector=output_selector,
            )
        )
    return Capture(
        torch.cat([c.activations for c in chunks]),
        None,
        torch.cat([c.scores for c in chunks]),
        torch.cat([c.outputs for c in chunks]),
    )
