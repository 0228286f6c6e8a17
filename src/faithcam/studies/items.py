"""The items of a study's data set, and the ids that key their stored rows.

:func:`~faithcam.studies.study.run_study` takes items of two shapes:

- dicts ``{"image": (C, H, W) tensor, "id": ..., "target": class id (optional), "boxes":
  ground truth (optional)}``;
- torchvision-style ``(image, label)`` pairs (``label`` is the target class).

The ids key the rows, so that a second run resumes where the first stopped:

- ``dataset.ids`` when the data set has them: known before loading, so the images already
  done are not even loaded;
- else each item's ``"id"``: every item is loaded, and the ones already done are dropped
  before they are explained;
- else the item's index, with a warning: reordering or filtering the data set between two
  runs then pairs stored rows with other images.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from torch.utils.data import Dataset

from faithcam.engine.caller import warn_at_caller
from faithcam.errors import FaithcamTypeError, FaithcamValueError
from faithcam.studies.settings import item_sha256

INDEX_ID_WARNING = (
    "dataset: its items carry no 'id' and it has no .ids, so the stored rows are keyed by the "
    "item's index; reordering or filtering the data set between two runs pairs stored rows with "
    "other images (give the items an 'id' or the data set an .ids list)"
)


def image_ids(dataset: Dataset) -> list[str]:
    """Stable, unique ids: ``dataset.ids`` when the data set has them, else the indices."""
    ids = getattr(dataset, "ids", None)
    ids = [str(i) for i in (ids if ids is not None else range(len(dataset)))]
    check_unique(ids)
    return ids


def check_unique(ids: list[str]) -> None:
    repeated = [(i, n) for i, n in Counter(ids).items() if n > 1]
    if repeated:
        first, count = repeated[0]
        raise FaithcamValueError(
            f"dataset: image id {first!r} appears {count} times ({len(repeated)} ids repeat); "
            "ids key the stored rows and must be unique (two annotation files for one image?)"
        )


def known_ids(dataset: Dataset) -> list[str] | None:
    """The ids of every item before any is loaded (``dataset.ids``, or the indices when the
    items carry no id: warned), or None when only the items know them (read as they load)."""
    if getattr(dataset, "ids", None) is not None:
        return image_ids(dataset)
    if len(dataset) == 0 or "id" in as_item(dataset[0], 0):
        return None
    warn_at_caller(INDEX_ID_WARNING)
    return [str(i) for i in range(len(dataset))]


def as_item(raw: Any, index: int) -> dict[str, Any]:
    """One data set item as a dict (an ``(image, label)`` pair becomes image and target);
    ``"index"`` is its position in the data set."""
    if isinstance(raw, tuple | list) and len(raw) == 2:
        image, label = raw
        item = {"image": image, "target": label}
    elif isinstance(raw, dict):
        item = dict(raw)
    else:
        raise FaithcamTypeError(
            f"dataset[{index}]: expected a dict {{'image', 'id', 'target', 'boxes'}} or an "
            f"(image, label) pair, got {type(raw).__name__}"
        )
    image = item.get("image")
    if not isinstance(image, torch.Tensor):
        raise FaithcamTypeError(
            f"dataset[{index}]: the image is a {type(image).__name__}, not a (C, H, W) tensor; "
            "give the data set a transform that makes one, e.g. "
            "transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])"
        )
    label = item.get("target", -1)
    item["target"] = int(label.item() if isinstance(label, torch.Tensor) else label)
    item["index"] = index
    return item


class StudyItems(Dataset):
    """``dataset`` with every item as a dict carrying its id (and its index)."""

    def __init__(self, dataset: Dataset, ids: list[str] | None) -> None:
        self.dataset = dataset
        self.ids = ids

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = as_item(self.dataset[index], index)
        if self.ids is None:
            item["id"] = str(item["id"])
        elif "id" in item and str(item["id"]) != self.ids[index]:
            raise FaithcamValueError(
                f"dataset: item {index} has id {str(item['id'])!r} but dataset.ids[{index}] is "
                f"{self.ids[index]!r}; they must agree (the ids key the stored rows)"
            )
        else:
            item["id"] = self.ids[index]
        return item


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch of items: stacked images and targets (-1: the predicted class), lists of boxes
    (None: no ground truth for that image), ids and each item's SHA-256 (checked on resume)."""
    shapes = {tuple(item["image"].shape) for item in items}
    if len(shapes) > 1:
        raise FaithcamValueError(
            f"dataset: images of shapes {sorted(shapes)} in one batch (items "
            f"{items[0]['index']}..{items[-1]['index']}); resize or crop them to one size"
        )
    return {
        "image": torch.stack([item["image"] for item in items]),
        "target": torch.tensor([int(item.get("target", -1)) for item in items]),
        "boxes": [item.get("boxes") for item in items],
        "id": [str(item["id"]) for item in items],
        "sha256": [item_sha256(item) for item in items],
    }


def select(batch: dict[str, Any], keep: list[int]) -> dict[str, Any]:
    """The batch's items at positions ``keep``."""
    return {
        "image": batch["image"][keep],
        "target": batch["target"][keep],
        "boxes": [batch["boxes"][k] for k in keep],
        "id": [batch["id"][k] for k in keep],
        "sha256": [batch["sha256"][k] for k in keep],
    }
