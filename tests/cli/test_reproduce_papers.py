"""The README's "Reproducing the papers" commands, run on a tiny VOC-layout folder."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faithcam.cli.presets import PRESETS
from tests.cli.test_cli import run

# Explicit options win over a preset: fewer steps and samples keep the run short.
FAST = ("--steps", "3", "--samples", "3", "--metric-steps", "3", "--grids", "1")


@pytest.fixture(scope="module")
def voc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """VOCdevkit/VOC2007 with JPEGImages and Annotations for three images, and a seeded
    resnet18 state dict (the user's trained model)."""
    import torchvision

    root = tmp_path_factory.mktemp("voc")
    devkit = root / "VOCdevkit" / "VOC2007"
    (devkit / "JPEGImages").mkdir(parents=True)
    (devkit / "Annotations").mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        name = f"00000{i}"
        image = rng.integers(0, 255, (40, 48, 3), np.uint8)
        Image.fromarray(image).save(devkit / "JPEGImages" / f"{name}.jpg")
        (devkit / "Annotations" / f"{name}.xml").write_text(
            f"<annotation><filename>{name}.jpg</filename><object><name>cat</name><bndbox>"
            "<xmin>4</xmin><ymin>6</ymin><xmax>30</xmax><ymax>28</ymax></bndbox></object>"
            "</annotation>"
        )
    torch.manual_seed(0)  # trained on VOC 2007, as in the papers: a 20-way head
    model = torchvision.models.resnet18(weights=None, num_classes=20)
    torch.save(model.state_dict(), root / "resnet18.pth")
    return root


@pytest.mark.parametrize("preset", list(PRESETS))
def test_preset_command_runs_the_papers_protocol(voc: Path, preset: str) -> None:
    devkit = "VOCdevkit/VOC2007"
    done = run(
        "evaluate", f"{devkit}/JPEGImages", "--annotations", f"{devkit}/Annotations",
        "--model", "resnet18", "--weights", "resnet18.pth", "--num-classes", "20",
        "--classes", "voc", "--size", "32", "--quiet",
        "--preset", preset, *FAST, "--out", f"out-{preset}",
        cwd=voc,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with (voc / f"out-{preset}" / "results.csv").open() as file:
        rows = list(csv.DictReader(file))
    methods, metrics = PRESETS[preset].methods.split(","), PRESETS[preset].metrics.split(",")
    assert [(r["method"], r["metric"]) for r in rows] == [(m, k) for m in methods for k in metrics]
    # an all-zero map (possible for a seed method of a random model with 3 steps) has no
    # energy share and is left out: n counts the images a metric is defined for
    assert all(1 <= int(r["n"]) <= 3 and np.isfinite(float(r["mean"])) for r in rows)
    assert all(r["n"] == "3" for r in rows if r["method"] == "gradcam")


def test_unknown_preset_is_one_line(voc: Path) -> None:
    done = run("evaluate", "VOCdevkit/VOC2007/JPEGImages", "--preset", "nope", cwd=voc)
    assert done.returncode == 2 and "--preset" in done.stderr
