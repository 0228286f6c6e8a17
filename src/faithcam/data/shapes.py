"""ShapesBench: a procedural, seeded image data set with exact ground truth.

Each image (64 x 64 RGB by default: large enough for a shape to span 2-3 cells of an 8 x 8
feature map, small enough to train two CNNs on 2 CPU cores in minutes) holds

- a textured background: a smooth low-frequency colour field plus fine pixel noise, kept grey-ish
  (low saturation) so that the saturated objects stand out;
- one **target** object of class ``label`` (circle, square, triangle, star, cross);
- 0-2 **distractor** objects of other classes. The label stays defined by a size rule: every
  shape of "size" s covers the same area π s² whatever its class, targets have s ∈ [9, 12] px
  and distractors s ∈ [4, 5.5] px, so the target covers at least (9 / 5.5)² ≈ 2.7 x the area of
  any distractor. The label is the class of the largest object.

Objects never overlap (centres are re-drawn until their circumscribed circles are 2 px apart;
a distractor that still collides is dropped) and are drawn without anti-aliasing, so the
pixel masks are exactly the pixels painted with the object's colour.

Split ``"spurious"``: the target's class is drawn independently of the label (shape is
uninformative) and an 8 x 8 **cue patch** whose colour is ``CUE_COLOURS[label]`` is painted at
a random free position: the only feature that predicts the label is the patch, so a model that
reaches high accuracy must use it. Split ``"clean"`` has no patch (empty cue masks).

Everything is drawn from one ``torch.Generator`` seeded with ``seed``: same (split, n, seed,
size), same tensors, bit for bit.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from faithcam.errors import FaithcamValueError

CLASSES = ("circle", "square", "triangle", "star", "cross")
SPLITS = ("clean", "spurious")
CUE_COLOURS = torch.tensor(
    [[1.0, 0.0, 0.0], [0.0, 0.9, 0.0], [0.0, 0.3, 1.0], [1.0, 0.9, 0.0], [1.0, 0.0, 1.0]]
)
TARGET_SIZE = (9.0, 12.0)  # equivalent-disc radius s (area = π s²) of the target, in px at 64
DISTRACTOR_SIZE = (4.0, 5.5)
MAX_DISTRACTORS = 2
CUE_SIZE = 8  # px at 64 x 64; scaled with the image size
_CHUNK = 1024  # images rendered at once (bounds memory; fixed so results never depend on it)
_TRIES = 8  # placement re-draws before a distractor is dropped


# ----------------------------------------------------------------------------- shapes
# Unit shapes: membership tests on coordinates (u, v) in the object's rotated frame, each shape
# inscribed in the unit circle. They are scaled per class to a common area (see _area_scale).


def _regular_polygon(sides: int) -> Callable[[Tensor, Tensor], Tensor]:
    """Regular polygon with vertices on the unit circle: intersection of ``sides`` half-planes."""

    def inside(u: Tensor, v: Tensor) -> Tensor:
        apothem = math.cos(math.pi / sides)
        result = torch.ones_like(u, dtype=torch.bool)
        for k in range(sides):  # normals point to the edge midpoints; a vertex points up
            angle = math.pi / 2 + math.pi / sides + 2 * math.pi * k / sides
            result &= u * math.cos(angle) + v * math.sin(angle) <= apothem
        return result

    return inside


def _circle(u: Tensor, v: Tensor) -> Tensor:
    return u * u + v * v <= 1.0


def _star(u: Tensor, v: Tensor, points: int = 5, inner: float = 0.45) -> Tensor:
    """Star polygon: in polar coordinates, folded into one half-spike, inside the straight edge
    from the outer vertex (radius 1) to the inner vertex (radius ``inner``)."""
    period = 2 * math.pi / points
    half = period / 2
    phi = torch.remainder(torch.atan2(u, v), period)  # angle from the upward vertex
    psi = torch.minimum(phi, period - phi)
    nx, ny = inner * math.sin(half), 1.0 - inner * math.cos(half)
    boundary = (inner * math.sin(half)) / (nx * torch.cos(psi) + ny * torch.sin(psi))
    return u * u + v * v <= boundary * boundary


def _cross(u: Tensor, v: Tensor, arm: float = 0.95, width: float = 0.3) -> Tensor:
    au, av = u.abs(), v.abs()
    return ((au <= width) & (av <= arm)) | ((av <= width) & (au <= arm))


SHAPES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "circle": _circle,
    "square": _regular_polygon(4),
    "triangle": _regular_polygon(3),
    "star": _star,
    "cross": _cross,
}


@functools.cache
def _area_scale() -> Tensor:
    """Per-class factor k_c with area(k_c · unit shape) = π: then size s means area π s²."""
    grid = (torch.arange(1024, dtype=torch.float64) + 0.5) / 512 - 1
    v, u = torch.meshgrid(grid, grid, indexing="ij")
    areas = torch.stack([SHAPES[c](u, v).double().mean() * 4 for c in CLASSES])
    return torch.sqrt(math.pi / areas).float()


def _shape_masks(
    classes: Tensor, centres: Tensor, sizes: Tensor, angles: Tensor, size: int
) -> Tensor:
    """Boolean masks (N, H, W) of one object per image, tested at pixel centres.

    Each shape is only evaluated on a square window around its centre that holds its
    circumscribed circle, then scattered into the full mask.
    """
    n = len(classes)
    scale = _area_scale()[classes] * sizes  # circumradius in px
    window = min(size, math.ceil(2 * float(scale.max())) + 3)
    corner = (centres.floor() - window // 2).long().clamp(0, size - window)  # (N, 2) x0, y0
    offsets = torch.arange(window)
    xs = corner[:, 0, None] + offsets  # (N, W)
    ys = corner[:, 1, None] + offsets
    dx = (xs.float() + 0.5 - centres[:, 0, None])[:, None, :]
    dy = (ys.float() + 0.5 - centres[:, 1, None])[:, :, None]
    cos, sin = torch.cos(angles)[:, None, None], torch.sin(angles)[:, None, None]
    r = scale[:, None, None]
    u = (cos * dx + sin * dy) / r
    v = (-sin * dx + cos * dy) / r
    local = torch.zeros(n, window, window, dtype=torch.bool)
    for c, name in enumerate(CLASSES):
        rows = classes == c
        if rows.any():
            local[rows] = SHAPES[name](u[rows], v[rows])
    masks = torch.zeros(n, size, size, dtype=torch.bool)
    masks[torch.arange(n)[:, None, None], ys[:, :, None], xs[:, None, :]] = local
    return masks


# ----------------------------------------------------------------------------- layout


@dataclass
class _Layout:
    """Per-image drawing parameters, drawn for all images before any pixel is rendered."""

    labels: Tensor  # (N,)
    classes: Tensor  # (N, 1 + D) object classes, target first
    sizes: Tensor  # (N, 1 + D) equivalent-disc radii, px
    centres: Tensor  # (N, 1 + D, 2) x, y
    angles: Tensor  # (N, 1 + D)
    present: Tensor  # (N, 1 + D) bool (the target is always present)
    colours: Tensor  # (N, 1 + D, 3)
    cue_corner: Tensor  # (N, 2) top-left x, y of the cue patch (spurious split)


def _uniform(shape: tuple[int, ...], low: float, high: float, g: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(shape, generator=g)


def _vivid_colours(shape: tuple[int, ...], g: torch.Generator) -> Tensor:
    """Saturated colours: random hue, saturation in [0.7, 1], value in [0.75, 1] (HSV -> RGB)."""
    hue = torch.rand(shape, generator=g)
    sat = _uniform(shape, 0.7, 1.0, g)
    val = _uniform(shape, 0.75, 1.0, g)
    k = torch.remainder(torch.tensor([5.0, 3.0, 1.0]) + hue[..., None] * 6, 6)
    weight = torch.clamp(torch.minimum(k, 4 - k), 0, 1)
    return val[..., None] * (1 - sat[..., None] * weight)


def _separated(centres: Tensor, radii: Tensor, j: int, others: list[int], gap: float) -> Tensor:
    """(N,) whether object j's circumscribed circle keeps ``gap`` px from each of ``others``."""
    ok = torch.ones(len(centres), dtype=torch.bool)
    for i in others:
        distance = (centres[:, j] - centres[:, i]).norm(dim=1)
        ok &= distance >= radii[:, j] + radii[:, i] + gap
    return ok


