"""Annotation readers (VOC, COCO, CSV) and boxes mapped onto the model's input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faithcam.io.annotations import AnnotationError, box_mask, read_annotations
from faithcam.io.images import Preprocessing

VOC = """<annotation><filename>{name}</filename>
<object><name>cat</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax>
<ymax>{y1}</ymax></bndbox></object></annotation>"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in ("a.png", "b.png"):
        Image.fromarray(np.zeros((10, 20, 3), np.uint8)).save(tmp_path / name)
    return tmp_path


def test_voc_folder_uses_one_based_inclusive_boxes(folder: Path) -> None:
    (folder / "voc").mkdir()
    (folder / "voc" / "a.xml").write_text(VOC.format(name="a.png", x0=1, y0=2, x1=5, y1=6))
    (folder / "voc" / "b.xml").write_text(VOC.format(name="b.png", x0=3, y0=3, x1=4, y1=4))
    found = read_annotations(folder / "voc", folder)
    assert [a.image.name for a in found] == ["a.png", "b.png"]
    assert found[0].boxes == [(0.0, 1.0, 5.0, 6.0)] and found[0].labels == ["cat"]


def test_coco_and_csv(folder: Path) -> None:
    coco = {
        "images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}],
        "annotations": [{"image_id": 2, "bbox": [1, 2, 3, 4], "category_id": 7}],
        "categories": [{"id": 7, "name": "dog"}],
    }
    (folder / "coco.json").write_text(json.dumps(coco))
    found = read_annotations(folder / "coco.json", folder)
    assert len(found) == 1  # a.png has no boxes: skipped
    assert found[0].image.name == "b.png" and found[0].boxes == [(1.0, 2.0, 4.0, 6.0)]
    assert found[0].labels == ["dog"]

    (folder / "boxes.csv").write_text(
        "filename,xmin,ymin,xmax,ymax\na.png,0,0,5,5\na.png,6,1,8,3\n"
    )
    found = read_annotations(folder / "boxes.csv", folder)
    assert len(found) == 1 and found[0].boxes == [(0, 0, 5, 5), (6, 1, 8, 3)]


def test_missing_images_and_bad_files(folder: Path) -> None:
    (folder / "x.xml").write_text(VOC.format(name="gone.png", x0=1, y0=1, x1=3, y1=3))
    with pytest.raises(AnnotationError, match=r"1 referenced image\(s\) not found: .*gone.png"):
        read_annotations(folder / "x.xml", folder)
    coco = {
        "images": [{"id": 1, "file_name": "gone.png"}],
        "annotations": [{"image_id": 1, "bbox": [0, 0, 2, 2]}],
    }
    (folder / "c.json").write_text(json.dumps(coco))
    with pytest.raises(AnnotationError, match=r"gone.png"):
        read_annotations(folder / "c.json", folder)
    (folder / "bad.json").write_text("{")
    with pytest.raises(AnnotationError, match=r"not valid JSON"):
        read_annotations(folder / "bad.json", folder)
    (folder / "bad.csv").write_text("image,x0,y0\na.png,1,2\n")
    with pytest.raises(AnnotationError, match=r"x1 or xmax"):
        read_annotations(folder / "bad.csv", folder)
    (folder / "empty.csv").write_text("image,x0,y0,x1,y1\na.png,5,0,2,3\n")
    with pytest.raises(AnnotationError, match=r"empty box"):
        read_annotations(folder / "empty.csv", folder)
    with pytest.raises(AnnotationError, match=r"unknown format"):
        read_annotations(folder / "a.png", folder)


def test_box_mask_follows_resize_and_centre_crop() -> None:
    prep = Preprocessing(size=10)
    # 10 x 20 image -> 10 x 20 (scale 1), crop columns 5..15: the box at x 0..5 is cropped away
    assert not box_mask([(0, 0, 5, 10)], 10, 20, prep).any()
    mask = box_mask([(5, 0, 10, 5)], 10, 20, prep)
    assert mask.shape == (10, 10) and mask[:5, :5].all() and mask.sum() == 25


def test_csv_from_a_spreadsheet_with_byte_order_mark_and_crlf(folder: Path) -> None:
    (folder / "boxes.csv").write_bytes(b"\xef\xbb\xbfimage,x0,y0,x1,y1\r\na.png,1,2,5,6\r\n")
    (found,) = read_annotations(folder / "boxes.csv", folder)
    assert found.image == folder / "a.png" and found.boxes == [(1.0, 2.0, 5.0, 6.0)]


def test_a_box_partly_outside_is_clipped_and_one_wholly_outside_marks_nothing() -> None:
    prep = Preprocessing(size=10)
    partly = box_mask([(-5, -5, 5, 5)], 10, 10, prep)
    expected = np.zeros((10, 10), bool)
    expected[:5, :5] = True  # the part of the box inside the image, by hand
    assert np.array_equal(partly.numpy(), expected)
    for box in [(-9, -9, -1, -1), (12, 0, 15, 5), (0, 11, 5, 15)]:
        with pytest.warns(UserWarning, match="lies outside the 10x10 image"):
            assert not box_mask([box], 10, 10, prep).any()
