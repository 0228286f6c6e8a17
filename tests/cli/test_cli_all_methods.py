"""`--method all` works (issue 26): FullGrad, which picks its own layers, ignores the model's
default layer or --layer and says so in one line, instead of failing after every other method
ran."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from faithcam.cams.registry import METHODS
from faithcam.cli import main


@pytest.fixture
def photo(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), np.uint8)).save(tmp_path / "p.png")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_all_methods_with_a_layer_given_run_and_fullgrad_says_it_ignores_it(photo, capsys):
    code = main(["compare", "p.png", "--model", "tests.cli.protocol_models:colour_model",
                 "--size", "16", "--layer", "features", "--method", "all", "--steps", "2",
                 "--samples", "2", "--quiet", "--out", "out"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    notes = [line for line in err.splitlines() if "fullgrad" in line]
    assert notes == [
        "faithcam: warning: --method fullgrad ignores the layer features: it uses the biases of "
        "every Conv2d / BatchNorm2d"
    ]
    summary = json.loads((photo / "out" / "summary.json").read_text())
    assert set(summary["images"][0]["methods"]) == set(METHODS)
    assert summary["images"][0]["methods"]["fullgrad"]["layer"] == "(all bias layers)"


def test_fullgrad_on_the_offline_mobilenet_and_its_default_layer(photo, capsys):
    """The case of the issue: mobilenet_v2-imagenet's default layer made FullGrad fail."""
    code = main(["explain", "p.png", "--model", "mobilenet_v2-imagenet", "--size", "32",
                 "--method", "fullgrad,gradcam", "--quiet", "--out", "out"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert "--method fullgrad ignores the layer features" in err
    summary = json.loads((photo / "out" / "summary.json").read_text())
    methods = summary["images"][0]["methods"]
    assert methods["gradcam"]["layer"] == "features"
    assert methods["fullgrad"]["layer"] == "(all bias layers)"
