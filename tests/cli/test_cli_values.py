"""The CLI's numbers equal the library's, computed here from the image pixels by hand.

32 x 32 images make the resize and crop the identity, so the model input is
``(pixels / 255 − mean) / std`` with the ``--mean/--std`` given; every option is checked by its
effect on the written values, not only on the files' shapes.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import faithcam
from faithcam.cli import main
from faithcam.metrics import deletion

MEAN = (0.4, 0.5, 0.6)
STD = (0.2, 0.25, 0.3)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    import torchvision

    root = tmp_path_factory.mktemp("cli-values")
    rng = np.random.default_rng(3)
    (root / "images").mkdir()
    pixels = []
    for name in ("a", "b", "c"):
        array = rng.integers(0, 255, (32, 32, 3), np.uint8)
        Image.fromarray(array).save(root / "images" / f"{name}.png")
        pixels.append(array)
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    torch.save(model.state_dict(), root / "resnet18.pt")
    (root / "names.json").write_text(json.dumps([f"label-{i}" for i in range(1000)]))
    x = torch.tensor(np.stack(pixels), dtype=torch.float32).permute(0, 3, 1, 2) / 255
    x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    return root, model, x


def _run(root: Path, *args: str) -> Path:
    out = root / f"out-{abs(hash(args))}"
    code = main(
        [
            args[0],
            str(root / "images"),
            "--model", "resnet18", "--weights", str(root / "resnet18.pt"), "--size", "32",
            "--mean", ",".join(map(str, MEAN)), "--std", ",".join(map(str, STD)),
            "--quiet", "--out", str(out), *args[1:],
        ]
    )  # fmt: skip
    assert code == 0
    return out


def _raw(out: Path, stem: str, method: str) -> torch.Tensor:
    return torch.from_numpy(np.load(out / f"{stem}.{method}.npy"))


@pytest.fixture(scope="module")
def explained(setup):
    root, _, _ = setup
    return _run(root, "explain", "--method", "gradcam,expected-gradcam", "--samples", "3",
                "--seed", "5", "--classes", str(root / "names.json"))  # fmt: skip


def test_explain_values_equal_the_library(setup, explained) -> None:
    """--mean/--std, --samples, --seed and --classes: raw maps, scores, probabilities and class
    names equal the library's on the hand-normalised input."""
    _, model, x = setup
    with torch.no_grad():
        logits = model(x)
    predicted = logits.argmax(1)
    for method, options in (("gradcam", {}), ("expected-gradcam", {"samples": 3})):
        if method == "expected-gradcam":  # the CLI's data-aware D: the folder's other images
            options = {**options, "baseline": faithcam.ReferenceSet(x)}
        expected = faithcam.explain(
            model, x, method, predicted, seed=5, normalization=(MEAN, STD), **options
        ).raw_maps
        for i, stem in enumerate("abc"):
            torch.testing.assert_close(_raw(explained, stem, method), expected[i], atol=1e-5,
                                       rtol=1e-4)  # fmt: skip
    summary = json.loads((explained / "summary.json").read_text())
    assert summary["methods"]["expected-gradcam"]["samples"] == 3
    probabilities = logits.softmax(1)
    for i, record in enumerate(summary["images"]):
        top = record["predictions"][0]
        assert top["class"] == int(predicted[i]) and top["name"] == f"label-{int(predicted[i])}"
        assert top["probability"] == pytest.approx(float(probabilities[i, predicted[i]]), 1e-5)
        score = record["methods"]["gradcam"]["score"]
        assert score == pytest.approx(float(logits[i, predicted[i]]), rel=1e-4, abs=1e-5)


def test_seed_and_batch_size_effects(setup, explained) -> None:
    """Another --seed draws other expected-gradcam samples; --batch-size 1 changes nothing for
    the deterministic method (and is recorded)."""
    root, _, _ = setup
    other = _run(root, "explain", "--method", "gradcam,expected-gradcam", "--samples", "3",
                 "--seed", "6", "--batch-size", "1")  # fmt: skip
    def stacked(out):
        return torch.stack([_raw(out, stem, "expected-gradcam") for stem in "abc"])

    assert not torch.allclose(stacked(other), stacked(explained))
    for stem in "abc":
        torch.testing.assert_close(_raw(other, stem, "gradcam"), _raw(explained, stem, "gradcam"),
                                   atol=1e-5, rtol=1e-4)  # fmt: skip
    assert json.loads((other / "summary.json").read_text())["batch_size"] == 1


def test_evaluate_numbers_equal_direct_metric_calls(setup) -> None:
    root, model, x = setup
    # a fixed class: the random model's top-2 logits nearly tie, and the CLI's model (loaded
    # from the file) may break such a tie the other way
    out = _run(root, "evaluate", "--method", "gradcam,hirescam", "--metrics",
               "deletion,average_drop", "--curve-steps", "4", "--grids", "0",
               "--target", "7")  # fmt: skip
    with (out / "results.csv").open() as file:
        rows = {(r["method"], r["metric"]): float(r["mean"]) for r in csv.DictReader(file)}
    predicted = torch.full((3,), 7)
    for method in ("gradcam", "hirescam"):
        maps = faithcam.explain(model, x, method, predicted).maps
        expected = deletion(
            model, x, maps, predicted, curve_steps=4, normalization=(MEAN, STD)
        ).values.mean()
        # 2 x 2 maps at 32 px: many pixels tie in rank, and float noise of another batch
        # composition can reorder them (measured: up to 0.5 % on the mean)
        assert rows[(method, "deletion")] == pytest.approx(float(expected), rel=1e-2, abs=1e-6)
        # Average Drop by hand: the map min-max scaled, the input masked, the probability drop
        low = maps.flatten(1).min(1).values.view(-1, 1, 1)
        high = maps.flatten(1).max(1).values.view(-1, 1, 1)
        scaled = (maps - low) / (high - low)
        with torch.no_grad():
            y = model(x).softmax(1)[torch.arange(3), predicted]
            black = ((0 - torch.tensor(MEAN)) / torch.tensor(STD)).view(1, 3, 1, 1)
            masked = black + scaled[:, None] * (x - black)  # toward pixel black
            o = model(masked).softmax(1)[torch.arange(3), predicted]
        drop = (100 * (y - o).clamp(min=0) / y).mean()
        assert rows[(method, "average_drop")] == pytest.approx(float(drop), rel=1e-4, abs=1e-4)
