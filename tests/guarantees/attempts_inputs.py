"""Attempts on what faithcam reads: images whose type hides their range, NaN pixels,
decompression bombs, one file under two names, and hostile or careless annotation files."""

from __future__ import annotations

import json
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from tests.guarantees.attempts import HANDLED, WRONG, Verdict, attempt, expect_refusal
from tests.guarantees.attempts_outputs import save_image


def _range_attempt(folder: Path, dtype: type) -> Verdict:
    from faithcam.io.images import load_image

    values = np.linspace(0, 255, 64).reshape(8, 8).astype(dtype)
    path = folder / "image.tif"
    Image.fromarray(values).save(path)
    loaded = load_image(path)
    expected = values.astype(np.float64) / 255.0
    error = float(np.abs(loaded[..., 0] - expected).max())
    if error > 1e-6:
        return WRONG, f"read with max {loaded.max():.4f} (expected 1.0; error {error:.3g})"
    return HANDLED, "scaled by 255"


@attempt("silently wrong: images")
def float_tiff_with_values_0_to_255(folder: Path) -> Verdict:
    return _range_attempt(folder, np.float32)


@attempt("silently wrong: images")
def int32_tiff_with_values_0_to_255(folder: Path) -> Verdict:
    return _range_attempt(folder, np.int32)


@attempt("silently wrong: images")
def float_tiff_with_nan_pixels(folder: Path) -> Verdict:
    from faithcam.io.images import load_image

    values = np.full((8, 8), 0.5, np.float32)
    values[2, 3] = np.nan
    path = folder / "nan.tif"
    Image.fromarray(values).save(path)
    return expect_refusal(lambda: load_image(path), str(path), "NaN")


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header announces ``width`` x ``height`` RGB pixels (the data is cut short)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@attempt("error message: images")
def png_of_400_megapixels(folder: Path) -> Verdict:
    from faithcam.io.images import load_image

    path = folder / "bomb.png"
    path.write_bytes(_png_header(20000, 20000))
    return expect_refusal(lambda: load_image(path), str(path), "pixels")


def _link_twin(folder: Path) -> tuple[Path, Path]:
    image = save_image(folder / "images" / "cat.png", 0)
    twin = folder / "images" / "alias.png"
    os.symlink(image.name, twin)
    return image, twin


