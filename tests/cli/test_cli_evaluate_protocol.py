"""`faithcam evaluate --annotations` evaluates the papers' way (issue 26): the annotated class
is explained (not the predicted one), each box counts only for its own class, images without
boxes stay in deletion and insertion, results.csv says n and the images behind it, and every
interval lies inside its metric's range.

The model (tests/cli/protocol_models.py) makes the right answers known by construction: logit k is
the mean of colour channel k, so Grad-CAM for class k peaks on the pixels of colour k.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faithcam.cli import main
from faithcam.metrics.registry import metric_bounds
from faithcam.studies.store import ResultStore

MODEL = ("--model", "tests.cli.protocol_models:colour_model", "--size", "32", "--quiet")
RUN = ("--method", "gradcam", "--metrics", "deletion,pointing_game", "--curve-steps", "2")
TOP_LEFT, BOTTOM_RIGHT = (2, 2, 6, 6), (24, 24, 28, 28)  # x0, y0, x1, y1 (x1, y1 exclusive)


def _spot(image: np.ndarray, box: tuple[int, int, int, int], colour: int, value: int) -> None:
    x0, y0, x1, y1 = box
    image[y0:y1, x0:x1, colour] = value


def _voc(name: str, objects: list[tuple[str, tuple[int, int, int, int]]]) -> str:
    """VOC XML: 1-based inclusive corners, as the devkit writes them."""
    body = "".join(
        f"<object><name>{label}</name><bndbox><xmin>{x0 + 1}</xmin><ymin>{y0 + 1}</ymin>"
        f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
        for label, (x0, y0, x1, y1) in objects
    )
    return f"<annotation><filename>{name}</filename>{body}</annotation>"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cat.png: a bright red spot (the model predicts red) and a dim green one, annotated
    "green" only, its box on the green spot. swap.png: red top-left, green bottom-right, but the
    "red" box drawn bottom-right and the "green" box top-left (each over the other colour).
    plain.png: no annotation."""
    root = tmp_path_factory.mktemp("protocol")
    (root / "images").mkdir()
    (root / "voc").mkdir()
    cat = np.zeros((32, 32, 3), np.uint8)
    _spot(cat, TOP_LEFT, 0, 255)
    _spot(cat, BOTTOM_RIGHT, 1, 120)
    swap = np.zeros((32, 32, 3), np.uint8)
    _spot(swap, TOP_LEFT, 0, 255)
    _spot(swap, BOTTOM_RIGHT, 1, 200)
    plain = np.zeros((32, 32, 3), np.uint8)
    _spot(plain, (10, 10, 20, 20), 2, 255)
    for name, array in (("cat", cat), ("swap", swap), ("plain", plain)):
        Image.fromarray(array).save(root / "images" / f"{name}.png")
    (root / "voc" / "cat.xml").write_text(_voc("cat.png", [("green", BOTTOM_RIGHT)]))
    (root / "voc" / "swap.xml").write_text(
        _voc("swap.png", [("red", BOTTOM_RIGHT), ("green", TOP_LEFT)])
    )
    return root


def _evaluate(folder: Path, out: str, *extra: str, monkeypatch) -> tuple[int, Path]:
    monkeypatch.chdir(folder)
    code = main(["evaluate", "images", "--annotations", "voc", *MODEL, *RUN, "--out", out,
                 *extra])  # fmt: skip
    return code, folder / out


def _csv(out: Path) -> dict[tuple[str, str], dict[str, str]]:
    with (out / "results.csv").open() as file:
        return {(r["method"], r["metric"]): r for r in csv.DictReader(file)}


def _stored(out: Path, metric: str) -> dict[str, float]:
    return {r[0]: r[4] for r in ResultStore(out / "results.sqlite").rows() if r[2] == metric}


