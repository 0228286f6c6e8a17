"""Maps built from several runs of a method: test-time augmentation and several layers, as
wrappers around a method's ``run`` (no recursion into :func:`faithcam.explain`).

- ``aug_smooth=True`` (pytorch-grad-cam 1.5.7's option, after Jacob Gildenblat's "augmentation
  smoothing"): the method runs on the 6 augmentations x ↦ flip_h^f(m · x), f ∈ {no, yes},
  m ∈ {0.9, 1, 1.1} (the peer's ttach default), each map is brought back to the
  image frame (un-flipped), ReLU'd and min-max scaled per image, and the 6 are averaged.
  Targets given as None are re-predicted on every augmented copy, as the peer does; the result's
  targets and scores are those of the unmodified image.
- ``layer=[...]``: the method runs once per layer; with ``fusion="mean"`` (pytorch-grad-cam's
  aggregation) each layer's map is ReLU'd, min-max scaled per image, upsampled to the input
  size, and the maps are averaged and min-max scaled again. ``fusion="layercam"`` is LayerCAM's
  multi-layer fusion (Jiang et al., IEEE TIP 2021, eq. 9, as torchcam): each map is min-max
  scaled, then M̂ = tanh(γ M) with γ = 2 (which lifts the weak maps of shallow layers), upsampled
  to the largest layer resolution, and fused by the element-wise maximum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from faithcam.cams.method import Method, Raw
from faithcam.engine.request import Request
from faithcam.errors import FaithcamValueError

AUGMENTATIONS = tuple((flip, factor) for flip in (False, True) for factor in (0.9, 1.0, 1.1))
FUSIONS = ("mean", "layercam")
LAYERCAM_GAMMA = 2.0


def minmax(maps: torch.Tensor) -> torch.Tensor:
    """Per-image min-max scaling of (B, ...) maps to [0, 1]; a constant map becomes 0."""
    flat = maps.flatten(1)
    low = flat.amin(1).view(-1, *[1] * (maps.dim() - 1))
    span = flat.amax(1).view_as(low) - low
    return torch.where(span > 0, (maps - low) / span.clamp(min=torch.finfo(maps.dtype).tiny), 0.0)


def _upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def run(
    method: Method, request: Request, layer: Any, aug_smooth: bool = False, fusion: str = "mean"
) -> Raw:
    """``method`` at ``layer`` (one; a list, fused with ``fusion``; or none for methods without
    a layer), averaged over the augmented copies of the images with ``aug_smooth``."""
    if aug_smooth:
        return augmentation_smoothing(
            lambda images: run(method, request.with_images(images), layer, False, fusion),
            request.images,
            request.relu,
        )
    if isinstance(layer, list | tuple):
        if not layer:
            raise FaithcamValueError("layer: got an empty list of layers")
        raws = method.run_layers([request.at_layer(one) for one in layer])
        return fuse_layers(raws, tuple(request.images.shape[-2:]), fusion, request.relu)
    return method.run(request.at_layer(layer) if method.uses_layer else request)


def augmentation_smoothing(
    run: Callable[[torch.Tensor], Raw], images: torch.Tensor, relu: bool
) -> Raw:
    """The mean of the min-max scaled maps of ``run`` on the 6 augmented copies of ``images``."""
    total, reference = None, None
    for flip, factor in AUGMENTATIONS:
        augmented = images * factor
        raw = run(augmented.flip(-1) if flip else augmented)
        maps = raw.maps.detach().float()
        scaled = minmax(maps.clamp(min=0) if relu else maps)
        scaled = scaled.flip(-1) if flip else scaled
        total = scaled if total is None else total + scaled
        if not flip and factor == 1.0:
            reference = raw
    assert total is not None and reference is not None
    settings = {**reference.settings, "aug_smooth": True}
    return Raw(
        total / len(AUGMENTATIONS),
        reference.scores,
        reference.layer,
        settings,
        reference.target,
        reference.method,
    )


def check_fusion(fusion: str) -> str:
    if fusion not in FUSIONS:
        raise FaithcamValueError(f"fusion: expected one of {', '.join(FUSIONS)}, got {fusion!r}")
    return fusion


def fuse_layers(raws: Sequence[Raw], size: tuple[int, int], fusion: str, relu: bool) -> Raw:
    """One map from the per-layer maps (see the module docstring for the two fusions)."""
    maps = [r.maps.detach().float() for r in raws]
    maps = [minmax(m.clamp(min=0) if relu else m) for m in maps]
    if fusion == "mean":
        raw = minmax(torch.stack([_upsample(m, size) for m in maps]).mean(0))
    else:
        largest = tuple(max(m.shape[d] for m in maps) for d in (-2, -1))
        scaled = [_upsample(torch.tanh(LAYERCAM_GAMMA * m), largest) for m in maps]
        raw = torch.stack(scaled).amax(0)
    first = raws[0]
    names = [r.layer for r in raws]
    settings = {**first.settings, "layers": names, "fusion": fusion}
    return Raw(raw, first.scores, ",".join(names), settings, first.target, first.method)
