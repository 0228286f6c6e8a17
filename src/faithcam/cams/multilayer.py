"""Activations and gradients at several layers from one forward and one backward.

The capture engine's idea extended to a list of layers: the network runs without autograd up to
the first of them (in forward order); its hook switches autograd on and hands downstream a clone
of a fresh leaf; every later layer's output is kept as it is in the graph and a clone goes
downstream (in-place ops after a layer must not rewrite it); one ``torch.autograd.grad`` of the
summed target scores gives the gradient at every layer. Hooks are removed and grad mode restored
in ``finally``. Used by ``explain(..., layer=[...])`` for the gradient methods with the vanilla
estimator; the other methods run once per layer (:mod:`faithcam.cams.compose`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from faithcam.cams.method import Raw
from faithcam.cams.weightings import Weighting
from faithcam.engine.capture import Rows, capture_batches
from faithcam.engine.layers import ResolvedLayer, runs_twice_error
from faithcam.engine.targets import BoundTarget, OutputSelector, select_output
from faithcam.errors import LayerError, TargetError

if TYPE_CHECKING:
    from faithcam.engine.request import Request


class _Hooks:
    def __init__(self, layers: list[ResolvedLayer]) -> None:
        self.layers = layers
        self.tensors: dict[int, torch.Tensor] = {}

    def hook(self, position: int):
        def record(_module: nn.Module, _inputs: object, output: object) -> torch.Tensor:
            name = self.layers[position].name
            if position in self.tensors:
                raise runs_twice_error(name)
            if not isinstance(output, torch.Tensor) or output.dim() != 4:
                raise LayerError(f"layer: {name!r} does not return a 4-D (N, C, h, w) tensor")
            if not torch.is_grad_enabled():  # the first layer reached: start the graph here
                torch.set_grad_enabled(True)
                output = output.detach().requires_grad_(True)
            self.tensors[position] = output
            return output.clone()

        return record


def capture_layers(
    model: nn.Module,
    layers: list[ResolvedLayer],
    inputs: torch.Tensor,
    target: BoundTarget,
    image_index: torch.Tensor,
    output_selector: OutputSelector = None,
) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
    """[(activations, gradients)] per layer (in the order given) and the scores of ``inputs``."""
    hooks = _Hooks(layers)
    grad_mode = torch.is_grad_enabled()
    handles = [layer.module.register_forward_hook(hooks.hook(i)) for i, layer in enumerate(layers)]
    try:
        with torch.no_grad():
            outputs = select_output(model(inputs), output_selector)
            missing = [layers[i].name for i in range(len(layers)) if i not in hooks.tensors]
            if missing:
                raise LayerError(f"layer: {missing[0]!r} was never called during the forward pass")
            is_input = torch.ones(len(inputs), dtype=torch.bool, device=inputs.device)
            scores = target.scores(outputs, image_index, is_input)
            if not scores.requires_grad:
                raise TargetError("targets: the target score does not depend on the layers")
            tensors = [hooks.tensors[i] for i in range(len(layers))]
            gradients = torch.autograd.grad(scores.sum(), tensors, allow_unused=True)
    finally:
        for handle in handles:
            handle.remove()
        torch.set_grad_enabled(grad_mode)
    pairs = []
    for layer, tensor, gradient in zip(layers, tensors, gradients, strict=True):
        if gradient is None:
            raise TargetError(f"targets: the target score does not depend on layer {layer.name!r}")
        pairs.append((tensor.detach(), gradient))
    return pairs, scores.detach()


def vanilla_layers(
    requests: list[Request], weighting: Weighting, settings: dict[str, Any]
) -> list[Raw]:
    """One Raw per request (the same images at several layers) of a vanilla-gradient method,
    from one capture of every layer per chunk of images."""
    first = requests[0]
    layers = [request.layer for request in requests]

    def run(rows: Rows) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
        return capture_layers(
            first.model, layers, rows.inputs, first.target, rows.image_index,
            first.output_selector,
        )  # fmt: skip

    maps: list[list[torch.Tensor]] = [[] for _ in layers]
    scores = []
    for _, (pairs, chunk_scores) in capture_batches(first, run=run):
        for per_layer, (activations, gradients) in zip(maps, pairs, strict=True):
            per_layer.append(weighting(activations, gradients))
        scores.append(chunk_scores)
    all_scores = torch.cat(scores)
    return [
        Raw(torch.cat(raw), all_scores, layer.name, dict(settings), first.target)
        for raw, layer in zip(maps, layers, strict=True)
    ]