def test_the_annotated_class_is_explained_and_boxes_count_for_their_own_class(
    folder, monkeypatch
):
    code, out = _evaluate(folder, "annotated", "--grids", "1", monkeypatch=monkeypatch)
    assert code == 0
    hits = _stored(out, "pointing_game")
    # cat.png: the green class (annotated), not red (predicted): its peak is on the green box
    assert hits["cat.png#green"] == 1.0
    # swap.png: each colour's peak lies in the box of the *other* class: both miss
    assert hits["swap.png#red"] == 0.0 and hits["swap.png#green"] == 0.0
    assert "plain.png" in hits and hits["plain.png"] is None  # no boxes: NaN, stored as NULL
    rows = _csv(out)
    game, deletion = rows[("gradcam", "pointing_game")], rows[("gradcam", "deletion")]
    assert float(game["mean"]) == pytest.approx(1 / 3)
    assert (game["n"], game["images"]) == ("3", "2")
    # images without boxes stay in the metrics that need none
    assert (deletion["n"], deletion["images"]) == ("4", "3")
    html = (out / "report.html").read_text()
    assert "explained for each annotated class in it and scored against the boxes" in html
    assert "pointing_game ↑" in html and "deletion ↓" in html


def test_target_predicted_keeps_the_old_protocol(folder, monkeypatch):
    code, out = _evaluate(folder, "predicted", "--target", "predicted", "--grids", "0",
                          monkeypatch=monkeypatch)  # fmt: skip
    assert code == 0
    hits = _stored(out, "pointing_game")
    # cat.png: red is predicted and explained; its peak misses the (green) box
    assert hits["cat.png"] == 0.0
    # swap.png: red's peak lies in a box of another class, which counts under this protocol
    assert hits["swap.png"] == 1.0
    rows = _csv(out)
    assert rows[("gradcam", "pointing_game")]["n"] == "2"
    assert rows[("gradcam", "deletion")]["n"] == "3"


def test_every_interval_lies_inside_its_metrics_range(folder, monkeypatch):
    code, out = _evaluate(folder, "ranges", "--grids", "0", "--metrics",
                          "deletion,insertion,pointing_game,energy_pointing_game,average_drop,"
                          "increase_in_confidence", monkeypatch=monkeypatch)  # fmt: skip
    assert code == 0
    for (method, metric), row in _csv(out).items():
        low, high = metric_bounds(metric)
        mean, ci_low, ci_high = (float(row[k]) for k in ("mean", "ci_low", "ci_high"))
        assert low <= ci_low <= mean <= ci_high <= high, (method, metric, row)


def test_an_unknown_annotated_class_is_one_line_naming_it_and_the_way_out(
    folder, monkeypatch, capsys
):
    (folder / "voc-unknown").mkdir(exist_ok=True)
    (folder / "voc-unknown" / "cat.xml").write_text(_voc("cat.png", [("dog", TOP_LEFT)]))
    monkeypatch.chdir(folder)
    code = main(["evaluate", "images", "--annotations", "voc-unknown", *MODEL, *RUN,
                 "--out", "unknown"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "class 'dog' is none of the model's 3 class names" in err
    assert "--classes FILE" in err and "--target predicted" in err


def test_a_second_run_into_the_same_folder_names_the_resume_flag(folder, monkeypatch, capsys):
    code, _ = _evaluate(folder, "twice", "--grids", "0", monkeypatch=monkeypatch)
    assert code == 0
    code, _ = _evaluate(folder, "twice", "--grids", "0", monkeypatch=monkeypatch)
    err = capsys.readouterr().err
    assert code == 2 and "pass --resume to continue it" in err and "resume=True" not in err
    code, _ = _evaluate(folder, "twice", "--grids", "0", "--resume", monkeypatch=monkeypatch)
    assert code == 0


def test_target_annotated_needs_annotations(folder, monkeypatch, capsys):
    monkeypatch.chdir(folder)
    code = main(["evaluate", "images", *MODEL, *RUN[:2], "--target", "annotated",
                 "--out", "no-voc"])  # fmt: skip
    assert code == 2 and "--target annotated: needs --annotations" in capsys.readouterr().err
