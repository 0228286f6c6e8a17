"""Layouts: how a layer's tensor becomes a (B, C, h, w) feature map.

A CAM needs channels and a spatial grid. Convolutional layers give (B, C, h, w) directly; vision
transformers give (B, N, C) tokens (a class token, a distillation token or register tokens
first, then the h × w patch grid row by row); Swin and ConvNeXt-style blocks give (B, h, w, C)
channels-last maps; a classifier's input is a (B, C) vector. The layout is told from evidence:

- 4-D: (B, C, h, w) unless the module is a LayerNorm over the last dimension, or only the
  channels-last reading has a spatial grid with the input's aspect ratio (Swin's (B, 7, 7, 768)
  read as channels-first would be a 7 × 768 "map" of a 224 × 224 image).
- 3-D tokens: the grid is the input size over the model's patch size (a ``patch_size``
  attribute or a patch-embedding convolution with stride = kernel), the extra tokens are
  ``num_prefix_tokens`` when the model says so, else N − h·w; without a patch size, every
  reading (B, N, C) or (B, C, N) with a grid of the input's aspect ratio and at most
  :data:`MAX_EXTRA_TOKENS` extra tokens is a candidate, and exactly one must remain.
- 2-D, at a module's input only (``"fc:input"``): (B, C) → (B, C, 1, 1).
- 5-D: (B, C, T, h, w), a 3-D (video or volume) convolution's maps, channels first, kept as
  they are (the weightings sum over every dimension after the channels).

An ambiguous layout is an error that asks for ``reshape_transform=``, never a guess. A
``reshape_transform`` (pytorch-grad-cam's semantics) is applied to the activations and to their
gradients alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from faithcam.errors import LayerError

ReshapeTransform = Callable[[torch.Tensor], torch.Tensor]
MAX_EXTRA_TOKENS = 8  # class + distillation + register tokens


@dataclass(frozen=True)
class LayoutHints:
    """What the model says about its token grid: patch size (h, w) and extra token count."""

    patch: tuple[int, int] | None = None
    prefix: int | None = None


LAYOUT_KINDS = ("nchw", "nhwc", "tokens", "vector", "custom")


@dataclass(frozen=True)
class Layout:
    """How a layer tensor maps to (B, C, h, w): ``nchw``, ``nhwc``, ``tokens``, ``vector`` or
    ``custom`` (a user ``reshape_transform``)."""

    kind: str = "nchw"
    grid: tuple[int, int] | None = None
    prefix: int = 0
    channels_last: bool = True
    transform: ReshapeTransform | None = None

    def __post_init__(self) -> None:
        if self.kind not in LAYOUT_KINDS:  # every method dispatches on it: no unknown kind
            raise ValueError(f"Layout kind {self.kind!r}: expected one of {LAYOUT_KINDS}")

    def to_nchw(self, tensor: torch.Tensor) -> torch.Tensor:
        """The (B, C, h, w) view of a layer tensor (activations or their gradients)."""
        if self.kind == "nchw":
            return tensor
        if self.kind == "nhwc":
            return tensor.permute(0, 3, 1, 2)
        if self.kind == "vector":
            return tensor[:, :, None, None]
        if self.kind == "tokens":
            h, w = self.grid
            tokens = tensor if self.channels_last else tensor.transpose(1, 2)
            grid = tokens[:, self.prefix :].reshape(len(tokens), h, w, tokens.shape[-1])
            return grid.permute(0, 3, 1, 2)
        return self.transform(tensor)

    def from_nchw(self, maps: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`to_nchw`: a layer tensor shaped as ``like`` whose grid part
        is ``maps`` (extra tokens are taken from ``like``)."""
        if self.kind == "nchw":
            return maps
        if self.kind == "nhwc":
            return maps.permute(0, 2, 3, 1)
        if self.kind == "vector":
            return maps[:, :, 0, 0]
        if self.kind == "tokens":
            tokens = like if self.channels_last else like.transpose(1, 2)
            grid = maps.flatten(2).transpose(1, 2)
            out = torch.cat([tokens[:, : self.prefix].to(grid), grid], dim=1)
            return out if self.channels_last else out.transpose(1, 2)
        raise LayerError(
            "reshape_transform: this method substitutes the layer's output and cannot invert a "
            "custom reshape_transform; use a gradient method or a layer with a built-in layout"
        )

    def describe(self) -> str:
        """A token reading as the ambiguous-layout message lists it (only token layouts are
        ever ambiguous)."""
        order = "B,N,C" if self.channels_last else "B,C,N"
        h, w = self.grid
        return f"tokens ({order}): {self.prefix} extra + {h}x{w} grid"


