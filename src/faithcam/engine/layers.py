"""Target-layer resolution: a dotted name (``"layer4"``, or ``"fc:input"`` for the input of a
module, as Captum's ``attribute_to_layer_input``), a module, or automatic selection.

Automatic selection probes one forward pass of a single image, in three rules:

1. Transformers (a block with an attention child and a norm child, after which no convolution
   runs): the first norm of the last block, where the patch tokens still carry the gradient
   (torchvision ``vit_b_16``: ``encoder.layers.encoder_layer_11.ln_1``; ``swin_t``:
   ``features.7.1.norm1``), never the patch embedding.
2. Models with a ``backbone`` child (torchvision segmentation and detection models): the last
   feature map of the backbone (outside a feature pyramid), never the classifier head or a
   pooled RoI tensor.
3. Otherwise the last module (in the order modules *finish* their forward) whose output is a 4-D
   tensor with more than one spatial location: the last convolutional feature map before the
   head (adaptive pooling, dropout and identity modules count as head).

A module that runs more than once per forward (a shared activation, as in EfficientNet-Lite) is
never picked, because its output at the hook is ambiguous. The model itself is never picked.
The choice is cached per model and input shape, so the probe costs one single-image forward per
model, not one per call.
"""

from __future__ import annotations

import difflib
import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from faithcam.engine.layouts import (
    LayoutHints,
    ReshapeTransform,
    check_reshape_transform,
    model_hints,
)
from faithcam.errors import FaithcamTypeError, LayerError

LayerSpec = str | nn.Module | None

_AUTO_CACHE: weakref.WeakKeyDictionary[nn.Module, dict[tuple[int, ...], str]] = (
    weakref.WeakKeyDictionary()
)


INPUT_SUFFIX = ":input"
NO_HINTS = LayoutHints()


@dataclass(frozen=True)
class ResolvedLayer:
    """A target layer: its dotted name, the module, which of its tensors is explained
    (``site``: its output, or its first input), the user's reshape transform and what the model
    says about its token grid."""

    name: str
    module: nn.Module
    site: str = "output"
    reshape: ReshapeTransform | None = None
    hints: LayoutHints = NO_HINTS


def module_names(model: nn.Module) -> dict[nn.Module, str]:
    """Map every sub-module (not the model itself) to its dotted name."""
    return {module: name for name, module in model.named_modules() if name}


def resolve_layer(
    model: nn.Module,
    layer: LayerSpec,
    example: torch.Tensor,
    reshape_transform: ReshapeTransform | None = None,
) -> ResolvedLayer:
    """Resolve ``layer`` (dotted name, ``"name:input"``, module or None = automatic) to a
    :class:`ResolvedLayer`.

    ``example`` is one or more input images, used only by automatic selection.
    ``reshape_transform`` turns the layer's tensor into (B, C, h, w) (pytorch-grad-cam's
    semantics); None infers the layout (see :mod:`faithcam.engine.layouts`).
    """
    reshape = check_reshape_transform(reshape_transform)
    found = _find_layer(model, layer, example)
    return ResolvedLayer(found.name, found.module, found.site, reshape, model_hints(model))


def _find_layer(model: nn.Module, layer: LayerSpec, example: torch.Tensor) -> ResolvedLayer:
    if layer is None:
        return _auto_layer(model, example)
    if isinstance(layer, str):
        modules = dict(model.named_modules())
        modules.pop("", None)
        name, site = layer, "output"
        if layer.endswith(INPUT_SUFFIX):
            name, site = layer[: -len(INPUT_SUFFIX)], "input"
        if name not in modules and name.startswith("_orig_mod."):  # a torch.compile'd name
            name = name[len("_orig_mod.") :]
        if name not in modules:
            raise LayerError(_unknown_layer_message(name, list(modules)))
        return ResolvedLayer(name if site == "output" else layer, modules[name], site)
    if isinstance(layer, nn.Module):
        if layer is model:
            raise LayerError(
                "layer: the model itself cannot be the target layer; pass a sub-module"
            )
        for name, module in model.named_modules():
            if module is layer and name:
                return ResolvedLayer(name, layer)
        raise LayerError(
            "layer: the module passed is not a sub-module of the model "
            f"({type(layer).__name__}); pass one of model.named_modules() or its name"
        )
    raise FaithcamTypeError(
        f"layer: expected a dotted module name, an nn.Module or None, got {type(layer).__name__}"
    )


