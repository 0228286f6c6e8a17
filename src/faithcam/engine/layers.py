"""Target-layer resolution: a dotted name, a module, or automatic selection.

Automatic selection probes one forward pass of a single image and picks the last module (in the
order modules *finish* their forward) whose output is a 4-D tensor with more than one spatial
location and which ran exactly once: the last convolutional feature map before the head (adaptive
pooling, dropout and identity modules count as head). A
module that runs more than once per forward (a shared activation, as in EfficientNet-Lite) is
never picked, because its output at the hook is ambiguous. The model itself is never picked.
The choice is cached per model and input shape, so the probe costs one single-image forward per
model, not one per call.
"""

from __future__ import annotations

import difflib
import weakref
from dataclasses import dataclass

import torch
from torch import nn

from faithcam.errors import FaithcamTypeError, LayerError

LayerSpec = str | nn.Module | None

_AUTO_CACHE: weakref.WeakKeyDictionary[nn.Module, dict[tuple[int, ...], str]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class ResolvedLayer:
    """A target layer: its dotted name inside the model and the module itself."""

    name: str
    module: nn.Module


def module_names(model: nn.Module) -> dict[nn.Module, str]:
    """Map every sub-module (not the model itself) to its dotted name."""
    return {module: name for name, module in model.named_modules() if name}


def resolve_layer(model: nn.Module, layer: LayerSpec, example: torch.Tensor) -> ResolvedLayer:
    """Resolve ``layer`` (dotted name, module or None = automatic) to a :class:`ResolvedLayer`.

    ``example`` is one or more input images, used only by automatic selection.
    """
    if layer is None:
        return _auto_layer(model, example)
    if isinstance(layer, str):
        modules = dict(model.named_modules())
        modules.pop("", None)
        if layer not in modules:
            raise LayerError(_unknown_layer_message(layer, list(modules)))
        return ResolvedLayer(layer, modules[layer])
    if isinstance(layer, nn.Module):
        names = module_names(model)
        if layer is model:
            raise LayerError(
                "layer: the model itself cannot be the target layer; pass a sub-module"
            )
        if layer not in names:
            raise LayerError(
                "layer: the module passed is not a sub-module of the model "
                f"({type(layer).__name__}); pass one of model.named_modules() or its name"
            )
        return ResolvedLayer(names[layer], layer)
    raise FaithcamTypeError(
        f"layer: expected a dotted module name, an nn.Module or None, got {type(layer).__name__}"
    )


def _unknown_layer_message(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=5, cutoff=0.5)
    if not close:
        prefix = name.rsplit(".", 1)[0]
        close = [v for v in valid if v.startswith(prefix)][:5] or valid[-5:]
    return f"layer: no module named {name!r} in the model; closest valid names: {', '.join(close)}"


def probe_forward(model: nn.Module, example: torch.Tensor) -> tuple[list[str], dict[str, int]]:
    """Run one inference forward with hooks on every module.

    Returns the names of modules whose output is a 4-D tensor with more than one spatial
    location, in the order they finished, and how often each module ran.
    """
    names = module_names(model)
    calls: dict[str, int] = dict.fromkeys(names.values(), 0)
    finished: list[str] = []

    def hook(module: nn.Module, _inputs: object, output: object) -> None:
        name = names[module]
        calls[name] += 1
        if isinstance(output, torch.Tensor) and output.dim() == 4 and output.shape[-2:].numel() > 1:
            finished.append(name)

    handles = [module.register_forward_hook(hook) for module in names]
    try:
        with torch.inference_mode():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    return finished, calls


# Modules that belong to a classifier head even when their output is 4-D (VGG's
# AdaptiveAvgPool2d((7, 7)) resamples the feature map to a fixed grid) or that only pass data on.
HEAD_MODULES = (
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.Identity,
    nn.Dropout,
    nn.Dropout2d,
    nn.Flatten,
)


def _auto_layer(model: nn.Module, example: torch.Tensor) -> ResolvedLayer:
    key = tuple(example.shape[1:])
    cache = _AUTO_CACHE.setdefault(model, {})
    modules = dict(model.named_modules())
    cached = cache.get(key)
    if cached is not None and cached in modules:
        return ResolvedLayer(cached, modules[cached])
    finished, calls = probe_forward(model, example[:1])
    for name in reversed(finished):
        if calls[name] == 1 and not isinstance(modules[name], HEAD_MODULES):
            cache[key] = name
            return ResolvedLayer(name, modules[name])
    raise LayerError(
        "layer: the model has no sub-module with a 4-D (B, C, h, w) output of more than one "
        "location that runs once per forward; pass layer= explicitly (a module name or module)"
    )
