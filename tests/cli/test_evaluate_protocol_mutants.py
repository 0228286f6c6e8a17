"""Edge cases of issue 26's evaluate protocol and report, written after their semantic mutants
(scripts/semantic_mutants_catalogue.py, group ``owndata``): each test kills a mutant that the
area's earlier tests let through. Expected items, places and sentences are worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from faithcam.cli.evaluate_items import EvalItem, label_classes, name_key, plan_items
from faithcam.cli.evaluate_report import (
    interpretation,
    mean_ranks,
    places,
    rank_methods,
    separated,
)
from faithcam.errors import FaithcamValueError
from faithcam.io.annotations import Annotation

ROOT = Path("/photos")
CAT, DOG, ANY = (0, 0, 4, 4), (4, 4, 8, 8), (2, 2, 6, 6)
ITEMS = [EvalItem(f"im{i}", Path(f"im{i}.png"), 1, "cat", None) for i in range(4)]


def row(method, metric, mean, low, high, n=4, images=4):
    return {"method": method, "metric": metric, "mean": mean, "ci_low": low, "ci_high": high,
            "n": n, "images": images}  # fmt: skip


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


def test_a_method_without_a_value_ranks_last_whatever_the_direction():
    """On a lower-is-better metric a NaN mean (n = 0) is not "0, the best": it comes after
    every scored method (place 3 of 3, not tied with each: an infinite score is near no
    finite one), and the sentence names the best scored method alone."""
    nan = float("nan")
    rows = [row("a", "deletion", 0.3, 0.2, 0.4), row("b", "deletion", nan, nan, nan, n=0),
            row("c", "deletion", 0.1, 0.05, 0.15)]  # fmt: skip
    assert rank_methods(rows, {"deletion": "lower"}) == {"deletion": ["c", "a", "b"]}
    assert places(rows, {"deletion": "lower"}) == {"deletion": {"c": 1, "a": 2, "b": 3}}
    text = " ".join(interpretation(rows, ITEMS, "P."))
    assert "On deletion (lower is better), c ranks first with 0.100" in text
    assert "tie for first" not in text


@pytest.mark.parametrize(
    ("best", "other", "direction"),
    [
        # higher is better: the best mean 0.6 lies above the other's interval, but the best
        # interval [0.45, 0.7] reaches into the other's [0.3, 0.5]
        ((0.6, 0.45, 0.7), (0.4, 0.3, 0.5), "higher"),
        # lower is better: the best interval [0.1, 0.35] reaches into the other's [0.3, 0.5]
        ((0.2, 0.1, 0.35), (0.4, 0.3, 0.5), "lower"),
    ],
)
def test_overlapping_intervals_never_separate_in_either_direction(best, other, direction):
    as_row = lambda v: {"mean": v[0], "ci_low": v[1], "ci_high": v[2]}  # noqa: E731
    assert not separated(as_row(best), as_row(other), direction)
    apart = (other[0], other[1] - 0.3, other[2] - 0.3) if direction == "higher" else (
        other[0], other[1] + 0.3, other[2] + 0.3)  # fmt: skip
    assert separated(as_row(best), as_row(apart), direction)  # [0, 0.2] / [0.6, 0.8]: apart


def test_the_overall_order_is_the_mean_place():
    """Places 1, 1, 3 average 5/3 (their median would be 1); places 2, 2, 1 average 5/3 too."""
    placed = {"m1": {"a": 1, "b": 2}, "m2": {"a": 1, "b": 2}, "m3": {"a": 3, "b": 1}}
    assert mean_ranks(placed) == pytest.approx({"a": 5 / 3, "b": 5 / 3})


def test_the_counts_sentence_counts_images_not_explanations():
    """Two annotated classes of one photo are two explanations of one image."""
    photo = Path("photo.png")
    items = [EvalItem("photo.png#cat", photo, 0, "cat", None),
             EvalItem("photo.png#dog", photo, 1, "dog", None)]  # fmt: skip
    rows = [row("a", "deletion", 0.1, 0.0, 0.2, n=2, images=1)]
    text = " ".join(interpretation(rows, items, "P."))
    assert "Of 2 explanations of 1 images, deletion scored 2 explanations from 1 image." in text


@pytest.mark.parametrize(("n", "provisional"), [(29, True), (30, False)])
def test_a_ranking_is_provisional_below_30_explanations(n, provisional):
    rows = [row("a", "deletion", 0.1, 0.0, 0.2, n=n, images=n)]
    text = interpretation(rows, ITEMS, "P.")
    assert any("provisional" in s for s in text) == provisional