@attempt("silently wrong: images")
def same_image_under_two_names_in_a_folder(folder: Path) -> Verdict:
    from faithcam.io.images import find_images

    image, _ = _link_twin(folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = find_images([image.parent])
    if len(found) != 1:
        return WRONG, f"{len(found)} images listed for one file"
    if not caught:
        return WRONG, "deduplicated without saying so"
    return HANDLED, str(caught[0].message)[:150]


def _voc(filename: str, box: str = "<xmin>2</xmin><ymin>2</ymin><xmax>8</xmax><ymax>8</ymax>",
         doctype: str = "") -> str:  # fmt: skip
    return (
        f"{doctype}<annotation><filename>{filename}</filename><object><name>cat</name>"
        f"<bndbox>{box}</bndbox></object></annotation>"
    )


def _outside_image(folder: Path) -> Path:
    """An image outside the annotated folder (``folder/private/secret.png``)."""
    return save_image(folder / "private" / "secret.png", 2)


def _annotations_refused(annotations: Path, images: Path, *names: str) -> Verdict:
    from faithcam.io.annotations import read_annotations

    return expect_refusal(lambda: read_annotations(annotations, images), str(annotations), *names)


@attempt("security: annotations")
def voc_with_an_xxe_parameter_entity(folder: Path) -> Verdict:
    save_image(folder / "images" / "cat.png", 0)
    secret = folder / "private.txt"
    secret.write_text("secret")
    doctype = f'<!DOCTYPE annotation [<!ENTITY % ext SYSTEM "file://{secret}"> %ext;]>'
    xml = folder / "cat.xml"
    xml.write_text(_voc("cat.png", doctype=doctype))
    return _annotations_refused(xml, folder / "images", "DOCTYPE")


def _voc_reaching_out(folder: Path, absolute: bool) -> Verdict:
    """A VOC ``<filename>`` naming an image outside the image folder, relative or absolute."""
    secret = _outside_image(folder)
    (folder / "images").mkdir()
    xml = folder / "cat.xml"
    xml.write_text(_voc(str(secret) if absolute else "../private/secret.png"))
    return _annotations_refused(xml, folder / "images", "outside")


@attempt("security: annotations")
def voc_filename_climbing_out_of_the_folder(folder: Path) -> Verdict:
    return _voc_reaching_out(folder, absolute=False)


@attempt("security: annotations")
def voc_filename_absolute(folder: Path) -> Verdict:
    return _voc_reaching_out(folder, absolute=True)


@attempt("security: annotations")
def csv_image_climbing_out_of_the_folder(folder: Path) -> Verdict:
    _outside_image(folder)
    (folder / "images").mkdir()
    table = folder / "boxes.csv"
    table.write_text("image,x0,y0,x1,y1\n../private/secret.png,1,1,5,5\n")
    return _annotations_refused(table, folder / "images", "outside")


@attempt("security: annotations")
def coco_file_name_absolute(folder: Path) -> Verdict:
    secret = _outside_image(folder)
    (folder / "images").mkdir()
    coco = {
        "images": [{"id": 1, "file_name": str(secret)}],
        "annotations": [{"image_id": 1, "bbox": [1, 1, 4, 4]}],
    }
    path = folder / "coco.json"
    path.write_text(json.dumps(coco))
    return _annotations_refused(path, folder / "images", "outside")


@attempt("silently wrong: annotations")
def box_entirely_above_left_of_the_image(folder: Path) -> Verdict:
    from faithcam.io.annotations import box_mask
    from faithcam.io.images import Preprocessing

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mask = box_mask([(-50.0, -50.0, -10.0, -10.0)], 64, 64, Preprocessing(size=32))
    marked = float(mask.float().mean())
    if marked > 0:
        return WRONG, f"the box marks {marked:.0%} of the image"
    if not caught:
        return WRONG, "an empty box without a warning"
    return HANDLED, str(caught[0].message)[:150]


@attempt("silently wrong: annotations")
def coco_image_id_true_collides_with_1(folder: Path) -> Verdict:
    save_image(folder / "images" / "a.png", 0)
    save_image(folder / "images" / "b.png", 1)
    coco = {
        "images": [{"id": 1, "file_name": "a.png"}, {"id": True, "file_name": "b.png"}],
        "annotations": [{"image_id": 1, "bbox": [1, 1, 4, 4]}],
    }
    path = folder / "coco.json"
    path.write_text(json.dumps(coco))
    return _annotations_refused(path, folder / "images", "images[1]", "integer")


@attempt("silently wrong: annotations")
def same_image_under_two_names_in_annotations(folder: Path) -> Verdict:
    from faithcam.io.annotations import read_annotations

    _link_twin(folder)
    table = folder / "boxes.csv"
    table.write_text("image,x0,y0,x1,y1\ncat.png,1,1,5,5\nalias.png,6,6,9,9\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = read_annotations(table, folder / "images")
    if len(found) != 1:
        return WRONG, f"{len(found)} annotated images for one file"
    if len(found[0].boxes) != 2 or not caught:
        return WRONG, f"{len(found[0].boxes)} boxes kept, {len(caught)} warnings"
    return HANDLED, str(caught[0].message)[:150]


@attempt("hang: annotations", timeout=20)
def fifo_given_as_annotations(folder: Path) -> Verdict:
    (folder / "images").mkdir()
    fifo = folder / "boxes.xml"
    os.mkfifo(fifo)
    return _annotations_refused(fifo, folder / "images", "regular file")


@attempt("error message: annotations")
def coco_images_that_are_not_objects(folder: Path) -> Verdict:
    (folder / "images").mkdir()
    path = folder / "coco.json"
    path.write_text(json.dumps({"images": [1, 2], "annotations": []}))
    return _annotations_refused(path, folder / "images", "images[0]")


@attempt("error message: annotations")
def coco_annotations_that_are_not_objects(folder: Path) -> Verdict:
    save_image(folder / "images" / "a.png", 0)
    path = folder / "coco.json"
    coco = {"images": [{"id": 1, "file_name": "a.png"}], "annotations": ["a.png 1 1 4 4"]}
    path.write_text(json.dumps(coco))
    return _annotations_refused(path, folder / "images", "annotations[0]")


@attempt("error message: annotations")
def csv_in_latin_1(folder: Path) -> Verdict:
    save_image(folder / "images" / "café.png", 0)
    table = folder / "boxes.csv"
    table.write_bytes("image,x0,y0,x1,y1\ncafé.png,1,1,5,5\n".encode("latin-1"))
    return _annotations_refused(table, folder / "images", "UTF-8")


@attempt("error message: annotations")
def csv_row_with_extra_columns(folder: Path) -> Verdict:
    save_image(folder / "images" / "a.png", 0)
    table = folder / "boxes.csv"
    table.write_text("image,x0,y0,x1,y1\na.png,1,1,5,5,cat,extra\n")
    return _annotations_refused(table, folder / "images", "line 2")