def _place(radius: Tensor, size: int, g: torch.Generator) -> Tensor:
    """Random centres (N, 2) keeping a circle of ``radius`` inside the image."""
    margin = radius[:, None] + 1
    return margin + torch.rand(len(radius), 2, generator=g) * (size - 2 * margin)


def _layout(split: str, n: int, size: int, g: torch.Generator) -> _Layout:
    k = len(CLASSES)
    scale = size / 64
    labels = torch.randint(0, k, (n,), generator=g)
    target_class = labels if split == "clean" else torch.randint(0, k, (n,), generator=g)
    # distractors: other classes than the target's, drawn by a random non-zero offset
    offsets = torch.randint(1, k, (n, MAX_DISTRACTORS), generator=g)
    classes = torch.cat([target_class[:, None], (target_class[:, None] + offsets) % k], dim=1)
    sizes = (
        torch.cat(
            [
                _uniform((n, 1), *TARGET_SIZE, g),
                _uniform((n, MAX_DISTRACTORS), *DISTRACTOR_SIZE, g),
            ],
            dim=1,
        )
        * scale
    )
    radii = sizes * _area_scale()[classes]
    count = torch.randint(0, MAX_DISTRACTORS + 1, (n,), generator=g)
    present = torch.arange(1 + MAX_DISTRACTORS)[None, :] <= count[:, None]
    centres = torch.stack([_place(radii[:, j], size, g) for j in range(radii.shape[1])], dim=1)
    for j in range(1, 1 + MAX_DISTRACTORS):
        ok = _separated(centres, radii, j, list(range(j)), gap=2 * scale)
        for _ in range(_TRIES):
            retry = _place(radii[:, j], size, g)
            centres[~ok, j] = retry[~ok]
            ok = _separated(centres, radii, j, list(range(j)), gap=2 * scale)
        present[:, j] &= ok
    angles = _uniform(tuple(classes.shape), 0.0, 2 * math.pi, g)
    colours = _vivid_colours(tuple(classes.shape), g)
    cue_corner = _cue_corners(centres, radii, present, size, g)
    return _Layout(labels, classes, sizes, centres, angles, present, colours, cue_corner)


