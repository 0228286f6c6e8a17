"""What `faithcam evaluate` explains: one item per image and explained class, with the boxes
that count for that class.

The papers' protocol (Grad-CAM, Integrated Grad-CAM, Score-CAM: the ground-truth class,
scored against that class's boxes) is the default when annotations are given:

- ``annotated`` (default with ``--annotations``): one item per annotated class present in an
  image (several objects of one class: one item, their boxes together); the target is that
  class, mapped to the model's classes by name (:func:`label_classes`), and only its boxes
  count. An image whose boxes carry no class name, or that has no annotation at all, gives one
  item explaining the predicted class.
- ``predicted`` (``--target predicted``, and without annotations): one item per image, the
  predicted class, every box of the image counting (the behaviour before issue 26).
- a class name or id (``--target tabby``): one item per image for that class, with the boxes
  of that class.

A box without a class name counts for any class. An item without boxes stays in every metric
that needs none (deletion, insertion...); the metrics that need boxes leave it out of their
``n``.
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from faithcam.errors import FaithcamValueError
from faithcam.io.annotations import Annotation, Box, box_mask
from faithcam.io.images import Preprocessing, load_image

PREDICTED = -1  # the item's target: the model's predicted class
SHOWN = 5  # names listed in an error
# PASCAL VOC's 20 classes in the devkit's order (``--classes voc``): the class ids of a model
# trained on VOC 2007 with torchvision's usual 20-way head.
VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip


@dataclass(frozen=True)
class EvalItem:
    """One explanation to score: an image, its target class (or PREDICTED), the class name
    shown, and the boxes (original pixels) that count for it (None: none)."""

    id: str
    path: Path
    target: int
    label: str
    boxes: tuple[Box, ...] | None
    box_labels: tuple[str, ...] = ()


def name_key(name: str) -> str:
    """A class name as compared: case, spaces, hyphens and underscores ignored
    (``"Potted plant"`` matches ``"pottedplant"``)."""
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


def label_classes(
    labels: Sequence[str], class_names: Sequence[str] | None, n_classes: int
) -> dict[str, int]:
    """Each annotation class name -> the model's class id (an exact name, compared by
    :func:`name_key`, or a class id written as a number); one clear error naming every name
    that matches no class."""
    keys: dict[str, int] = {}
    for i, name in enumerate(class_names or []):
        keys.setdefault(name_key(name), i)
    found, unknown = {}, []
    for label in dict.fromkeys(labels):
        if label.strip().isdigit() and int(label) < n_classes:
            found[label] = int(label)
        elif name_key(label) in keys and keys[name_key(label)] < n_classes:
            found[label] = keys[name_key(label)]
        else:
            unknown.append(label)
    if unknown:
        raise FaithcamValueError(_unknown_message(unknown, class_names))
    return found


def _unknown_message(unknown: list[str], class_names: Sequence[str] | None) -> str:
    listed = ", ".join(repr(u) for u in unknown[:SHOWN])
    more = f" (+{len(unknown) - SHOWN} more)" if len(unknown) > SHOWN else ""
    if class_names:
        close = difflib.get_close_matches(unknown[0], list(class_names), n=3)
        hint = f" (closest to {unknown[0]!r}: {', '.join(close)})" if close else ""
        where = f"none of the model's {len(class_names)} class names{hint}"
    else:
        where = "the model has no class names"
    return (
        f"--annotations: class {listed}{more} is {where}; the annotated class is explained by "
        "default, so give the model's class names in the annotations' terms with --classes FILE "
        "(one per line, in output order; --classes voc for PASCAL VOC's 20), or pass --target "
        "predicted to explain the predicted class against every box"
    )


def _boxes_for(annotation: Annotation, wanted: Callable[[str], bool]) -> tuple[tuple, tuple]:
    pairs = [
        (box, label)
        for box, label in zip(annotation.boxes, _labels(annotation), strict=True)
        if not label or wanted(label)
    ]
    return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)


def _labels(annotation: Annotation) -> list[str]:
    labels = list(annotation.labels)
    return labels + [""] * (len(annotation.boxes) - len(labels))


def plan_items(
    paths: Sequence[Path],
    root: Path,
    annotations: dict[Path, Annotation],
    mode: str | int,
    classes: dict[str, int],
    name: Callable[[int], str],
) -> list[EvalItem]:
    """The items of every image (see the module). ``mode``: ``"annotated"``,
    ``"predicted"`` or a class id; ``classes``: annotation name -> class id
    (:func:`label_classes`); ``name``: the model's class name of an id."""
    items: list[EvalItem] = []
    for path in paths:
        image_id = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        annotation = annotations.get(path)
        if annotation is None:
            target = mode if isinstance(mode, int) else PREDICTED
            items.append(EvalItem(image_id, path, target, "" if target < 0 else name(target), None))
            continue
        labelled = [label for label in _labels(annotation) if label]
        if mode == "annotated" and labelled:
            for label in dict.fromkeys(labelled):
                boxes, box_labels = _boxes_for(annotation, lambda other, lb=label: other == lb)
                target = classes[label]
                items.append(EvalItem(f"{image_id}#{label}", path, target, name(target),
                                      boxes, box_labels))  # fmt: skip
        elif isinstance(mode, int):
            boxes, box_labels = _boxes_for(annotation, lambda other: classes.get(other) == mode)
            items.append(EvalItem(image_id, path, mode, name(mode), boxes or None, box_labels))
        else:  # predicted, or no class names in this image's annotation
            boxes, box_labels = tuple(annotation.boxes), tuple(_labels(annotation))
            items.append(EvalItem(image_id, path, PREDICTED, "", boxes, box_labels))
    return items


