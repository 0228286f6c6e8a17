"""Ground-truth boxes for ``faithcam evaluate``: Pascal VOC XML, COCO JSON or a simple CSV.

Every reader returns :class:`Annotation` objects with boxes ``(x0, y0, x1, y1)`` in the pixel
coordinates of the original image, x1 and y1 exclusive:

- Pascal VOC (a folder of ``.xml`` files or one file): ``<filename>`` and ``<object><bndbox>``
  with 1-based inclusive ``xmin ymin xmax ymax`` (the VOC devkit convention).
- COCO (``.json``): ``images[].file_name`` and ``annotations[].bbox = [x, y, width, height]``.
- CSV (``.csv``) with a header ``image,x0,y0,x1,y1[,label]`` (``xmin,ymin,xmax,ymax`` and
  ``filename`` are accepted too), one box per row.

Images are looked up in ``image_dir``; images without boxes are skipped; missing image files
raise :class:`AnnotationError` naming them. Hostile or careless files are refused with one line
naming the file and what was expected: a FIFO or device (it would block), XML with a DOCTYPE
or entity declaration (XXE, entity expansion), an image name that is absolute or climbs out of
``image_dir`` with ``..``, COCO entries that are not objects or ids that are not integers
(``true`` would equal ``1``), text that is not UTF-8, CSV rows with more fields than the header.
An image named twice (two paths to one file) is read once, its boxes merged, with a warning.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from xml.parsers import expat

import torch

from faithcam.errors import FaithcamValueError
from faithcam.io.images import Preprocessing, distinct_files

Box = tuple[float, float, float, float]
_DRIVE = re.compile(r"\s*[A-Za-z]:")  # C:\images\x.png: absolute on Windows


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
    if not path.is_dir():
        _check_regular(path)
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
    return _merge_repeats(annotations)


def _check_regular(file: Path) -> None:
    if not file.is_file():
        raise AnnotationError(
            f"--annotations {file}: not a regular file (a FIFO, socket or device); expected "
            "an annotation file or folder"
        )


def _merge_repeats(annotations: list[Annotation]) -> list[Annotation]:
    """One annotation per image file: the boxes of a second path to the same file (a link,
    ``a.png`` and ``./a.png`` from two XML files) join the first, with a warning."""
    kept = distinct_files([a.image for a in annotations], "annotated image")
    if len(kept) == len(annotations):
        return annotations
    first: dict[tuple[int, int], Annotation] = {}
    for annotation in annotations:
        info = annotation.image.stat()
        owner = first.setdefault((info.st_dev, info.st_ino), annotation)
        if owner is not annotation:
            owner.boxes += annotation.boxes
            owner.labels += annotation.labels
    return list(first.values())


def _image_path(image_dir: Path, name: Any, where: str) -> Path:
    """``image_dir / name``, refusing a name that is absolute or climbs out with ``..``."""
    if not isinstance(name, str) or not name.strip():
        raise AnnotationError(f"{where}: expected an image file name, got {name!r}")
    relative = PurePosixPath(name.strip())
    if relative.is_absolute() or ".." in relative.parts or "\x00" in name or _DRIVE.match(name):
        raise AnnotationError(
            f"{where}: image name {name!r} reaches outside the image folder; expected a path "
            "relative to it, without '..'"
        )
    return image_dir / relative


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


def _parse_xml(file: Path) -> ET.Element:
    """The XML root of ``file``; a DOCTYPE (where entities, XXE and entity expansion live) is
    refused before ElementTree sees the bytes."""
    _check_regular(file)
    data = file.read_bytes()

    def refuse(*_: Any) -> None:
        raise AnnotationError(
            f"--annotations {file}: XML with a DOCTYPE or entity declaration is refused (it can "
            "read other files or expand without bound); VOC annotations need none"
        )

    guard = expat.ParserCreate()
    guard.StartDoctypeDeclHandler = refuse
    guard.EntityDeclHandler = refuse
    try:
        guard.Parse(data, True)
        return ET.fromstring(data)
    except (expat.ExpatError, ET.ParseError) as error:
        raise AnnotationError(f"--annotations {file}: not valid XML ({error})") from None


def read_voc(path: str | Path, image_dir: str | Path) -> list[Annotation]:
    """Pascal VOC XML: one file, or every ``.xml`` file in a folder."""
    path = Path(path)
    files = sorted(path.glob("*.xml")) if path.is_dir() else [path]
    annotations = []
    for file in files:
        root = _parse_xml(file)
        filename = root.findtext("filename")
        if not filename:
            raise AnnotationError(f"--annotations {file}: no <filename> element")
        annotation = Annotation(_image_path(Path(image_dir), filename, f"--annotations {file}"))
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


def _text(path: Path) -> str:
    """The file as UTF-8 text (a byte-order mark, as spreadsheets write, is dropped)."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise AnnotationError(
            f"--annotations {path}: not UTF-8 text (byte {error.object[error.start]:#x} at "
            f"offset {error.start}); save it as UTF-8"
        ) from None