def _cue_corners(
    centres: Tensor, radii: Tensor, present: Tensor, size: int, g: torch.Generator
) -> Tensor:
    """Top-left corners (N, 2) of the cue patch, re-drawn until it is clear of every object
    (always drawn, also for the clean split, so both splits share the same object layouts)."""
    side = _cue_side(size)
    n = len(centres)

    def draw() -> Tensor:
        return torch.randint(0, size - side + 1, (n, 2), generator=g).float()

    def clear(corner: Tensor) -> Tensor:
        middle = corner + side / 2
        distance = (middle[:, None, :] - centres).norm(dim=2)
        # the patch's circumscribed circle (radius side / √2) keeps 1 px from every object
        far = distance >= radii + side / math.sqrt(2) + 1
        return (far | ~present).all(dim=1)

    corner = draw()
    ok = clear(corner)
    for _ in range(4 * _TRIES):
        retry = draw()
        corner[~ok] = retry[~ok]
        ok = clear(corner)
    if not ok.all():  # pragma: no cover - astronomically rare with these sizes
        raise RuntimeError("ShapesBench: could not place the cue patch clear of the objects")
    return corner.long()


def _cue_side(size: int) -> int:
    return max(2, round(CUE_SIZE * size / 64))


# ----------------------------------------------------------------------------- rendering


def _background(n: int, size: int, g: torch.Generator) -> Tensor:
    """Textured, low-saturation background (n, 3, H, W) in [0.15, 0.65]."""
    base = _uniform((n, 1, 1, 1), 0.25, 0.55, g)
    tint = _uniform((n, 3, 1, 1), -0.05, 0.05, g)
    coarse = F.interpolate(
        _uniform((n, 1, 6, 6), -0.12, 0.12, g), size=(size, size), mode="bicubic",
        align_corners=False,
    )  # fmt: skip
    fine = _uniform((n, 1, size, size), -0.04, 0.04, g)
    return (base + tint + coarse + fine).clamp(0.15, 0.65).expand(n, 3, size, size).clone()


def _render(split: str, layout: _Layout, rows: slice, size: int, g: torch.Generator) -> dict:
    """Images and masks of images ``rows`` of the layout."""
    images = _background(len(layout.labels[rows]), size, g)
    n_objects = layout.classes.shape[1]
    masks = torch.stack(
        [
            _shape_masks(
                layout.classes[rows, j], layout.centres[rows, j], layout.sizes[rows, j],
                layout.angles[rows, j], size,
            ) & layout.present[rows, j, None, None]
            for j in range(n_objects)
        ],
        dim=1,
    )  # fmt: skip
    for j in range(n_objects):
        colour = layout.colours[rows, j, :, None, None]
        images = torch.where(masks[:, j, None], colour, images)
    cue = torch.zeros(len(images), size, size, dtype=torch.bool)
    if split == "spurious":
        side = _cue_side(size)
        pixels = torch.arange(size)
        x0, y0 = layout.cue_corner[rows, 0, None], layout.cue_corner[rows, 1, None]
        in_x = (pixels >= x0) & (pixels < x0 + side)
        in_y = (pixels >= y0) & (pixels < y0 + side)
        cue = in_y[:, :, None] & in_x[:, None, :]
        colour = CUE_COLOURS[layout.labels[rows]][:, :, None, None]
        images = torch.where(cue[:, None], colour, images)
    return {
        "images": images,
        "target_masks": masks[:, 0],
        "distractor_masks": masks[:, 1:].any(dim=1),
        "object_masks": masks,
        "cue_masks": cue,
    }