def warn_unlabelled(items: Sequence[EvalItem], mode: str | int) -> None:
    """Under the annotated protocol, say how many annotated images had no class names (their
    predicted class is explained)."""
    if mode != "annotated":
        return
    count = sum(1 for i in items if i.target == PREDICTED and i.boxes and not any(i.box_labels))
    if count:
        warnings.warn(
            f"--annotations: {count} image(s) have boxes without class names; their predicted "
            "class is explained, scored against all their boxes",
            stacklevel=2,
        )


class FolderDataset(torch.utils.data.Dataset):
    """The items of a folder, loaded lazily for a DataLoader: the model input, the display
    crop, the id, the target (-1: predicted) and the boxes as a mask on the crop (None: no
    boxes count for this item)."""

    def __init__(self, items: Sequence[EvalItem], prep: Preprocessing, root: Path) -> None:
        self.items, self.prep, self.root = list(items), prep, root
        self.ids = [item.id for item in self.items]
        self.paths = [item.path for item in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        entry = self.items[i]
        array = load_image(entry.path)
        crop = self.prep.crop(array)  # [0, 1], as shown in the report
        item = {
            "image": self.prep.normalise(crop[None])[0],
            "crop": crop,
            "id": entry.id,
            "target": entry.target,
        }
        if entry.boxes:
            item["boxes"] = box_mask(entry.boxes, *array.shape[:2], self.prep).numpy()
            item["shown_boxes"] = crop_boxes(entry.boxes, array.shape[:2], self.prep)
        return item


def crop_boxes(
    boxes: Sequence[Box], shape: tuple[int, int], prep: Preprocessing
) -> list[tuple[int, int, int, int] | None]:
    """Each box in the crop's pixels (x0, y0, x1, y1), through the image's resize and centre
    crop (None: cropped away)."""
    shown = []
    for box in boxes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mask = box_mask([box], *shape, prep)
        ys, xs = torch.nonzero(mask, as_tuple=True)
        shown.append(
            None if ys.numel() == 0
            else (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        )  # fmt: skip
    return shown
