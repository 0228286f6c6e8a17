"""The same torchcam user code through both imports: ``torchcam`` (the peer) and
``faithcam.compat.torchcam`` (the drop-in), sides alternated (A B A B) in one process.

    .venv/bin/python -m benchmarks.bench_compat_torchcam [--model resnet50] [--batch 8]
        [--methods GradCAM LayerCAM] [--device cuda]
"""

from __future__ import annotations

import argparse

import torch
import torchvision

from benchmarks.timing import alternate, print_rows, save, summarise

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
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=["GradCAM", "XGradCAM", "LayerCAM"])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = getattr(torchvision.models, args.model)(weights=None).eval().to(device)
    input_tensor = torch.rand(args.batch, 3, args.size, args.size).to(device)
    results = []
    for method in args.methods:
        runs = {}
        for side, pkg in PACKAGES.items():
            namespace = {"model": model, "input_tensor": input_tensor}
            exec(USER_CODE.format(pkg=pkg, method=method), namespace)
            runs[side] = namespace["run"]
        rows = summarise(alternate(runs, args.repeats), "torchcam", per=args.batch)
        for row in rows:
            row.update(model=args.model, batch=args.batch, method=method, device=str(device))
        print_rows(f"{method}, {args.model}, batch {args.batch}, {device}, x torchcam", rows)
        results += rows
    print(f"saved {save('compat_torchcam', {'rows': results})}")


if __name__ == "__main__":
    main()
