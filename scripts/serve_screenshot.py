"""Screenshot of the `faithcam serve` page into docs/serve.png (`make serve-screenshot`).

Starts the server, opens the page in headless Chromium (Playwright driving Debian's
`chromium`), takes the bundled photo `chelsea`, draws a box around the cat's head, compares the
four seed methods on MobileNetV2 and waits until every number is in.

    python scripts/serve_screenshot.py [--out docs/serve.png] [--methods a,b,...]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from faithcam.serve.launch import running_server

ROOT = Path(__file__).resolve().parent.parent
BOX = (0.22, 0.30, 0.80, 0.92)  # around the eyes and nose of Chelsea (fractions of the crop)
SEED = "expected-gradcam,integrated-gradcam,hirescam,xgradcam"


def drive(page, url: str, methods: list[str]) -> None:
    page.goto(url)
    page.click('button[data-photo="chelsea"]')
    page.wait_for_selector("#top5 li")
    page.wait_for_function("document.getElementById('crop').naturalWidth > 0")
    for box in page.query_selector_all("#methods input"):
        box.set_checked(box.get_attribute("value") in methods)
    page.locator("#crop-frame").scroll_into_view_if_needed()
    frame = page.locator("#crop-frame").bounding_box()
    x0, y0, x1, y1 = BOX
    page.mouse.move(frame["x"] + x0 * frame["width"], frame["y"] + y0 * frame["height"])
    page.mouse.down()
    page.mouse.move(frame["x"] + x1 * frame["width"], frame["y"] + y1 * frame["height"], steps=5)
    page.mouse.up()
    page.click("#compare")
    page.wait_for_function(
        "document.querySelectorAll('.card').length > 0 && "
        "[...document.querySelectorAll('.card td.insertion')].every(td => "
        "!td.classList.contains('waiting'))",
        timeout=600_000,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "serve.png")
    parser.add_argument("--methods", default=SEED, help="comma-separated (default: %(default)s)")
    args = parser.parse_args()
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_path is None:
        print(
            "serve_screenshot: needs Debian's chromium (apt-get install chromium)", file=sys.stderr
        )
        return 1
    from playwright.sync_api import sync_playwright

    with running_server() as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.set_default_timeout(300_000)  # a busy machine: the first model load takes a while
        start = time.perf_counter()
        drive(page, server.url, args.methods.split(","))
        page.evaluate("window.scrollTo(0, 0)")  # the results column sticks to the view's top
        page.wait_for_timeout(300)  # the last overlay paints
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out), full_page=True)
        browser.close()
    print(f"{args.out} (page ready after {time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