NCHW = Layout()


def model_hints(model: nn.Module) -> LayoutHints:
    """Patch size and extra-token count the model declares (torchvision, timm, Hugging Face
    attributes) or shows (the first convolution with stride = kernel > 1)."""
    patch = _pair(getattr(model, "patch_size", None))
    config = getattr(model, "config", None)
    if patch is None and config is not None:
        patch = _pair(getattr(config, "patch_size", None))
    if patch is None:
        for module in model.modules():
            if isinstance(module, nn.Conv2d) and module.kernel_size == module.stride:
                if max(module.kernel_size) > 1:
                    patch = tuple(module.kernel_size)
                break
    prefix = getattr(model, "num_prefix_tokens", None)
    return LayoutHints(patch, prefix if isinstance(prefix, int) else None)


def _pair(value: object) -> tuple[int, int] | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return (value, value)
    pair = isinstance(value, tuple | list) and len(value) == 2
    if pair and all(isinstance(v, int) for v in value):
        return (int(value[0]), int(value[1]))
    return None


def is_spatial_map(shape: tuple[int, ...], image: tuple[int, int], batch: int) -> bool:
    """Whether a 4-D tensor of ``shape`` is a feature map of a ``batch`` of images of size
    ``image``: one row per image, and a grid of the image's aspect ratio read channels-first
    (B, C, h, w) or channels-last (B, h, w, C). Window or grid partitions of attention layers,
    (B, windows, tokens, C) or (B·windows, h, w, C), are not. The grid may be finer than
    the image (a detector resizes its input first)."""
    if len(shape) != 4 or shape[0] != batch:
        return False

    def same_stride(h: int, w: int) -> bool:  # as _plausible, without h <= H and w <= W
        stride_h, stride_w = image[0] / h, image[1] / w
        return max(stride_h, stride_w) / min(stride_h, stride_w) <= 2.0

    return all(shape) and (same_stride(*shape[2:]) or same_stride(*shape[1:3]))


def _norm_over_last(module: nn.Module, size: int) -> bool:
    """A LayerNorm (or Linear) acting on the last dimension, of length ``size``."""
    if isinstance(module, nn.LayerNorm):
        return tuple(module.normalized_shape) == (size,)
    if isinstance(module, nn.Linear):
        return module.out_features == size
    return False


def _plausible(spatial: tuple[int, int], image: tuple[int, int]) -> bool:
    """A (h, w) grid covering an (H, W) image with about the same stride along both axes."""
    (h, w), (height, width) = spatial, image
    if not (1 <= h <= height and 1 <= w <= width):
        return False
    stride_h, stride_w = height / h, width / w
    return max(stride_h, stride_w) / min(stride_h, stride_w) <= 2.0


def _patch_grid(n: int, image: tuple[int, int], hints: LayoutHints) -> tuple[int, int, int] | None:
    """The (extra, h, w) reading of ``n`` tokens on the model's patch grid, if it fits."""
    if hints.patch is None:
        return None
    h, w = image[0] // hints.patch[0], image[1] // hints.patch[1]
    extra = n - h * w
    if h * w > 0 and 0 <= extra <= MAX_EXTRA_TOKENS and hints.prefix in (None, extra):
        return (extra, h, w)
    return None


