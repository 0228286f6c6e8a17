"""Integrated Grad-CAM (m = 16) vs 16 plain inferences of the same images, and its memory
bound: peak memory depends on ``batch_size``, not on m (m = 16 vs m = 64).

ResNet-50 (weights=None, seeded), 2 images 224x224, batch_size 16, CPU; predicted-class targets
(resolved from the path's end point, no extra forward).

    .venv/bin/python -m benchmarks.bench_integrated [--repeats 3]
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
    images = torch.rand(2, 3, 224, 224)
    faithcam.explain(model, images, 'integrated-gradcam', steps=2, layer='layer4', batch_size=16)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    images = torch.rand(2, 3, 224, 224)
    rows_in = images.repeat_interleave(args.steps, dim=0)

    def plain():
        with torch.inference_mode():
            for start in range(0, len(rows_in), args.batch_size):
                model(rows_in[start : start + args.batch_size])

    def integrated():
        faithcam.explain(
            model,
            images,
            "integrated-gradcam",
            steps=args.steps,
            layer="layer4",
            batch_size=args.batch_size,
        )

    times = alternate(
        {f"{args.steps} plain inferences": plain, f"integrated-gradcam m={args.steps}": integrated},
        args.repeats,
    )
    rows = summarise(times, f"{args.steps} plain inferences", per=len(images))
    print_rows(
        f"ResNet-50, 2 images, batch_size {args.batch_size}, "
        f"{torch.get_num_threads()} threads (target ratio <= 1.15)",
        rows,
    )
    memory = {
        f"m={m}": peak_rss_mib(
            SETUP
            + (
                f"def run():\n    faithcam.explain(model, images, 'integrated-gradcam', steps={m},"
                f" layer='layer4', batch_size={args.batch_size})\n"
            )
        )
        for m in (16, 64)
    }
    print(
        f"  peak RSS growth of one call at batch_size {args.batch_size} (MiB): "
        + ", ".join(f"{k}: {v:.0f}" for k, v in memory.items())
    )
    print(f"  saved {save('integrated', {'rows': rows, 'peak_rss_mib': memory})}")


if __name__ == "__main__":
    main()
