"""docs/evaluate-report.png (`make evaluate-screenshot`): `faithcam evaluate` on four
scikit-image photos with Pascal VOC boxes named in ImageNet's classes (coffee holds two
classes, an espresso and its cup; astronaut has no boxes), MobileNetV2, the default methods
and settings; the report opened in headless Chromium and its top captured.

    python scripts/evaluate_screenshot.py [--out docs/evaluate-report.png] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 1200, 1900
# (photo, [(ImageNet class, (xmin, ymin, xmax, ymax) 1-based inclusive, in the photo's pixels)])
ANNOTATED = [
    ("chelsea", [("tabby", (40, 1, 420, 300))]),
    ("coffee", [("espresso", (200, 95, 370, 195)), ("cup", (170, 15, 410, 310))]),
    ("rocket", [("missile", (300, 120, 345, 410))]),
    ("astronaut", []),  # no annotation: counted in deletion and insertion only
]


def write_folder(root: Path) -> None:
    """The photos in root/photos and their VOC files in root/voc."""
    from PIL import Image
    from skimage import data

    (root / "photos").mkdir(parents=True)
    (root / "voc").mkdir()
    for photo, objects in ANNOTATED:
        Image.fromarray(getattr(data, photo)()).save(root / "photos" / f"{photo}.png")
        if not objects:
            continue
        body = "".join(
            f"<object><name>{name}</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
            f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
            for name, (x0, y0, x1, y1) in objects
        )
        (root / "voc" / f"{photo}.xml").write_text(
            f"<annotation><filename>{photo}.png</filename>{body}</annotation>"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "evaluate-report.png")
    parser.add_argument("--keep", type=Path, help="keep the evaluation folder here")
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("evaluate_screenshot: needs chromium (apt-get install chromium)", file=sys.stderr)
        return 1
    from faithcam.cli import main as faithcam

    with tempfile.TemporaryDirectory() as scratch:
        work = args.keep or Path(scratch)
        write_folder(work)
        code = faithcam([
            "evaluate", str(work / "photos"), "--annotations", str(work / "voc"),
            "--model", "mobilenet_v2-imagenet", "--grids", "2", "--out", str(work / "out"),
        ])  # fmt: skip
        if code:
            return code
        shot = work / "shot.png"
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={shot}",
             (work / "out" / "report.html").as_uri()],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        shutil.copyfile(shot, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
