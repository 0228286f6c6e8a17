"""The same torchcam user code through both imports: ``torchcam`` (the peer) and
``faithcam.compat.torchcam`` (the drop-in), sides alternated (A B A B) in one process.

    .venv/bin/python -m benchmarks.bench_compat_torchcam [--model resnet50] [--batch 8]
        [--methods GradCAM LayerCAM] [--device cuda]
"""

from __future__ import annotations

import argparse

import torch
import torchvision

from benchmarks.timing import alternate, print_rows, save, summarise, user_code_sides

PACKAGES = {"torchcam": "torchcam", "faithcam drop-in": "faithcam.compat.torchcam"}

# torchcam's README usage, with the import prefix as the only difference between the sides.
USER_CODE = """
from {pkg}.methods import {method}

def run():
    with {method}(model, "layer4") as cam_extractor:
        scores = model(input_tensor)
        return cam_extractor(281, scores)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, default in (("--model", "resnet50"), ("--device", "cpu")):
        parser.add_argument(flag, default=default)
    for flag, default in (("--batch", 8), ("--size", 224), ("--repeats", 3)):
        parser.add_argument(flag, type=int, default=default)
    parser.add_argument("--methods", nargs="+", default=["GradCAM", "XGradCAM", "LayerCAM"])
    args = parser.parse_args()
    torch.manual_seed(0)
    names = {
        "model": getattr(torchvision.models, args.model)(weights=None).eval().to(args.device),
        "input_tensor": torch.rand(args.batch, 3, args.size, args.size).to(args.device),
    }
    results = []
    for method in args.methods:
        sides = user_code_sides(PACKAGES, USER_CODE, names, method=method)
        rows = summarise(alternate(sides, args.repeats), "torchcam", per=args.batch)
        setting = {"model": args.model, "batch": args.batch, "size": args.size}
        for row in rows:
            row.update(setting, method=method, device=args.device)
        print_rows(f"{method}, {args.model}, batch {args.batch}, {args.device}, x torchcam", rows)
        results += rows
    print(f"saved {save('compat_torchcam', {'rows': results})}")


if __name__ == "__main__":
    main()
