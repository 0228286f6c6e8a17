"""The same pytorch-grad-cam user code through both imports: ``pytorch_grad_cam`` (the peer)
and ``faithcam.compat.pytorch_grad_cam`` (the drop-in). Speed alternates the sides (A B A B),
peak memory is the RSS growth of one call in a fresh process.

    .venv/bin/python -m benchmarks.bench_compat [--model resnet50] [--batch 8] [--memory]
        [--device cuda] [--methods GradCAM HiResCAM | all]

``--methods all``: every drop-in class called as a CAM on one layer (ALL_METHODS).

On CPU, peak memory is the RSS growth of a fresh process; on CUDA it is the growth of
``torch.cuda.max_memory_allocated`` during one call, in this process.
"""

from __future__ import annotations

import argparse

import torch
import torchvision

from benchmarks.timing import alternate, peak_rss_mib, print_rows, save, summarise

PACKAGES = {
    "pytorch-grad-cam": "pytorch_grad_cam",
    "faithcam drop-in": "faithcam.compat.pytorch_grad_cam",
}

# The peer's README usage, with the import prefix as the only difference between the sides.
USER_CODE = """
from {pkg} import {method}
from {pkg}.utils.model_targets import ClassifierOutputTarget

def run():
    targets = [ClassifierOutputTarget(281) for _ in range(len(input_tensor))]
    with {method}(model=model, target_layers=[model.layer4[-1]]) as cam:
        return cam(input_tensor=input_tensor, targets=targets)
"""

# the classes called as the peer's README calls a CAM, ``with Class(model, target_layers) as cam``
# (the peer's RefineCAM is no context manager; SESS is too slow to time this way)
ALL_METHODS = [
    "GradCAM", "HiResCAM", "XGradCAM", "GradCAMPlusPlus", "LayerCAM", "GradCAMElementWise",
    "EigenCAM", "EigenGradCAM", "SegEigenCAM", "KPCA_CAM", "FEM", "ShapleyCAM", "RandomCAM",
    "FullGrad", "FinerCAM", "ScoreCAM", "AblationCAM",
]  # fmt: skip

SETUP = """
import torch, torchvision
def setup():
    global model, input_tensor
    torch.manual_seed(0)
    model = torchvision.models.{model}(weights=None).eval()
    input_tensor = torch.rand({batch}, 3, {size}, {size})
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=["GradCAM", "HiResCAM"])
    parser.add_argument("--memory", action="store_true", help="also measure peak memory per side")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.methods == ["all"]:
        args.methods = ALL_METHODS
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
        rows = summarise(alternate(runs, args.repeats), "pytorch-grad-cam", per=args.batch)
        for row in rows:
            row.update(model=args.model, batch=args.batch, method=method)
            row["device"] = str(device)
            if args.memory and device.type == "cuda":
                row["peak_mib"] = _cuda_peak_mib(runs[row["side"]], device)
            elif args.memory:
                setup = SETUP.format(model=args.model, batch=args.batch, size=args.size)
                code = setup + USER_CODE.format(pkg=PACKAGES[row["side"]], method=method)
                row["peak_mib"] = peak_rss_mib(code)
        title = f"{method}, {args.model}, batch {args.batch}, {device}, x pytorch-grad-cam"
        print_rows(title, rows)
        if args.memory:
            peer = rows[0]["peak_mib"]
            for row in rows:
                print(
                    f"  peak memory {row['side']:<18} {row['peak_mib']:>7.0f} MiB"
                    f"  (x {row['peak_mib'] / peer:.2f})"
                )
        results += rows
    print(f"saved {save('compat', {'rows': results})}")


def _cuda_peak_mib(run, device: torch.device) -> float:
    """Growth of the CUDA allocator's peak during one call (MiB)."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    start = torch.cuda.memory_allocated(device)
    run()
    torch.cuda.synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - start) / 2**20


if __name__ == "__main__":
    main()
