"""Target-layer resolution: a dotted name (``"layer4"``, or ``"fc:input"`` for the input of a
module, as Captum's ``attribute_to_layer_input``), a module, or automatic selection.

Automatic selection probes one forward pass of a single image, in three rules. A feature map is
a module's 4-D output with one row per image and a grid of more than one location, of the
image's aspect ratio, read (B, C, h, w) or (B, h, w, C): the (B, windows, tokens, C) partitions
of window and grid attention (torchvision ``maxvit_t``'s (B, 1, 49, 512)) are never maps.

1. Transformers (a block with an attention child and a norm child, after which no convolution
   runs): the first norm of the last block, where the patch tokens still carry the gradient
   (torchvision ``vit_b_16``: ``encoder.layers.encoder_layer_11.ln_1``; ``swin_t``:
   ``features.7.1.norm1``), never the patch embedding; a norm of window-partitioned tokens
   does not count.
2. Models with a ``backbone`` or an ``encoder`` child (torchvision segmentation and detection
   models, segmentation-models-pytorch): the last feature map of it (outside a feature
   pyramid), never the decoder, the classifier head or a pooled RoI tensor.
3. Otherwise the last module (in the order modules *finish* their forward) with a feature map
   output, before the head: adaptive pooling, dropout and identity modules, and the top-level
   children named ``classifier``, ``head``, ``heads``, ``fc`` or ``segmentation_head``
   (SqueezeNet's class convolution) count as head.

A module that runs more than once per forward (a shared activation, as in EfficientNet-Lite) is
never picked, because its output at the hook is ambiguous. The model itself is never picked. A
pick whose output is the model's output (a fully convolutional model without a backbone) warns
(:class:`~faithcam.errors.FaithcamWarning`): its map is the target score itself.
The choice is cached per model and input shape, so the probe costs one single-image forward per
model, not one per call.
"""

from __future__ import annotations

import difflib
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from faithcam.engine.caller import warn_at_caller
from faithcam.engine.layouts import (
    LayoutHints,
    ReshapeTransform,
    check_reshape_transform,
    is_spatial_map,
    model_hints,
)
from faithcam.errors import FaithcamTypeError, FaithcamWarning, LayerError

LayerSpec = str | nn.Module | None

# model -> input shape -> (picked layer, its warning or "")
_AUTO_CACHE: weakref.WeakKeyDictionary[nn.Module, dict[tuple[int, ...], tuple[str, str]]] = (
    weakref.WeakKeyDictionary()
)
HEAD_NAMES = ("classifier", "head", "heads", "fc", "segmentation_head")
FEATURE_CHILDREN = ("backbone", "encoder")


INPUT_SUFFIX = ":input"
NO_HINTS = LayoutHints()


@dataclass(frozen=True)
class ResolvedLayer:
    """A target layer: its dotted name, the module, which of its tensors is explained
    (``site``: its output, or its first input), the user's reshape transform and the model
    (asked about its token grid by :meth:`hints`)."""

    name: str
    module: nn.Module
    site: str = "output"
    reshape: ReshapeTransform | None = None
    model: nn.Module | None = field(default=None, repr=False, compare=False)

    def hints(self) -> LayoutHints:
        """What the model says about its token grid (patch size, extra tokens)."""
        return NO_HINTS if self.model is None else model_hints(self.model)


def runs_twice_error(name: str) -> LayerError:
    """The refusal of a layer that runs more than once per forward pass (a shared module)."""
    return LayerError(
        f"layer: {name!r} runs more than once per forward pass (a shared module); its "
        "activations are ambiguous. Pick a module that runs once."
    )


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
    if reshape_transform is not None:
        check_reshape_transform(reshape_transform)
    site = "output"
    if layer is None:
        auto = _auto_layer(model, example)
        name, module = auto.name, auto.module
    elif isinstance(layer, str):
        modules = dict(model.named_modules())
        modules.pop("", None)
        name = layer
        if layer.endswith(INPUT_SUFFIX):
            name, site = layer[: -len(INPUT_SUFFIX)], "input"
        if name not in modules and name.startswith("_orig_mod."):  # a torch.compile'd name
            name = name[len("_orig_mod.") :]
        if name not in modules:
            raise LayerError(_unknown_layer_message(name, list(modules)))
        module = modules[name]
        name = name if site == "output" else layer
    elif isinstance(layer, nn.Module):
        if layer is model:
            raise LayerError(
                "layer: the model itself cannot be the target layer; pass a sub-module"
            )
        for name, module in model.named_modules():
            if module is layer and name:
                break
        else:
            raise LayerError(
                "layer: the module passed is not a sub-module of the model "
                f"({type(layer).__name__}); pass one of model.named_modules() or its name"
            )
    else:
        raise FaithcamTypeError(
            "layer: expected a dotted module name, an nn.Module or None, got "
            f"{type(layer).__name__}"
        )
    return ResolvedLayer(name, module, site, reshape_transform, model)


def _unknown_layer_message(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=5, cutoff=0.5)
    if not close:
        prefix = name.rsplit(".", 1)[0]
        close = [v for v in valid if v.startswith(prefix)][:5] or valid[-5:]
    return f"layer: no module named {name!r} in the model; closest valid names: {', '.join(close)}"