def _entries(data: Any, key: str, path: Path) -> list[dict[str, Any]]:
    """``data[key]``: a list of JSON objects, or one clear error."""
    where = f"--annotations {path}"
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise AnnotationError(f"{where}: not COCO JSON (expected an object with a {key!r} list)")
    for i, item in enumerate(data[key]):
        if not isinstance(item, dict):
            raise AnnotationError(f"{where}: {key}[{i}] is {item!r}; expected a JSON object")
    return data[key]


def _coco_id(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):  # true == 1 in Python
        raise AnnotationError(f"{where}: expected an integer id, got {value!r}")
    return value


def read_coco(path: str | Path, image_dir: str | Path) -> list[Annotation]:
    """COCO detection JSON (``images``, ``annotations`` with ``bbox = [x, y, w, h]``)."""
    path = Path(path)
    try:
        data = json.loads(_text(path))
    except json.JSONDecodeError as error:
        raise AnnotationError(f"--annotations {path}: not valid JSON ({error})") from None
    by_id: dict[int, Annotation] = {}
    for i, image in enumerate(_entries(data, "images", path)):
        where = f"--annotations {path}: images[{i}]"
        image_id = _coco_id(image.get("id"), f"{where} id")
        if image_id in by_id:
            raise AnnotationError(f"{where}: id {image_id} appears twice")
        by_id[image_id] = Annotation(_image_path(Path(image_dir), image.get("file_name"), where))
    items = _entries(data, "annotations", path)
    categories = {
        c.get("id"): c.get("name", "")
        for c in (_entries(data, "categories", path) if "categories" in data else [])
    }
    for i, item in enumerate(items):
        where = f"--annotations {path}: annotations[{i}]"
        image_id = _coco_id(item.get("image_id"), f"{where} image_id")
        if image_id not in by_id:
            raise AnnotationError(f"{where}: image_id {image_id!r} is not in images")
        bbox = item.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise AnnotationError(f"{where}: bbox must be [x, y, width, height], got {bbox!r}")
        x, y, w, h = (_number(v, f"{where} bbox") for v in bbox)
        by_id[image_id].boxes.append(_box(x, y, x + w, y + h, where))
        by_id[image_id].labels.append(str(categories.get(item.get("category_id"), "")))
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
    reader = csv.DictReader(io.StringIO(_text(path), newline=""))
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
        where = f"--annotations {path}: line {line}"
        if None in raw:  # DictReader's key for fields beyond the header
            raise AnnotationError(
                f"{where}: {len(header) + len(raw[None])} fields, the header has {len(header)}"
            )
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        name = row[columns["image"]]
        if name not in by_name:
            by_name[name] = Annotation(_image_path(Path(image_dir), name, where))
        x0, y0, x1, y1 = (
            _number(row[columns[k]], f"{where} {k}") for k in CSV_COLUMNS if k != "image"
        )
        by_name[name].boxes.append(_box(x0, y0, x1, y1, where))
        by_name[name].labels.append(row.get("label", row.get("class", "")))
    return list(by_name.values())


def box_mask(boxes: Sequence[Box], height: int, width: int, prep: Preprocessing) -> torch.Tensor:
    """Boxes on an ``height`` x ``width`` image -> a (size, size) boolean mask on the model's
    input, through the same resize and centre crop as the image (pixels at least half covered).
    """
    mask = torch.zeros(1, height, width)
    for x0, y0, x1, y1 in boxes:
        left, right = (min(max(0, v), width) for v in (math.floor(x0), math.ceil(x1)))
        top, bottom = (min(max(0, v), height) for v in (math.floor(y0), math.ceil(y1)))
        if left >= right or top >= bottom:
            warnings.warn(
                f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) lies outside the {width}x{height} image; "
                "it marks nothing",
                stacklevel=2,
            )
            continue
        mask[0, top:bottom, left:right] = 1.0
    return prep.crop(mask)[0] >= 0.5
