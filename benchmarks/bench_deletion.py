"""Deletion AUC vs the same number of plain batched forward passes (target: ratio <= 1.2).

ResNet-18 (weights=None, seeded), 224x224 images, 100 curve steps: deletion runs
B·(curve_steps + 1) forward passes; the baseline runs that many images through the model in
batches of the same size under ``torch.inference_mode``. A and B alternate, the best and
median of the repeats are reported.

    .venv/bin/python -m benchmarks.bench_deletion [--images 4] [--repeats 3] [--batch-size 32]
        [--curve-steps 100]
"""

from __future__ import annotations

import argparse

import torch
import torchvision

from benchmarks.timing import alternate, print_rows, save, summarise
from faithcam.metrics import deletion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--curve-steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    images = torch.rand(args.images, 3, 224, 224)
    maps = torch.rand(args.images, 224, 224)
    targets = model(images).argmax(1)
    n_forward = args.images * (args.curve_steps + 1)
    plain_inputs = images.repeat_interleave(args.curve_steps + 1, dim=0)

    def run_deletion() -> None:
        deletion(
            model, images, maps, targets, curve_steps=args.curve_steps, batch_size=args.batch_size
        )

    def run_plain() -> None:
        with torch.inference_mode():
            for start in range(0, n_forward, args.batch_size):
                model(plain_inputs[start : start + args.batch_size])

    times = alternate({"deletion": run_deletion, "plain": run_plain}, args.repeats)
    title = (
        f"resnet18, {args.images} images 224x224, {args.curve_steps} curve steps = {n_forward} "
        f"forwards, "
        f"batch {args.batch_size}, {torch.get_num_threads()} threads (target ratio <= 1.2)"
    )
    rows = summarise(times, "plain", per=args.images)
    print_rows(title, rows)
    save("deletion", {"rows": rows})


if __name__ == "__main__":
    main()