def _token_grids(n: int, image: tuple[int, int], hints: LayoutHints) -> list[tuple[int, int, int]]:
    """(extra, h, w) readings of ``n`` tokens for an image of size ``image``, without the
    patch size: a grid with the image's aspect ratio and few extra tokens."""
    height, width = image
    extras = [hints.prefix] if hints.prefix is not None else range(MAX_EXTRA_TOKENS + 1)
    readings = []
    for extra in extras:
        cells = n - extra
        if cells < 1:
            continue
        h = max(1, round(math.sqrt(cells * height / width)))
        for rows in {h - 1, h, h + 1} - {0}:
            if cells % rows == 0 and _plausible((rows, cells // rows), image):
                strides = (height / rows, width / (cells // rows))
                if max(strides) / min(strides) <= 1.25:
                    readings.append((extra, rows, cells // rows))
    return readings


def infer_layout(
    tensor: torch.Tensor,
    module: nn.Module,
    image: tuple[int, int],
    hints: Callable[[], LayoutHints],
    name: str,
    site: str = "output",
) -> Layout:
    """The layout of ``tensor``, the output (or input, ``site="input"``) of ``module``.
    ``hints()`` says what the model declares about its token grid (asked for 3-D tensors only:
    it may walk the model's modules)."""
    shape = tuple(tensor.shape)
    if tensor.dim() == 2 and site == "input":
        return Layout("vector")
    if tensor.dim() == 4:  # channels last only if that reading's grid fits the image and
        # the module normalises the last dimension or the channels-first reading does not fit
        if shape[1] <= image[0] and _plausible(shape[1:3], image) and (
            _norm_over_last(module, shape[-1]) or not _plausible(shape[2:], image)
        ):
            return Layout("nhwc")
        return NCHW
    if tensor.dim() == 5:  # a 3-D convolution's (B, C, T, h, w): channels first, as it is
        return NCHW
    if tensor.dim() == 3:
        declared = hints()
        orders = [True] if _norm_over_last(module, shape[-1]) else [True, False]
        counts = {True: shape[1], False: shape[2]}  # channels last: (B, N, C)
        on_patches = [
            Layout("tokens", grid[1:], grid[0], last)
            for last in orders
            if (grid := _patch_grid(counts[last], image, declared)) is not None
        ]
        readings = on_patches or [
            Layout("tokens", (h, w), extra, last)
            for last in orders
            for extra, h, w in _token_grids(counts[last], image, declared)
        ]
        if len(readings) == 1:
            return readings[0]
        found = "; ".join(r.describe() for r in readings) or "no grid of the input's shape"
        raise LayerError(
            f"layer: {name!r} returns a 3-D tensor of shape {shape} whose token layout is "
            f"ambiguous ({found}); pass reshape_transform= (a function that turns it into "
            "(B, C, h, w))"
        )
    raise LayerError(
        f"layer: {name!r} returns a {tensor.dim()}-D tensor of shape {shape}; expected a 4-D "
        "(B, C, h, w) or (B, h, w, C) feature map, (B, C, T, h, w) maps or (B, N, C) tokens; "
        "pass reshape_transform="
    )


def check_reshape_transform(reshape_transform: object) -> ReshapeTransform | None:
    """None or a callable, checked before any forward."""
    if reshape_transform is not None and not callable(reshape_transform):
        raise LayerError(
            "reshape_transform: expected a callable tensor -> (B, C, h, w) or None, got "
            f"{type(reshape_transform).__name__}"
        )
    return reshape_transform


def custom_nchw(layout: Layout, tensor: object, name: str) -> torch.Tensor:
    """Apply a layout to ``tensor`` and check that a (B, C, h, w) tensor comes out."""
    if layout.kind == "nchw":  # inferred for 4-D tensors only: nothing to apply or check
        return tensor
    result = layout.to_nchw(tensor)
    if not isinstance(result, torch.Tensor) or result.dim() != 4:
        what = tuple(result.shape) if isinstance(result, torch.Tensor) else type(result).__name__
        raise LayerError(
            f"reshape_transform: must return a 4-D (B, C, h, w) tensor for layer {name!r}, got "
            f"{what}"
        )
    return result
