"""The command line never loses, mislabels or garbles an output, and says what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faithcam.cli import main
from faithcam.viz import method_grid
from tests.helpers import GapLinearNet

MODEL = "tests.io.test_model_sources:tiny_net"  # GapLinearNet, 5 classes


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-adv")
    torch.manual_seed(0)
    torch.save(GapLinearNet().state_dict(), root / "w.pt")
    rng = np.random.default_rng(0)
    for name in ("a/x.png", "b/x.png", "x-2.png", "folder/one.png", "folder/two.png"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), np.uint8)).save(root / name)
    data = (root / "x-2.png").read_bytes()
    (root / "folder" / "broken.png").write_bytes(data[: len(data) // 2])
    return root


def _run(work: Path, *args: str, command: str = "explain") -> int:
    base = ["--model", MODEL, "--weights", str(work / "w.pt"), "--size", "16", "--quiet"]
    return main([command, *base, *args])


def test_inputs_sharing_a_stem_get_their_own_outputs(work: Path) -> None:
    out = work / "unique"
    images = [str(work / "a/x.png"), str(work / "b/x.png"), str(work / "x-2.png")]
    assert _run(work, "--out", str(out), *images) == 0
    records = json.loads((out / "summary.json").read_text())["images"]
    overlays = [r["methods"]["gradcam"]["overlay"] for r in records]
    assert len(set(overlays)) == 3, overlays
    raws = [np.load(out / r["methods"]["gradcam"]["raw_map"]) for r in records]
    assert not np.array_equal(raws[0], raws[1])  # a/x.png's map was not overwritten by b/x.png
    assert {r["image"] for r in records} == set(images)


@pytest.mark.parametrize("std", ["inf,inf,inf", "0,1,1", "-1,1,1", "nan,1,1"])
def test_non_finite_zero_or_negative_std_is_refused(work: Path, std: str, capsys) -> None:
    assert _run(work, f"--std={std}", "--out", str(work / "o"), str(work / "x-2.png")) == 2
    assert "--std" in capsys.readouterr().err


def test_sparse_class_names_keep_their_ids(work: Path) -> None:
    classes = work / "sparse.json"
    classes.write_text(json.dumps({"0": "zero", "2": "two", "4": "four"}))
    out = work / "sparse"
    args = ["--classes", str(classes), "--target", "two", "--out", str(out)]
    assert _run(work, *args, str(work / "x-2.png")) == 0
    target = json.loads((out / "summary.json").read_text())["images"][0]["target"]
    assert target == {"class": 2, "name": "two"}


def test_mathtext_class_names_do_not_crash_compare(work: Path, tmp_path: Path) -> None:
    classes = work / "math.txt"
    classes.write_text("\n".join([r"$\foo$", "$x^$", "a$b", r"$\frac$", "$"]) + "\n")
    out = work / "math"
    args = ["--classes", str(classes), "--method", "gradcam", "--out", str(out)]
    assert _run(work, *args, str(work / "x-2.png"), command="compare") == 0
    assert (out / "x-2.compare.png").is_file()
    grid = method_grid(torch.rand(3, 8, 8), {r"$\bar$": torch.rand(8, 8)}, tmp_path / "g.png", "$")
    assert grid.is_file()


def test_fewer_class_names_than_outputs_warns(work: Path, capsys) -> None:
    classes = work / "two.txt"
    classes.write_text("cat\ndog\n")
    out = work / "few"
    assert _run(work, "--classes", str(classes), "--out", str(out), str(work / "x-2.png")) == 0
    err = capsys.readouterr().err
    assert "faithcam: warning: --classes: 2 class names for a model with 5 outputs" in err


def test_huge_size_is_refused_before_any_work(work: Path, capsys) -> None:
    args = ["--model", MODEL, "--weights", str(work / "w.pt"), "--size", "20000", "--quiet"]
    assert main(["explain", *args, "--out", str(work / "o"), str(work / "x-2.png")]) == 2
    assert "--size 20000: too large" in capsys.readouterr().err


def test_a_worker_error_is_one_line_without_its_traceback(work: Path, capsys) -> None:
    out = work / "workers"
    args = ["--workers", "2", "--metrics", "deletion", "--curve-steps", "2", "--out", str(out)]
    code = _run(work, *args, str(work / "folder"), command="evaluate")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "broken.png: truncated or corrupt image" in err[0] and "Traceback" not in err[0]
