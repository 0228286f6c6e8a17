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

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils import checkpoint
from torch.utils.hooks import RemovableHandle

from faithcam.engine.layers import ResolvedLayer, runs_twice_error
from faithcam.engine.layouts import NCHW, Layout, custom_nchw, infer_layout
from faithcam.engine.targets import BoundTarget, OutputSelector, select_output
from faithcam.engine.validation import check_finite
from faithcam.errors import LayerError, TargetError

if TYPE_CHECKING:
    from faithcam.engine.request import Request


@dataclass
class Capture:
    """What one forward pass of a chunk of sample rows gives at the target layer."""

    activations: torch.Tensor  # (N, K, h, w), detached
    gradients: torch.Tensor | None  # (N, K, h, w) d score / d activations, or None
    scores: torch.Tensor  # (N,) target scores, detached
    outputs: Any  # (N, ...) selected model outputs (a list of dicts for detectors), detached
    layout: Layout = field(default=NCHW)  # how the layer's tensor became (N, K, h, w)
    hessian_product: torch.Tensor | None = None  # (N, K, h, w) H·A, H = ∂²score/∂A², if asked


def register_site_hook(
    layer: ResolvedLayer, fn: Callable[[object], torch.Tensor | None]
) -> RemovableHandle:
    """Hook ``fn(value) -> replacement or None`` on the layer's output, or on its first
    positional input for ``"name:input"`` layers (a forward pre-hook)."""
    if layer.site == "input":

        def pre_hook(_module: nn.Module, args: tuple) -> tuple | None:
            if not args:
                raise LayerError(
                    f"layer: {layer.name!r} was called without a positional input to explain"
                )
            replacement = fn(args[0])
            return None if replacement is None else (replacement, *args[1:])

        return layer.module.register_forward_pre_hook(pre_hook)

    def hook(_module: nn.Module, _args: object, output: object) -> torch.Tensor | None:
        return fn(output)

    return layer.module.register_forward_hook(hook)


def layer_layout(layer: ResolvedLayer, value: object, image: tuple[int, int]) -> Layout:
    """The layout of the layer's tensor ``value``: the user's transform or the inferred one."""
    if layer.reshape is not None:
        return Layout("custom", transform=layer.reshape)
    if not isinstance(value, torch.Tensor):
        raise LayerError(
            f"layer: {layer.name!r} returns {type(value).__name__}, expected a tensor (or pass "
            "reshape_transform= to turn it into one)"
        )
    return infer_layout(value, layer.module, image, layer.hints, layer.name, layer.site)


@dataclass
class _LayerHook:
    """Records the layer's tensor and, if asked, makes it an autograd leaf."""

    layer: ResolvedLayer
    with_gradients: bool
    image: tuple[int, int]
    calls: int = 0
    layout: Layout = NCHW
    activations: torch.Tensor | None = None
    leaf: torch.Tensor | None = None
    in_checkpoint: bool = False

    def __call__(self, value: object) -> torch.Tensor | None:
        layer = self.layer
        self.calls += 1
        if self.calls > 1:
            raise runs_twice_error(layer.name)
        self.layout = layer_layout(layer, value, self.image)
        nchw = self.layout.kind == "nchw"  # (B, C, h, w) already: no call to custom_nchw
        if not self.with_gradients:
            # A copy: an in-place op after the layer (DenseNet's F.relu(inplace=True)) would
            # otherwise overwrite the activations we keep.
            detached = (
                value.detach() if nchw else custom_nchw(self.layout, _detach(value), layer.name)
            )
            self.activations = detached.clone()
            return None
        if not isinstance(value, torch.Tensor):
            raise LayerError(
                f"layer: {layer.name!r} returns {type(value).__name__}; gradient methods "
                "need a tensor layer (pick a tensor-valued sub-module)"
            )
        self.activations = (
            value.detach() if nchw else custom_nchw(self.layout, value.detach(), layer.name)
        )
        # inside torch.utils.checkpoint(use_reentrant=True), which cuts the gradient path?
        code = checkpoint.CheckpointFunction.forward.__code__
        frame = sys._getframe(1)
        while frame is not None and not self.in_checkpoint:
            self.in_checkpoint = frame.f_code is code
            frame = frame.f_back
        torch.set_grad_enabled(True)
        self.leaf = value.detach().requires_grad_(True)
        return self.leaf.clone()


