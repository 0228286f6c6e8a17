"""Localization metrics: pointing game, energy-based pointing game, bounding-box accuracy.

Ground truth per image is either a list of pixel boxes ``(x0, y0, x1, y1)`` (x1, y1 exclusive)
or a boolean mask (H, W); a (B, H, W) boolean tensor/array gives one mask per image. These
metrics need no model: they compare a map with annotations.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from faithcam.engine.caller import caller_stacklevel
from faithcam.engine.deprecation import renamed_keywords
from faithcam.errors import FaithcamTypeError, FaithcamValueError
from faithcam.metrics._common import ArrayLike, MetricResult, check_images, check_maps

__all__ = ["bbox_accuracy", "boxes_to_masks", "energy_pointing_game", "pointing_game"]

Box = Sequence[float]
GroundTruth = Tensor | np.ndarray | Sequence[Sequence[Box] | Tensor | np.ndarray]


def _check_box(box: Any, i: int, h: int, w: int) -> tuple[int, int, int, int]:
    if not isinstance(box, (Sequence, Tensor, np.ndarray)) or len(box) != 4:
        raise FaithcamValueError(f"boxes[{i}] must hold (x0, y0, x1, y1) boxes, got {box!r}")
    x0, y0, x1, y1 = (float(v) for v in box)
    if not all(float(v).is_integer() for v in (x0, y0, x1, y1)):
        raise FaithcamValueError(f"boxes[{i}] coordinates must be whole pixels, got {box!r}")
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise FaithcamValueError(
            f"boxes[{i}] box {tuple(box)} lies outside the {w}x{h} image or is empty: expected "
            f"0 <= x0 < x1 <= {w} and 0 <= y0 < y1 <= {h} (x1, y1 exclusive)"
        )
    return int(x0), int(y0), int(x1), int(y1)


def boxes_to_masks(boxes: GroundTruth, images: Tensor) -> Tensor:
    """Ground truth as a boolean tensor (B, H, W) on the images' device, checked.

    ``boxes``: a (B, H, W) boolean tensor/array, or a length-B sequence whose items are each a
    non-empty list of ``(x0, y0, x1, y1)`` boxes or a boolean (H, W) mask.
    """
    b, _, h, w = images.shape
    if isinstance(boxes, (Tensor, np.ndarray)) and boxes.ndim == 3:
        masks = torch.as_tensor(boxes)
        if masks.dtype != torch.bool or tuple(masks.shape) != (b, h, w):
            raise FaithcamValueError(
                f"boxes given as masks must be boolean of shape {(b, h, w)}, "
                f"got {masks.dtype} {tuple(masks.shape)}"
            )
        return masks.to(images.device)
    if not isinstance(boxes, Sequence) or isinstance(boxes, str):
        raise FaithcamTypeError(
            f"boxes must be a list of per-image box lists or masks, got {type(boxes).__name__}"
        )
    if len(boxes) != b:
        raise FaithcamValueError(f"boxes must have one entry per image ({b}), got {len(boxes)}")
    masks = torch.zeros(b, h, w, dtype=torch.bool)
    for i, item in enumerate(boxes):
        if isinstance(item, (Tensor, np.ndarray)) and item.ndim == 2:
            mask = torch.as_tensor(item)
            if mask.dtype != torch.bool or tuple(mask.shape) != (h, w):
                raise FaithcamValueError(
                    f"boxes[{i}] mask must be boolean of shape {(h, w)}, "
                    f"got {mask.dtype} {tuple(mask.shape)}"
                )
            masks[i] = mask
            continue
        if not isinstance(item, (Sequence, Tensor, np.ndarray)) or len(item) == 0:
            raise FaithcamValueError(
                f"boxes[{i}] is an empty box list: each image needs at least one "
                "(x0, y0, x1, y1) box or a boolean mask"
            )
        for box in item:
            x0, y0, x1, y1 = _check_box(box, i, h, w)
            masks[i, y0:y1, x0:x1] = True
    return masks.to(images.device)


def _disk_dilate(masks: Tensor, radius: int) -> Tensor:
    """Dilate boolean masks (B, H, W) by a Euclidean disk of ``radius`` pixels."""
    if radius <= 0:
        return masks
    r = torch.arange(-radius, radius + 1, device=masks.device)  # integer offsets: exact test
    disk = ((r[:, None] ** 2 + r[None, :] ** 2) <= radius**2).float()[None, None]
    out = torch.nn.functional.conv2d(masks.float()[:, None], disk, padding=radius)
    return out[:, 0] > 0


def _prepare(images: Tensor, maps: ArrayLike, boxes: GroundTruth) -> tuple[Tensor, Tensor]:
    images = check_images(images)
    maps = check_maps(maps, images)
    return maps, boxes_to_masks(boxes, images)


def count_empty_masks(masks: Tensor, metric: str) -> int:
    """The number of images whose ground truth covers no pixel (boxes outside the image or
    cropped away); warns once with that count, as their values are NaN (left out of the mean)."""
    empty = int((masks.reshape(masks.shape[0], -1).sum(dim=1) == 0).sum())
    if empty:
        warnings.warn(
            f"{metric}: {empty} of {len(masks)} images have an empty ground truth (boxes entirely "
            "outside the image or cropped away); their values are NaN and left out of the mean",
            stacklevel=caller_stacklevel(),
        )
    return empty


@renamed_keywords(tolerance="radius")
def pointing_game(
    images: Tensor, maps: ArrayLike, boxes: GroundTruth, *, radius: int = 0
) -> MetricResult:
    """Pointing game (Zhang et al., "Top-down neural attention by excitation backprop", 2018).
    Higher is better.

    Hit (1) when the map's maximum lies inside the ground truth, else miss (0). With
    ``radius`` = r > 0 pixels (formerly ``tolerance``) a maximum within Euclidean distance r of
    the ground truth also hits (the paper uses 15 px). If the maximum is tied, any maximal pixel
    inside counts as a hit (the convention of Quantus' ``PointingGame``). An empty mask gives
    NaN.
    """
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 0:
        raise FaithcamValueError(
            f"radius must be an int >= 0 (pixels; formerly tolerance), got {radius!r}"
        )
    maps, masks = _prepare(images, maps, boxes)
    flat = maps.reshape(maps.shape[0], -1)
    is_max = flat == flat.max(dim=1, keepdim=True).values
    region = _disk_dilate(masks, radius).reshape(flat.shape)
    hits = (is_max & region).any(dim=1).double().cpu()
    hits[masks.reshape(flat.shape).sum(dim=1).cpu() == 0] = math.nan
    empty = count_empty_masks(masks, "pointing_game")
    return MetricResult("pointing_game", hits, {"empty_masks": empty}, bounds=(0.0, 1.0))


def energy_pointing_game(images: Tensor, maps: ArrayLike, boxes: GroundTruth) -> MetricResult:
    """Energy-based pointing game (Wang et al., Score-CAM, CVPRW 2020). Higher is better.

    ``Σ_{(i,j) ∈ GT} L_ij / Σ_{(i,j)} L_ij``: the share of the map's mass inside the ground
    truth. Equals Quantus' ``RelevanceMassAccuracy`` (Arras et al., 2022) on the same map. Maps
    are expected non-negative (CAMs after ReLU); they are used as given, not clamped. A map that
    sums to zero or an empty mask gives NaN.
    """
    maps, masks = _prepare(images, maps, boxes)
    flat = maps.reshape(maps.shape[0], -1).double()
    inside = (flat * masks.reshape(flat.shape)).sum(dim=1)
    total = flat.sum(dim=1)
    values = torch.where(total != 0, inside / total, torch.full_like(total, math.nan)).cpu()
    values[masks.reshape(flat.shape).sum(dim=1).cpu() == 0] = math.nan
    empty = count_empty_masks(masks, "energy_pointing_game")
    return MetricResult(
        "energy_pointing_game", values, {"empty_masks": empty}, bounds=(0.0, 1.0)
    )


def _fraction(value: Any, name: str) -> float:
    """``value`` as a Python float in (0, 1] (a tensor or NumPy threshold would otherwise be
    multiplied in its own, possibly half, precision)."""
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError, RuntimeError):
        number = math.nan
    if not 0.0 < number <= 1.0:
        raise FaithcamValueError(f"{name} must be in (0, 1], got {value!r}")
    return number


def _largest_component_box(region: np.ndarray) -> tuple[int, int, int, int]:
    """Box (x0, y0, x1, y1), exclusive ends, around the largest 8-connected component of a
    region that is not empty (it holds the map's peak)."""
    from scipy import ndimage  # optional dependency, only needed here

    labels, _ = ndimage.label(region, structure=np.ones((3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel())[1:]
    ys, xs = np.nonzero(labels == int(np.argmax(sizes)) + 1)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


def _truth_boxes(item: Any, mask: Tensor) -> list[tuple[int, int, int, int]]:
    """Ground-truth boxes of one image: the given boxes, or the box around a given mask."""
    if item is None or (isinstance(item, (Tensor, np.ndarray)) and item.ndim == 2):
        ys, xs = torch.nonzero(mask, as_tuple=True)
        if ys.numel() == 0:
            return []
        return [(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)]
    return [tuple(int(v) for v in box) for box in item]  # type: ignore[misc]


def bbox_accuracy(
    images: Tensor,
    maps: ArrayLike,
    boxes: GroundTruth,
    *,
    threshold: float = 0.5,
    iou_threshold: float = 0.5,
) -> MetricResult:
    """Bounding-box accuracy (weakly supervised localisation as in CAM, Grad-CAM and
    Integrated Grad-CAM). Higher is better.

    The map is thresholded at ``threshold · max(map)`` (pixels ``>=``), the largest 8-connected
    region is kept and its bounding box B̂ compared with the ground truth: 1 when
    ``max_g IoU(B̂, g) >= iou_threshold`` (0.5), else 0. With a mask as ground truth, g is the box
    around the mask. Uses ``scipy.ndimage`` for the connected components.
    ``details["boxes"]`` holds the predicted boxes.
    """
    threshold = _fraction(threshold, "threshold")
    iou_threshold = _fraction(iou_threshold, "iou_threshold")
    maps, masks = _prepare(images, maps, boxes)
    items = list(boxes) if not isinstance(boxes, (Tensor, np.ndarray)) else [None] * len(maps)
    values, predicted = [], []
    for m, mask, item in zip(maps.cpu(), masks.cpu(), items, strict=True):
        peak = float(m.max())
        pred = _largest_component_box((m >= threshold * peak).numpy()) if peak > 0 else None
        truth = _truth_boxes(item, mask)
        predicted.append(pred)
        if not truth:
            values.append(math.nan)
            continue
        best = max(_iou(pred, g) for g in truth) if pred is not None else 0.0
        values.append(float(best >= iou_threshold))
    empty = count_empty_masks(masks, "bbox_accuracy")
    return MetricResult(
        "bbox_accuracy",
        torch.tensor(values, dtype=torch.float64),
        {"boxes": predicted, "empty_masks": empty},
        bounds=(0.0, 1.0),
    )
