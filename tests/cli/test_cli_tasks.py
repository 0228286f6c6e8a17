"""`--task`, `--channels` and `--output-selector`: the same models from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faithcam.cli import main


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tasks") / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 50, 3), np.uint8)).save(path)
    return path


def _explain(photo: Path, out: Path, *options: str) -> dict:
    code = main(["explain", str(photo), "--out", str(out), "--size", "32", "--quiet", *options])
    assert code == 0
    return json.loads((out / "summary.json").read_text())


def test_grey_single_logit_model(photo: Path, tmp_path: Path) -> None:
    summary = _explain(
        photo, tmp_path, "--model", "tests.cli.cli_models:grey_binary", "--channels", "1"
    )
    (prediction,) = summary["images"][0]["predictions"]
    assert 0 < prediction["probability"] < 1  # σ(z), not a softmax of one value (1)
    assert summary["channels"] == 1


def test_channels_need_matching_mean_and_std(photo: Path, tmp_path: Path, capsys) -> None:
    model = ["--model", "tests.cli.cli_models:rgba_tuple", "--channels", "4"]
    code = main(["explain", str(photo), "--out", str(tmp_path), *model, "--mean", "0.5,0.5,0.5"])
    assert code == 2
    assert "--mean: expected 4 values" in capsys.readouterr().err
    code = main(["explain", str(photo), "--out", str(tmp_path), *model])
    assert code == 2 and "output-selector" in capsys.readouterr().err  # a tuple output
    summary = _explain(photo, tmp_path, *model, "--output-selector", "1")
    assert summary["images"][0]["methods"]["gradcam"]["layer"] == "features"


def test_segment_task(photo: Path, tmp_path: Path) -> None:
    summary = _explain(
        photo, tmp_path, "--model", "tests.cli.cli_models:segmenter", "--task", "segment"
    )
    record = summary["images"][0]
    assert record["methods"]["gradcam"]["layer"] == "backbone.2"  # never the classifier head
    assert record["target"]["class"] == record["predictions"][0]["class"]
    assert np.load(tmp_path / "photo.gradcam.npy").shape == (32, 32)


def test_detect_task(photo: Path, tmp_path: Path) -> None:
    summary = _explain(
        photo, tmp_path, "--model", "tests.cli.cli_models:detector", "--task", "detect",
        "--size", "64",
    )  # fmt: skip
    record = summary["images"][0]
    assert record["methods"]["gradcam"]["layer"] == "backbone.body.layer4"
    assert "box" in record["predictions"][0]
