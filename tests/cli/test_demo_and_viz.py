"""Visualisation helpers, the HTML report and a small end-to-end run of the demo."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import warnings

import numpy as np
import pytest
import torch

from faithcam.io.report import Report
from faithcam.viz import colorize, method_grid, overlay
from tests.peer_helpers import PRETRAINED_PACKAGES, skip_unless_installed


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


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    pytest.importorskip("skimage")
    from faithcam.demo.run import run_demo

    skip_unless_installed(*PRETRAINED_PACKAGES["mobilenet_v2-imagenet"])
    out = tmp_path_factory.mktemp("demo")
    return run_demo(
        out,
        models=["mobilenet_v2-imagenet"],
        photos=["chelsea"],
        curve_steps=2,
        quiet=True,
        methods=["expected-gradcam", "gradcam"],
        shapes=False,
    )


def test_demo_end_to_end_small(demo_report) -> None:
    html = demo_report.read_text()
    # grid + 2 curves + the random-weight ViT's grid (one photo)
    assert len(re.findall("data:image/png;base64,", html)) == 4
    assert "random weights" in html and "encoder_layer_3.ln_1" in html
    assert "Egyptian cat" in html and "deletion AUC" in html
    assert (demo_report.parent / "mobilenet_v2-imagenet-chelsea.png").stat().st_size > 10_000


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_renders_in_headless_chromium(demo_report) -> None:
    browser = _chromium()
    if browser is None:
        warnings.warn(
            "chromium is not installed: the report was NOT checked in a browser "
            "(.ci/run installs Debian's chromium)",
            stacklevel=1,
        )
        pytest.skip("LOUD: chromium not installed; report browser check skipped")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=5000",
    ]
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            [browser, *flags, f"--user-data-dir={profile}", "--dump-dom", demo_report.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    match = re.search(r'data-images-decoded="(\d+)/(\d+)"', dom)
    assert match, dom[-500:]
    assert match.group(1) == match.group(2) == "4"  # grid, 2 curves, the ViT grid
    assert 'data-tables="2"' in dom
    screenshot = demo_report.parent / "report.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                browser,
                *flags,
                f"--user-data-dir={profile}",
                f"--screenshot={screenshot}",
                "--window-size=1200,1600",
                demo_report.as_uri(),
            ],
            capture_output=True,
            timeout=120,
        )
    assert screenshot.stat().st_size > 10_000


def test_demo_reports_the_library_numbers(demo_report) -> None:
    """The demo's Grad-CAM deletion and insertion AUC (2 steps, top-1 class, the model's
    layer) equal the metrics called directly on the library's maps, to the 3 printed decimals."""
    import faithcam
    from faithcam.io.pretrained import load_pretrained
    from faithcam.metrics import deletion, insertion

    skimage_data = pytest.importorskip("skimage.data")
    html = demo_report.read_text()
    row = re.search(r"<tr><td>gradcam</td><td>([0-9.]+)</td><td>([0-9.]+)</td>", html)
    assert row, "no Grad-CAM row in the faithfulness table"
    model = load_pretrained("mobilenet_v2-imagenet")
    images = model.preprocess(skimage_data.chelsea())
    with torch.no_grad():
        target = model.model(images).argmax(1)
    maps = faithcam.explain(model.model, images, "gradcam", target, model.layer).maps
    removed = deletion(  # deletion to pixel black
        model.model, images, maps, target, curve_steps=2, normalization=(model.mean, model.std)
    ).mean
    added = insertion(model.model, images, maps, target, curve_steps=2, substrate="blur").mean
    assert float(row.group(1)) == pytest.approx(removed, abs=1.5e-3)
    assert float(row.group(2)) == pytest.approx(added, abs=1.5e-3)
