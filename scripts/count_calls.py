"""Count the distinct faithcam functions a Grad-CAM call runs (ResNet-18, one 224 x 224 image,
layer4), traced with sys.settrace after a warm-up call; also the files and the module moves.

    PYTHONPATH=src python scripts/count_calls.py [--list]

``--list`` prints every function (file, name, first line). tests/project/test_call_path.py
holds the call to issue 22's bound (at most 45).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import torch
import torchvision

import faithcam


def traced_calls(model: Any, images: torch.Tensor, **options: Any) -> tuple[set, set, int]:
    """(functions, files, module moves) of one ``faithcam.explain(model, images, **options)``
    call, after a warm-up call (imports, caches). A function is (file, name, first line)."""
    faithcam.explain(model, images, **options)
    seen: set[tuple[str, str, int]] = set()
    files: set[str] = set()
    prev, moves = [None], [0]

    def tracer(frame, event, arg):
        if event == "call":
            f = frame.f_code.co_filename
            if "/faithcam/" in f:
                seen.add((f, frame.f_code.co_name, frame.f_code.co_firstlineno))
                files.add(f)
                if prev[0] is not None and prev[0] != f:
                    moves[0] += 1
                prev[0] = f
        return None

    previous = sys.gettrace()  # a coverage tracer, say: put back afterwards
    sys.settrace(tracer)
    try:
        faithcam.explain(model, images, **options)
    finally:
        sys.settrace(previous)
    return seen, files, moves[0]


def gradcam_resnet18() -> tuple[set, set, int]:
    """The traced Grad-CAM call of the issue: ResNet-18 (weights=None, seed 0), layer4."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    return traced_calls(model, x, method="gradcam", layer=model.layer4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print every function")
    args = parser.parse_args()
    seen, files, moves = gradcam_resnet18()
    if args.list:
        for path, name, line in sorted(seen):
            print(f"{path.split('/faithcam/')[-1]}:{line} {name}")
    print("distinct faithcam functions:", len(seen), "files:", len(files), "module moves:", moves)


if __name__ == "__main__":
    main()
