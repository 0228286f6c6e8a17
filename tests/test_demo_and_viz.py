"""Visualisation helpers, the HTML report and a small end-to-end run of the demo."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from faithcam.report import Report
from faithcam.viz import colorize, method_grid, overlay


def test_overlay_keeps_the_image_where_the_map_is_zero() -> None:
    image = np.full((8, 8, 3), 0.5, dtype=np.float32)
    heat = np.zeros((8, 8), dtype=np.float32)
    heat[2, 3] = 1.0
    blended = overlay(image, heat, alpha=0.6)
    assert blended.dtype == np.uint8 and blended.shape == (8, 8, 3)
    assert (blended[0, 0] == 128).all()
    expected = (0.4 * 0.5 + 0.6 * colorize(heat)[2, 3]) * 255
    np.testing.assert_allclose(blended[2, 3], expected, atol=1)


def test_overlay_rejects_mismatched_sizes_and_alpha() -> None:
    with pytest.raises(ValueError, match="does not match the image size"):
        overlay(torch.rand(3, 8, 8), torch.rand(4, 4))
    with pytest.raises(ValueError, match="alpha"):
        overlay(torch.rand(3, 8, 8), torch.rand(8, 8), alpha=2)


def test_grid_and_report_are_self_contained(tmp_path) -> None:
    grid = method_grid(
        torch.rand(3, 16, 16),
        {"a": torch.rand(16, 16), "b": torch.rand(16, 16)},
        tmp_path / "grid.png",
        title="t",
    )
    report = Report("r")
    report.heading("h")
    report.image(grid, "grid")
    report.table(["method", "score"], [["a", 0.5]])
    html = report.write(tmp_path / "r.html").read_text()
    assert html.count("data:image/png;base64,") == 1 and "<table>" in html
    assert 'src="http' not in html


def test_demo_end_to_end_small(tmp_path) -> None:
    pytest.importorskip("skimage")
    from faithcam.demo import run_demo

    try:
        path = run_demo(
            tmp_path,
            models=["mobilenet_v2-imagenet"],
            photos=["chelsea"],
            steps=2,
            quiet=True,
            methods=["expected-gradcam", "gradcam"],
        )
    except ValueError as error:
        pytest.skip(str(error))
    html = path.read_text()
    assert len(re.findall("data:image/png;base64,", html)) == 3  # grid + 2 curves
    assert "Egyptian cat" in html and "deletion AUC" in html
    assert (tmp_path / "mobilenet_v2-imagenet-chelsea.png").stat().st_size > 10_000
