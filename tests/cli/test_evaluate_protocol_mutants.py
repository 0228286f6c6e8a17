"""Edge cases of issue 26's evaluate protocol and report, written after their semantic mutants
(scripts/semantic_mutants_catalogue.py, group ``owndata``): each test kills a mutant that the
area's earlier tests let through. Expected items, places and sentences are worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from faithcam.cli.evaluate_items import label_classes, name_key, plan_items
from faithcam.errors import FaithcamValueError
from faithcam.io.annotations import Annotation

ROOT = Path("/photos")
CAT, DOG, ANY = (0, 0, 4, 4), (4, 4, 8, 8), (2, 2, 6, 6)


def _name(class_id: int) -> str:
    return ["cat", "dog"][class_id]


def test_a_box_without_a_class_counts_for_every_annotated_class():
    """One image, a cat box, a dog box and a box without a class name: under the papers'
    protocol it gives one item per class, each with its own box and the unnamed one."""
    image = ROOT / "a.png"
    annotation = Annotation(image, [CAT, ANY, DOG], ["cat", "", "dog"])
    items = plan_items([image], ROOT, {image: annotation}, "annotated", {"cat": 0, "dog": 1},
                       _name)  # fmt: skip
    assert [(i.id, i.target, i.label, i.boxes) for i in items] == [
        ("a.png#cat", 0, "cat", (CAT, ANY)),
        ("a.png#dog", 1, "dog", (ANY, DOG)),
    ]


def test_a_class_id_must_be_below_the_class_count():
    """Annotation classes written as numbers are class ids 0 .. n - 1: with 5 classes "4" is
    the last one, and "5" is no class of the model."""
    assert label_classes(["4", "0"], None, 5) == {"4": 4, "0": 0}
    with pytest.raises(FaithcamValueError, match=r"^--annotations: class '5' is "):
        label_classes(["5"], None, 5)


def test_class_names_match_ignoring_case_spaces_hyphens_and_underscores():
    """The annotations' "Potted_plant", "potted plant" and "potted-plant" are the model's
    "pottedplant" (VOC's spelling)."""
    for spelling in ("Potted_plant", "potted plant", "potted-plant", "POTTEDPLANT"):
        assert name_key(spelling) == "pottedplant"
    names = ["cat", "pottedplant"]
    assert label_classes(["Potted_plant", "cat"], names, 2) == {"Potted_plant": 1, "cat": 0}
