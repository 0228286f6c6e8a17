"""Ground-truth boxes for ``faithcam evaluate``: Pascal VOC XML, COCO JSON or a simple CSV.

Every reader returns :class:`Annotation` objects with boxes ``(x0, y0, x1, y1)`` in the pixel
coordinates of the original image, x1 and y1 exclusive:

- Pascal VOC (a folder of ``.xml`` files or one file): ``<filename>`` and ``<object><bndbox>``
  with 1-based inclusive ``xmin ymin xmax ymax`` (the VOC devkit convention).
- COCO (``.json``): ``images[].file_name`` and ``annotations[].bbox = [x, y, width, height]``.
- CSV (``.csv``) with a header ``image,x0,y0,x1,y1[,label]`` (``xmin,ymin,xmax,ymax`` and
  ``filename`` are accepted too), one box per row.

Images are looked up in ``image_dir``; images without boxes are skipped; missing image files
raise :class:`AnnotationError` naming them.
"""

from __future__ import annotations

import csv
import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from faithcam.errors import FaithcamValueError
from faithcam.io.images import Preprocessing

Box = tuple[float, float, float, float]


class AnnotationError(FaithcamValueError):
    """An annotation file is malformed or refers to images that do not exist."""


@dataclass
class Annotation:
    """The boxes (original pixel coordinates, x1/y1 exclusive) and labels of one image."""

    image: Path
    boxes: list[Box] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


def read_annotations(path: str | Path, image_dir: str | Path) -> list[Annotation]:
    """Read VOC (folder or ``.xml``), COCO (``.json``) or CSV (``.csv``) annotations."""
    path, image_dir = Path(path), Path(image_dir)
    if not path.exists():
        raise AnnotationError(f"--annotations: no such file or folder: {path}")
    if path.is_dir() or path.suffix.lower() == ".xml":
        found = read_voc(path, image_dir)
    elif path.suffix.lower() == ".json":
        found = read_coco(path, image_dir)
    elif path.suffix.lower() == ".csv":
        found = read_csv(path, image_dir)
    else:
        raise AnnotationError(
            f"--annotations {path}: unknown format; expected a VOC .xml file or folder, a COCO "
            ".json or a .csv"
        )
    annotations = [a for a in found if a.boxes]
    if not annotations:
        raise AnnotationError(f"--annotations {path}: no boxes found")
    _check_images_exist(annotations, path)
    return annotations


def _check_images_exist(annotations: Sequence[Annotation], source: Path) -> None:
    missing = [str(a.image) for a in annotations if not a.image.is_file()]
    if missing:
        more = f" (+{len(missing) - 3} more)" if len(missing) > 3 else ""
        raise AnnotationError(
            f"--annotations {source}: {len(missing)} referenced image(s) not found: "
            f"{', '.join(missing[:3])}{more}"
        )