def _unknown_layer_message(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=5, cutoff=0.5)
    if not close:
        prefix = name.rsplit(".", 1)[0]
        close = [v for v in valid if v.startswith(prefix)][:5] or valid[-5:]
    return f"layer: no module named {name!r} in the model; closest valid names: {', '.join(close)}"


@dataclass
class Probe:
    """One inference forward with hooks on every module: the order modules finished, how
    often each ran and the shape of its (first) tensor output."""

    finished: list[str]
    calls: dict[str, int]
    shapes: dict[str, tuple[int, ...]]

    def feature_maps(self) -> list[str]:
        """Modules with a 4-D output of more than one location, in the order they finished."""
        return [
            name
            for name in self.finished
            if len(self.shapes.get(name, ())) == 4 and math.prod(self.shapes[name][-2:]) > 1
        ]


def probe_forward(model: nn.Module, example: torch.Tensor) -> Probe:
    """Run one inference forward of ``example`` with hooks on every module."""
    names = module_names(model)
    probe = Probe([], dict.fromkeys(names.values(), 0), {})

    def hook(module: nn.Module, _inputs: object, output: object) -> None:
        name = names[module]
        probe.calls[name] += 1
        probe.finished.append(name)
        if isinstance(output, torch.Tensor) and name not in probe.shapes:
            probe.shapes[name] = tuple(output.shape)

    handles = [module.register_forward_hook(hook) for module in names]
    try:
        with torch.inference_mode():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    return probe


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
    probe = probe_forward(model, example[:1])
    name = (
        _transformer_layer(modules, probe)
        or _backbone_layer(modules, probe)
        or _last_feature_map(modules, probe, lambda name: True)
    )
    if name is None:
        raise LayerError(
            "layer: the model has no sub-module with a 4-D (B, C, h, w) output of more than one "
            "location that runs once per forward; pass layer= explicitly (a module name or module)"
        )
    cache[key] = name
    return ResolvedLayer(name, modules[name])


def _last_feature_map(
    modules: dict[str, nn.Module], probe: Probe, keep: Callable[[str], bool]
) -> str | None:
    """The last 4-D feature map that ``keep`` accepts, ran once and is not a head module."""
    for name in reversed(probe.feature_maps()):
        if keep(name) and probe.calls[name] == 1 and not isinstance(modules[name], HEAD_MODULES):
            return name
    return None


def _is_attention(module: nn.Module) -> bool:
    return isinstance(module, nn.MultiheadAttention) or "attention" in type(module).__name__.lower()


def _is_norm(module: nn.Module) -> bool:
    """A token norm: LayerNorm or RMSNorm (BatchNorm marks a convolutional block)."""
    kind = type(module).__name__.lower()
    return isinstance(module, nn.LayerNorm) or kind.endswith(("layernorm", "rmsnorm"))


def _transformer_layer(modules: dict[str, nn.Module], probe: Probe) -> str | None:
    """The first norm of the last transformer block, if no convolution runs after it."""
    order = {name: i for i, name in enumerate(probe.finished)}
    blocks = [
        name
        for name, module in modules.items()
        if name in order
        and any(_is_attention(child) for child in module.children())
        and any(_is_norm(child) for child in module.children())
    ]
    if not blocks:
        return None
    block = max(blocks, key=order.__getitem__)
    convs_after = [
        name
        for name in probe.finished[order[block] :]
        if isinstance(modules[name], nn.Conv2d) and name in probe.shapes
    ]
    if convs_after:
        return None
    norms = [
        f"{block}.{child_name}"
        for child_name, child in modules[block].named_children()
        if _is_norm(child) and probe.calls.get(f"{block}.{child_name}") == 1
    ]
    ran = [name for name in norms if name in order and len(probe.shapes.get(name, ())) in (3, 4)]
    return min(ran, key=order.__getitem__) if ran else None


def _backbone_layer(modules: dict[str, nn.Module], probe: Probe) -> str | None:
    """The last feature map of a ``backbone`` child, outside its feature pyramid."""
    if "backbone" not in modules:
        return None
    pyramids = [
        name
        for name, module in modules.items()
        if name.startswith("backbone.") and "pyramid" in type(module).__name__.lower()
    ]

    def keep(name: str) -> bool:
        in_pyramid = any(name == p or name.startswith(p + ".") for p in pyramids)
        return name.startswith("backbone.") and not in_pyramid

    return _last_feature_map(modules, probe, keep)
