"""`faithcam serve` in a real browser: headless Chromium driven by Playwright.

The server runs as the user starts it (`python -m faithcam serve`, a child process on a free
port). The page gets a text file first (its message must show, and the page must go on), then
an image; two methods are picked, a box is drawn, and both overlays and all their numbers must
appear; the PNG, .npy and CSV downloads must hold what the page shows.

Chromium: Debian's `chromium` package (`.ci/run` apt-installs it; Playwright's own browser
download needs a network CI does not have). Without it the test skips, loudly.
"""

from __future__ import annotations

import csv
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("playwright")
pytest.importorskip("fastapi")

from faithcam.data import ShapesBench
from faithcam.serve.launch import running_server

MODEL = "shapesbench-resnet-clean"
METHODS = ("gradcam", "hirescam")
ALL_NUMBERS_IN = (
    "document.querySelectorAll('.card').length === 2 && "
    "[...document.querySelectorAll('.card td')].every(td => !td.classList.contains('waiting'))"
)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        warnings.warn(
            "chromium is not installed: faithcam serve was NOT tested in a browser "
            "(.ci/run installs Debian's chromium)",
            stacklevel=1,
        )
        pytest.skip("LOUD: chromium not installed; serve browser test skipped")
    return found


def _files(folder: Path) -> tuple[Path, Path]:
    bench = ShapesBench("clean", n=1, seed=3)
    image = folder / "shape.png"
    pixels = (bench.images[0].permute(1, 2, 0) * 255).round().byte().numpy()
    Image.fromarray(pixels).save(image)
    text = folder / "notes.txt"
    text.write_text("these are notes, not a picture\n")
    return image, text


def _download(page, selector: str) -> Path:
    with page.expect_download() as download:
        page.click(selector)
    return Path(download.value.path())


def _drive(page, url: str, image: Path, text: Path) -> None:
    page.goto(url)
    page.wait_for_selector("#methods input")
    assert page.input_value("#model") == MODEL
    page.set_input_files("#file", str(text))  # bad input: a message, and the page goes on
    page.wait_for_selector("#error:not([hidden])")
    assert "not an image file" in page.inner_text("#error-text")
    page.set_input_files("#file", str(image))
    page.wait_for_selector("#top5 li")
    assert page.is_hidden("#error")
    for box in page.query_selector_all("#methods input"):
        box.set_checked(box.get_attribute("value") in METHODS)
    page.locator("#crop-frame").scroll_into_view_if_needed()
    frame = page.locator("#crop-frame").bounding_box()
    page.mouse.move(frame["x"] + 0.25 * frame["width"], frame["y"] + 0.25 * frame["height"])
    page.mouse.down()
    page.mouse.move(frame["x"] + 0.75 * frame["width"], frame["y"] + 0.75 * frame["height"])
    page.mouse.up()
    page.click("#compare")
    page.wait_for_function(ALL_NUMBERS_IN, timeout=120_000)
    page.wait_for_function(
        "[...document.querySelectorAll('.card img.overlay')].every(i => i.complete && "
        "i.naturalWidth > 0)"
    )


def _shown(page) -> dict[str, dict[str, float]]:
    shown = {}
    for method in METHODS:
        card = f'.card[data-method="{method}"]'
        shown[method] = {
            key: float(page.inner_text(f"{card} td.{key}"))
            for key in ("deletion", "insertion", "energy")
        }
    return shown


def test_compare_two_methods_in_headless_chromium(tmp_path: Path) -> None:
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    image, text = _files(tmp_path)
    start = time.monotonic()
    with running_server(["--model", MODEL]) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.set_default_timeout(120_000)  # a shared 2-core machine can be slow
            _drive(page, server.url, image, text)
            widths = page.eval_on_selector_all(
                ".card img.overlay", "e => e.map(i => i.naturalWidth)"
            )
            assert widths == [64, 64]
            shown = _shown(page)
            for numbers in shown.values():
                assert all(0.0 <= v <= 1.0 for v in numbers.values()), shown
            overlay = np.asarray(Image.open(_download(page, '.card[data-method="gradcam"] a.png')))
            assert overlay.shape == (64, 64, 3)
            heatmap = np.load(_download(page, '.card[data-method="hirescam"] a.npy'))
            assert heatmap.shape == (64, 64) and heatmap.min() >= 0 and heatmap.max() == 1.0
            with open(_download(page, "#csv"), newline="") as handle:
                rows = {row["method"]: row for row in csv.DictReader(handle)}
            assert sorted(rows) == sorted(METHODS)
            for method, numbers in shown.items():  # the page shows the CSV's numbers, rounded
                assert float(rows[method]["deletion_auc"]) == pytest.approx(
                    numbers["deletion"], abs=5e-4
                )
                assert float(rows[method]["energy_in_box"]) == pytest.approx(
                    numbers["energy"], abs=5e-4
                )
        finally:
            browser.close()
    print(f"browser test: {time.monotonic() - start:.1f} s with the server's start")
