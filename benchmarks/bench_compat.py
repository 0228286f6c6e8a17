"""The same pytorch-grad-cam user code through both imports: ``pytorch_grad_cam`` (the peer)
and ``faithcam.compat.pytorch_grad_cam`` (the drop-in). Speed alternates the sides (A B A B),
peak memory is the RSS growth of one call in a fresh process.

    .venv/bin/python -m benchmarks.bench_compat [--model resnet50] [--batch 8] [--memory]
        [--device cuda] [--threads 1] [--methods GradCAM HiResCAM | all]

``--methods all``: every public class the peer's user code calls (ALL_METHODS): the CAMs on
``layer4[-1]`` in a ``with`` block as the peer's README, RefineCAM on ``layer3[-1]`` and
``layer4[-1]`` without one (the peer's is no context manager), SESS with ``num_scales=2``,
FullGrad without layers, Deep Feature Factorization (4 concepts, ``model.fc`` on them) and
guided backpropagation as the peer's tutorials call them. Each method prints the drop-in's time
over the peer's in every round (the two run back to back): their median and range.

On CPU, peak memory is the RSS growth of a fresh process; on CUDA it is the growth of
``torch.cuda.max_memory_allocated`` during one call, in this process.
"""

from __future__ import annotations

import argparse
import statistics

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
    with {method}(model=model, target_layers={layers}{keywords}) as cam:
        return cam(input_tensor=input_tensor, targets=targets)
"""
# The peer's RefineCAM is no context manager: called as its README calls it.
PLAIN_CODE = """
from {pkg} import {method}
from {pkg}.utils.model_targets import ClassifierOutputTarget

def run():
    targets = [ClassifierOutputTarget(281) for _ in range(len(input_tensor))]
    cam = {method}(model=model, target_layers={layers}{keywords})
    return cam(input_tensor=input_tensor, targets=targets)
"""
# Deep Feature Factorization and guided backpropagation, as the peer's tutorials call them.
OTHER_CODE = {
    "DeepFeatureFactorization": """
from {pkg} import DeepFeatureFactorization

def run():
    dff = DeepFeatureFactorization(model=model, target_layer=model.layer4,
                                   computation_on_concepts=model.fc)
    return dff(input_tensor, n_components=4)
""",
    "GuidedBackpropReLUModel": """
from {pkg} import GuidedBackpropReLUModel

def run():
    return GuidedBackpropReLUModel(model=model, device=input_tensor.device)(input_tensor, 281)
""",
}
LAST = "[model.layer4[-1]]"
# method -> (target layers, constructor keywords): the README's layer4[-1] unless named
SETTINGS = {
    "RefineCAM": ("[model.layer3[-1], model.layer4[-1]]", ""),
    "SESS": (LAST, ", num_scales=2"),  # 1 + 4 patches per image at 2 scales
    "FullGrad": ("[]", ""),
}
ALL_METHODS = [
    "GradCAM", "HiResCAM", "XGradCAM", "GradCAMPlusPlus", "LayerCAM", "GradCAMElementWise",
    "EigenCAM", "EigenGradCAM", "SegEigenCAM", "KPCA_CAM", "FEM", "ShapleyCAM", "RandomCAM",
    "FullGrad", "FinerCAM", "RefineCAM", "SESS", "ScoreCAM", "AblationCAM",
    "DeepFeatureFactorization", "GuidedBackpropReLUModel",
]  # fmt: skip


def user_code(method: str, pkg: str) -> str:
    """The user code of ``method`` through the package ``pkg``."""
    if method in OTHER_CODE:
        return OTHER_CODE[method].format(pkg=pkg)
    layers, keywords = SETTINGS.get(method, (LAST, ""))
    template = PLAIN_CODE if method == "RefineCAM" else USER_CODE
    return template.format(pkg=pkg, method=method, layers=layers, keywords=keywords)


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
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args()
    if args.methods == ["all"]:
        args.methods = ALL_METHODS
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = getattr(torchvision.models, args.model)(weights=None).eval().to(device)
    input_tensor = torch.rand(args.batch, 3, args.size, args.size).to(device)
    results = []
    for method in args.methods:
        runs = {}
        for side, pkg in PACKAGES.items():
            namespace = {"model": model, "input_tensor": input_tensor}
            exec(user_code(method, pkg), namespace)
            runs[side] = namespace["run"]
        times = alternate(runs, args.repeats)
        rows = summarise(times, "pytorch-grad-cam", per=args.batch)
        rounds = round_ratios(times)
        for row in rows:
            row["round_ratios"] = rounds if row["side"] != "pytorch-grad-cam" else None
            row.update(model=args.model, batch=args.batch, method=method)
            row["device"] = str(device)
            if args.memory and device.type == "cuda":
                row["peak_mib"] = _cuda_peak_mib(runs[row["side"]], device)
            elif args.memory:
                setup = SETUP.format(model=args.model, batch=args.batch, size=args.size)
                code = setup + user_code(method, PACKAGES[row["side"]])
                row["peak_mib"] = peak_rss_mib(code)
        title = f"{method}, {args.model}, batch {args.batch}, {device}, x pytorch-grad-cam"
        print_rows(title, rows)
        print(f"  drop-in / peer per round: median {statistics.median(rounds):.2f}, "
              f"range {min(rounds):.2f}-{max(rounds):.2f}")
        if args.memory:
            peer = rows[0]["peak_mib"]
            for row in rows:
                print(
                    f"  peak memory {row['side']:<18} {row['peak_mib']:>7.0f} MiB"
                    f"  (x {row['peak_mib'] / peer:.2f})"
                )
        results += rows
    print(f"saved {save('compat', {'rows': results})}")


def round_ratios(times: dict[str, list[float]]) -> list[float]:
    """The drop-in's time over the peer's in each round (the two ran back to back)."""
    peer, ours = times["pytorch-grad-cam"], times["faithcam drop-in"]
    return [mine / theirs for mine, theirs in zip(ours, peer, strict=True)]


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
