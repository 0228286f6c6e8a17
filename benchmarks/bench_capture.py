"""Grad-CAM cost vs plain inference and vs pytorch-grad-cam (issue: capture engine).

ResNet-50 (weights=None, seeded), batch 8, 224x224, CPU. Sides alternate; best and median of
the repeats are reported, with ratios to plain ``inference_mode`` inference measured in the same
run. Peak memory: RSS growth of one call in a fresh process.

    .venv/bin/python benchmarks/bench_capture.py [--repeats 5] [--batch 8]
"""

from __future__ import annotations

import argparse

import torch
import torchvision

import faithcam
from benchmarks.timing import alternate, peak_rss_mib, print_rows, save, summarise

SETUP = """
import torch, torchvision, faithcam
def setup():
    global model, images
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    images = torch.rand({batch}, 3, 224, 224)
    with torch.inference_mode():
        model(images[:1])
"""
RUNS = {
    "plain inference": "def run():\n    with torch.inference_mode():\n        model(images)\n",
    "faithcam gradcam": (
        "def run():\n    faithcam.explain(model, images, 'gradcam', layer='layer4')\n"
    ),
    "pytorch-grad-cam GradCAM": (
        "def run():\n    from pytorch_grad_cam import GradCAM\n"
        "    with GradCAM(model=model, target_layers=[model.layer4]) as cam:\n"
        "        cam(input_tensor=images, targets=None)\n"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    images = torch.rand(args.batch, 3, 224, 224)
    from pytorch_grad_cam import GradCAM

    def plain():
        with torch.inference_mode():
            model(images)

    def ours():
        faithcam.explain(model, images, "gradcam", layer="layer4")

    def peer():
        with GradCAM(model=model, target_layers=[model.layer4]) as cam:
            cam(input_tensor=images, targets=None)

    times = alternate(
        {"plain inference": plain, "faithcam gradcam": ours, "pytorch-grad-cam GradCAM": peer},
        args.repeats,
    )
    rows = summarise(times, "plain inference", per=args.batch)
    print_rows(f"ResNet-50, batch {args.batch}, 224x224, {torch.get_num_threads()} threads", rows)
    by_side = {row["side"]: row for row in rows}
    peer_vs_ours = (
        by_side["pytorch-grad-cam GradCAM"]["best_s"] / by_side["faithcam gradcam"]["best_s"]
    )
    print(f"  pytorch-grad-cam / faithcam (best): {peer_vs_ours:.2f}x")
    memory = {
        name: peak_rss_mib(SETUP.format(batch=args.batch) + code) for name, code in RUNS.items()
    }
    print(
        "  peak RSS growth of one call (MiB): "
        + ", ".join(f"{k}: {v:.0f}" for k, v in memory.items())
    )
    print(f"  saved {save('capture', {'rows': rows, 'peak_rss_mib': memory})}")


if __name__ == "__main__":
    main()