def _detach(value: object) -> object:
    """``value`` with every tensor in it detached (tensors, dicts, lists, tuples)."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, dict):
        return type(value)((k, _detach(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return type(value)(_detach(v) for v in value)
    return value


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
    row is that image unmodified (used to resolve *predicted class* targets). Activations and
    gradients come back as (N, K, h, w) through the layer's layout (tokens, channels-last...).
    ``hessian_product=True`` also returns H·A, the Hessian of the score with respect to the
    layer's activations times the activations (a double backward through the head only).
    """
    hook = _LayerHook(layer, with_gradients, (inputs.shape[-2], inputs.shape[-1]))
    grad_mode = torch.is_grad_enabled()
    handle = register_site_hook(layer, hook)
    try:
        # Under a caller's inference_mode nothing can require grad: leave it for the capture
        # (an inference tensor cannot enter autograd, so the input is cloned out of it).
        outer = torch.inference_mode(False) if with_gradients else contextlib.nullcontext()
        context = torch.no_grad() if with_gradients else torch.inference_mode()
        with outer, context:
            if with_gradients and inputs.is_inference():
                inputs = inputs.clone()
            raw_outputs = model(inputs)
            if hook.activations is None:
                raise LayerError(
                    f"layer: {layer.name!r} was never called during the forward pass; pick a "
                    "module on the path from the input to the output"
                )
            outputs = raw_outputs  # a plain tensor output is scored as it is
            if output_selector is not None or not isinstance(raw_outputs, torch.Tensor):
                outputs = select_output(raw_outputs, output_selector)
            scores = target.scores(outputs, image_index, is_input)
            checked = [(hook.activations, f"the activations at layer {layer.name!r}")]
            if target.scored and isinstance(scores, torch.Tensor):
                checked.append((scores, "the target scores"))
            for values, what in checked:  # every method alike; check_finite names the image
                # (called only on a failure: the common case stays inline, issue 22's call path)
                if not bool(torch.isfinite(values.detach()).all()):
                    check_finite(values, what, image_index)
            gradients = product = None
            if with_gradients:
                raw = _score_gradients(scores, hook, layer, target, image_index, hessian_product)
                if not bool(torch.isfinite(raw.detach()).all()):
                    check_finite(raw, f"the gradients at layer {layer.name!r}", image_index)
                if hessian_product:
                    hessian = _hessian_product(raw, hook.leaf)
                    product = custom_nchw(hook.layout, hessian, layer.name)
                    raw = raw.detach()
                nchw = hook.layout.kind == "nchw"  # the common case skips a call
                gradients = raw if nchw else custom_nchw(hook.layout, raw, layer.name)
    finally:
        handle.remove()
        torch.set_grad_enabled(grad_mode)
    return Capture(
        hook.activations,
        gradients,
        scores.detach(),
        outputs.detach() if isinstance(outputs, torch.Tensor) else _detach(outputs),
        hook.layout,
        product,
    )


def _hessian_product(gradients: torch.Tensor, leaf: torch.Tensor) -> torch.Tensor:
    """H·A = ∂/∂A (G · A) with A held fixed; zero where G does not depend on A (linear heads)."""
    if not gradients.requires_grad:
        return torch.zeros_like(gradients)
    (product,) = torch.autograd.grad(gradients, leaf, grad_outputs=leaf.detach(), allow_unused=True)
    return torch.zeros_like(gradients) if product is None else product


