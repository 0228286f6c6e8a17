"""docs/compare-chelsea.png (`make compare-figure`): the command of its caption in docs/cli.md,
run on scikit-image's chelsea photo.

    python scripts/compare_figure.py [--out docs/compare-chelsea.png]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
METHODS = "gradcam,hirescam,xgradcam,layercam"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "compare-chelsea.png")
    args = parser.parse_args()
    from PIL import Image
    from skimage import data

    from faithcam.cli import main as faithcam

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        Image.fromarray(data.chelsea()).save(work / "chelsea.png")
        code = faithcam([
            "compare", str(work / "chelsea.png"), "--model", "mobilenet_v2-imagenet",
            "--method", METHODS, "--quiet", "--out", str(work / "out"),
        ])  # fmt: skip
        if code:
            return code
        shutil.copyfile(work / "out" / "chelsea.compare.png", args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