def _number(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AnnotationError(f"{where}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise AnnotationError(f"{where}: expected a finite number, got {value!r}")
    return number


def _box(x0: float, y0: float, x1: float, y1: float, where: str) -> Box:
    if not (x0 < x1 and y0 < y1):
        raise AnnotationError(f"{where}: empty box ({x0}, {y0}, {x1}, {y1}): need x0 < x1, y0 < y1")
    return (x0, y0, x1, y1)


def read_voc(path: str | Path, image_dir: str | Path) -> list[Annotation]:
    """Pascal VOC XML: one file, or every ``.xml`` file in a folder."""
    path = Path(path)
    files = sorted(path.glob("*.xml")) if path.is_dir() else [path]
    annotations = []
    for file in files:
        try:
            root = ET.parse(file).getroot()
        except ET.ParseError as error:
            raise AnnotationError(f"--annotations {file}: not valid XML ({error})") from None
        filename = root.findtext("filename")
        if not filename:
            raise AnnotationError(f"--annotations {file}: no <filename> element")
        annotation = Annotation(Path(image_dir) / filename.strip())
        for i, obj in enumerate(root.iter("object")):
            where = f"--annotations {file}: object {i}"
            box = obj.find("bndbox")
            if box is None:
                raise AnnotationError(f"{where}: no <bndbox>")
            x0, y0, x1, y1 = (
                _number(box.findtext(tag), f"{where} <{tag}>")
                for tag in ("xmin", "ymin", "xmax", "ymax")
            )
            annotation.boxes.append(_box(x0 - 1, y0 - 1, x1, y1, where))
            annotation.labels.append((obj.findtext("name") or "").strip())
        annotations.append(annotation)
    return annotations


def read_coco(path: str | Path, image_dir: str | Path) -> list[Annotation]:
    """COCO detection JSON (``images``, ``annotations`` with ``bbox = [x, y, w, h]``)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        images = {item["id"]: item["file_name"] for item in data["images"]}
        items = list(data["annotations"])
    except json.JSONDecodeError as error:
        raise AnnotationError(f"--annotations {path}: not valid JSON ({error})") from None
    except (KeyError, TypeError) as error:
        raise AnnotationError(
            f"--annotations {path}: not COCO JSON (missing images/annotations field {error})"
        ) from None
    categories = {c.get("id"): c.get("name", "") for c in data.get("categories", [])}
    by_id = {image_id: Annotation(Path(image_dir) / name) for image_id, name in images.items()}
    for i, item in enumerate(items):
        where = f"--annotations {path}: annotations[{i}]"
        if item.get("image_id") not in by_id:
            raise AnnotationError(f"{where}: image_id {item.get('image_id')!r} is not in images")
        bbox = item.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise AnnotationError(f"{where}: bbox must be [x, y, width, height], got {bbox!r}")
        x, y, w, h = (_number(v, f"{where} bbox") for v in bbox)
        by_id[item["image_id"]].boxes.append(_box(x, y, x + w, y + h, where))
        by_id[item["image_id"]].labels.append(str(categories.get(item.get("category_id"), "")))
    return list(by_id.values())


CSV_COLUMNS = {
    "image": ("image", "filename", "file"),
    "x0": ("x0", "xmin"),
    "y0": ("y0", "ymin"),
    "x1": ("x1", "xmax"),
    "y1": ("y1", "ymax"),
}


def read_csv(path: str | Path, image_dir: str | Path) -> list[Annotation]:
    """CSV with a header ``image,x0,y0,x1,y1[,label]``, one box per row."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        header = [h.strip().lower() for h in reader.fieldnames or []]
        columns = {}
        for key, aliases in CSV_COLUMNS.items():
            match = next((a for a in aliases if a in header), None)
            if match is None:
                raise AnnotationError(
                    f"--annotations {path}: the header needs a column {' or '.join(aliases)}; "
                    f"got {', '.join(header) or 'nothing'}"
                )
            columns[key] = match
        by_name: dict[str, Annotation] = {}
        for line, raw in enumerate(reader, start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
            where = f"--annotations {path}: line {line}"
            name = row[columns["image"]]
            annotation = by_name.setdefault(name, Annotation(Path(image_dir) / name))
            x0, y0, x1, y1 = (
                _number(row[columns[k]], f"{where} {k}") for k in CSV_COLUMNS if k != "image"
            )
            annotation.boxes.append(_box(x0, y0, x1, y1, where))
            annotation.labels.append(row.get("label", row.get("class", "")))
    return list(by_name.values())


def box_mask(boxes: Sequence[Box], height: int, width: int, prep: Preprocessing) -> torch.Tensor:
    """Boxes on an ``height`` x ``width`` image -> a (size, size) boolean mask on the model's
    input, through the same resize and centre crop as the image (pixels at least half covered).
    """
    mask = torch.zeros(1, height, width)
    for x0, y0, x1, y1 in boxes:
        left, top = max(0, math.floor(x0)), max(0, math.floor(y0))
        right, bottom = min(width, math.ceil(x1)), min(height, math.ceil(y1))
        mask[0, top:bottom, left:right] = 1.0
    return prep.crop(mask)[0] >= 0.5