def _score_gradients(
    scores: torch.Tensor,
    hook: _LayerHook,
    layer: ResolvedLayer,
    target: BoundTarget,
    image_index: torch.Tensor,
    create_graph: bool = False,
) -> torch.Tensor:
    leaf = hook.leaf
    gradients = None
    if leaf is not None and scores.requires_grad:
        (gradients,) = torch.autograd.grad(
            scores.sum(), leaf, allow_unused=True, create_graph=create_graph
        )
    if gradients is not None:
        return gradients
    if hook.in_checkpoint:
        raise LayerError(
            f"layer: {layer.name!r} runs inside reentrant gradient checkpointing "
            "(torch.utils.checkpoint with use_reentrant=True), which cuts the gradient path "
            "from the output back to it; use use_reentrant=False, or a layer outside the "
            "checkpointed segment"
        )
    reasons = {i: target.constant_reason(i) for i in sorted(set(image_index.tolist()))}
    found = [f"image {i}: {reason}" for i, reason in reasons.items() if reason]
    if found:
        raise TargetError(f"targets: nothing to explain: {'; '.join(found[:3])}")
    raise TargetError(
        f"targets: the target score does not depend on layer {layer.name!r} "
        "(no gradient path from the score to the layer)"
    )


@dataclass(frozen=True)
class Rows:
    """A chunk of sample rows: the model inputs, the image each row belongs to, and whether the
    row is that image unmodified (used to resolve *predicted class* targets)."""

    inputs: torch.Tensor  # (N, C, H, W)
    image_index: torch.Tensor  # (N,) long
    is_input: torch.Tensor  # (N,) bool


def capture_batches(
    request: Request,
    rows: Iterable[Any] | None = None,
    run: Callable[[Any], Any] | None = None,
    **options: Any,
) -> Iterator[tuple[Any, Any]]:
    """The one chunk loop of faithcam: ``(chunk, run(chunk))`` for every chunk of sample rows.

    ``rows``: the chunks (objects with ``inputs``, ``image_index`` and ``is_input``, at most
    ``batch_size`` rows each, such as an estimator's planned rows); by default the request's
    images, ``batch_size`` at a time. ``run``: what one chunk gives; by default :func:`capture`
    at the request's layer with ``options`` (``with_gradients``, ``hessian_product``).
    Memory is bounded by one chunk, whatever the number of rows.
    """
    if rows is None:  # the images themselves, batch_size at a time (views, no copies)
        images, size, rows = request.images, request.batch_size, []
        for start in range(0, len(images), size):
            inputs = images[start : start + size]
            index = torch.arange(start, start + len(inputs), device=images.device)
            is_input = torch.ones(len(inputs), dtype=torch.bool, device=images.device)
            rows.append(Rows(inputs, index, is_input))
    for chunk in rows:
        if run is not None:
            yield chunk, run(chunk)
            continue
        yield chunk, capture(
            request.model, request.layer, chunk.inputs, request.target, chunk.image_index,
            chunk.is_input, output_selector=request.output_selector, **options,
        )  # fmt: skip


def capture_inputs(request: Request) -> Capture:
    """Forward-only capture of every image at the request's layer, concatenated."""
    chunks = [c for _, c in capture_batches(request, with_gradients=False)]
    outputs = [c.outputs for c in chunks]
    if not isinstance(outputs[0], torch.Tensor):  # detections: lists of per-image dicts
        outputs = [[row for chunk in outputs for row in chunk]]
    return Capture(
        torch.cat([c.activations for c in chunks]),
        None,
        torch.cat([c.scores for c in chunks]),
        torch.cat(outputs) if isinstance(outputs[0], torch.Tensor) else outputs[0],
        chunks[0].layout,
    )


class _ForwardStopped(Exception):
    """Raised by the hook of :func:`activations_at` once the layer has run."""


def activations_at(model: nn.Module, layer: ResolvedLayer, inputs: torch.Tensor) -> torch.Tensor:
    """The layer's (N, K, h, w) activations for ``inputs``: a forward *up to the layer only*,
    without autograd (a hook stops the pass once the layer has run, so the head never runs)."""
    stored: list[torch.Tensor] = []
    hook = _LayerHook(layer, False, (inputs.shape[-2], inputs.shape[-1]))

    def stop(value: object) -> None:
        hook(value)
        stored.append(hook.activations)
        raise _ForwardStopped

    handle = register_site_hook(layer, stop)
    try:
        with torch.no_grad():
            model(inputs)
    except _ForwardStopped:
        pass
    finally:
        handle.remove()
    if not stored:
        raise LayerError(
            f"layer: {layer.name!r} was never called during the forward pass; pick a module on "
            "the path from the input to the output"
        )
    check_finite(stored[0], f"the activations at layer {layer.name!r}")
    return stored[0]