@dataclass
class Probe:
    """One inference forward with hooks on every module: the order modules finished, how
    often each ran, the shape of its (first) tensor output, the image size and the modules
    whose output is the model's output."""

    finished: list[str]
    calls: dict[str, int]
    shapes: dict[str, tuple[int, ...]]
    image: tuple[int, int] = (0, 0)
    outputs: set[str] = field(default_factory=set)

    def is_map(self, name: str) -> bool:
        """The module's output is a feature map (see the module docstring) of >1 location."""
        shape = self.shapes.get(name, ())
        return is_spatial_map(shape, self.image, 1) and (shape[2] * shape[3] > 1)

    def feature_maps(self) -> list[str]:
        """Modules with a feature map output, in the order they finished."""
        return [name for name in self.finished if self.is_map(name)]


def probe_forward(model: nn.Module, example: torch.Tensor) -> Probe:
    """Run one inference forward of ``example`` (one image) with hooks on every module."""
    names = module_names(model)
    probe = Probe([], dict.fromkeys(names.values(), 0), {}, tuple(example.shape[-2:]))
    first: dict[str, torch.Tensor] = {}

    def hook(module: nn.Module, _inputs: object, output: object) -> None:
        name = names[module]
        probe.calls[name] += 1
        probe.finished.append(name)
        if isinstance(output, torch.Tensor) and name not in probe.shapes:
            probe.shapes[name] = tuple(output.shape)
            first[name] = output

    handles = [module.register_forward_hook(hook) for module in names]
    try:
        with torch.inference_mode():
            result = _first_tensor(model(example))
    finally:
        for handle in handles:
            handle.remove()
    probe.outputs = {name for name, tensor in first.items() if _same_tensor(tensor, result)}
    return probe


def _first_tensor(value: object) -> torch.Tensor | None:
    """The model's output tensor, or the first one of a dict / tuple / list output."""
    if isinstance(value, dict):
        value = next(iter(value.values()), None)
    elif isinstance(value, list | tuple):
        value = value[0] if value else None
    return value if isinstance(value, torch.Tensor) else None


def _same_tensor(a: torch.Tensor, b: torch.Tensor | None) -> bool:
    """``a`` is ``b``, or a view of the same memory with the same shape."""
    if b is None:
        return False
    return a is b or (a.shape == b.shape and a.data_ptr() == b.data_ptr() and a.numel() > 0)


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
    name, warning = cache.get(key, ("", ""))
    if not name or name not in modules:
        probe = probe_forward(model, example[:1])
        name = (
            _transformer_layer(modules, probe)
            or _backbone_layer(modules, probe)
            or _last_feature_map(modules, probe, _outside_head)
            or _last_feature_map(modules, probe, lambda name: True)
        )
        if name is None:
            raise LayerError(
                "layer: the model has no sub-module with a 4-D (B, C, h, w) feature map of more "
                "than one location, of the image's aspect ratio, that runs once per forward; pass "
                "layer= explicitly (a module name or module)"
            )
        warning = _output_warning(name, probe)
        cache[key] = (name, warning)
    if warning:
        warn_at_caller(warning, FaithcamWarning)
    return ResolvedLayer(name, modules[name])


def _output_warning(name: str, probe: Probe) -> str:
    """The warning due when the picked layer's output is the model's output."""
    if name not in probe.outputs:
        return ""
    return (
        f"layer: the automatic layer {name!r} returns the model's output itself "
        f"{probe.shapes[name]}, so its map shows the target score, not the features behind it; "
        "pass layer= (a feature map before the output)"
    )


def _outside_head(name: str) -> bool:
    return name.partition(".")[0] not in HEAD_NAMES


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
    ran = [name for name in norms if name in order and _token_grid(probe, name)]
    return min(ran, key=order.__getitem__) if ran else None


def _token_grid(probe: Probe, name: str) -> bool:
    """The norm's output holds the image's tokens: (1, N, C), or a (1, h, w, C) feature map
    (not window or grid partitions)."""
    shape = probe.shapes.get(name, ())
    return (len(shape) == 3 and shape[0] == 1) or probe.is_map(name)


def _backbone_layer(modules: dict[str, nn.Module], probe: Probe) -> str | None:
    """The last feature map of the shallowest ``backbone`` or ``encoder`` child (a wrapped
    model's ``model.encoder`` too), outside its feature pyramid."""
    found = [n for n in modules if n.rpartition(".")[2] in FEATURE_CHILDREN and n in probe.calls]
    for parent in sorted(found, key=lambda n: n.count(".")):
        prefix = parent + "."
        pyramids = [
            name
            for name, module in modules.items()
            if name.startswith(prefix) and "pyramid" in type(module).__name__.lower()
        ]

        def keep(name: str, prefix: str = prefix, pyramids: list[str] = pyramids) -> bool:
            in_pyramid = any(name == p or name.startswith(p + ".") for p in pyramids)
            return name.startswith(prefix) and not in_pyramid

        name = _last_feature_map(modules, probe, keep)
        if name is not None:
            return name
    return None