def mask_boxes(masks: Tensor) -> Tensor:
    """Boxes (..., 4) ``(x0, y0, x1, y1)``, x1/y1 exclusive, around boolean masks (..., H, W);
    an empty mask gives (0, 0, 0, 0)."""
    rows, cols = masks.any(dim=-1), masks.any(dim=-2)
    height, width = masks.shape[-2:]

    def extent(flags: Tensor, length: int) -> tuple[Tensor, Tensor]:
        index = torch.arange(length)
        low = torch.where(flags, index, length).amin(dim=-1)
        high = torch.where(flags, index + 1, 0).amax(dim=-1)
        empty = ~flags.any(dim=-1)
        return low.masked_fill(empty, 0), high.masked_fill(empty, 0)

    x0, x1 = extent(cols, width)
    y0, y1 = extent(rows, height)
    return torch.stack([x0, y0, x1, y1], dim=-1)


# ----------------------------------------------------------------------------- public API


class ShapesBench:
    """A generated ShapesBench set; see the module docstring for the rules.

    Attributes:
        images: (N, 3, H, W) float32 in [0, 1].
        labels: (N,) int64 class ids into :data:`CLASSES`.
        target_boxes: (N, 4) int64 ``(x0, y0, x1, y1)`` around the target, x1/y1 exclusive.
        target_masks / distractor_masks / cue_masks: (N, H, W) bool (cue masks are empty on the
            clean split).
        object_masks: (N, 1 + D, H, W) bool, one mask per object slot (target first; the mask of
            an absent distractor is empty); ``object_boxes`` (N, 1 + D, 4) their boxes.
        object_classes: (N, 1 + D) int64 class of each slot; ``object_present`` (N, 1 + D) bool.
    """

    split: str
    seed: int
    images: Tensor
    labels: Tensor
    target_masks: Tensor
    distractor_masks: Tensor
    cue_masks: Tensor
    object_masks: Tensor
    object_classes: Tensor
    object_present: Tensor

    def __init__(self, split: str = "clean", n: int = 1000, seed: int = 0, size: int = 64):
        if split not in SPLITS:
            raise FaithcamValueError(f"split: expected one of {SPLITS}, got {split!r}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise FaithcamValueError(f"n: expected an int >= 1, got {n!r}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 32:
            raise FaithcamValueError(f"size: expected an int >= 32 (pixels), got {size!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise FaithcamValueError(f"seed: expected an int, got {seed!r}")
        g = torch.Generator().manual_seed(seed)
        layout = _layout(split, n, size, g)
        parts = [_render(split, layout, slice(i, i + _CHUNK), size, g) for i in range(0, n, _CHUNK)]
        joined = {key: torch.cat([p[key] for p in parts]) for key in parts[0]}
        self.split, self.seed = split, seed
        self.images = joined["images"]
        self.labels = layout.labels
        self.target_masks = joined["target_masks"]
        self.distractor_masks = joined["distractor_masks"]
        self.cue_masks = joined["cue_masks"]
        self.object_masks = joined["object_masks"]
        self.object_classes = layout.classes
        self.object_present = layout.present

    @property
    def target_boxes(self) -> Tensor:
        return mask_boxes(self.target_masks)

    @property
    def object_boxes(self) -> Tensor:
        return mask_boxes(self.object_masks)

    @property
    def cue_boxes(self) -> Tensor:
        return mask_boxes(self.cue_masks)

    def __len__(self) -> int:
        return len(self.labels)

    def dataset(self) -> ShapesDataset:
        """A ``torch.utils.data.Dataset`` view yielding ``(image, label)`` pairs."""
        return ShapesDataset(self)

    def __repr__(self) -> str:
        h, w = self.images.shape[-2:]
        return f"ShapesBench(split={self.split!r}, n={len(self)}, seed={self.seed}, size={h}x{w})"


class ShapesDataset(Dataset):
    """``(image, label)`` pairs of a :class:`ShapesBench` (for a DataLoader)."""

    def __init__(self, bench: ShapesBench) -> None:
        self.bench = bench

    def __len__(self) -> int:
        return len(self.bench)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.bench.images[index], self.bench.labels[index]
