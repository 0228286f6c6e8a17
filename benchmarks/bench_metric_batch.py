"""The metrics' batch size: deletion at the one default (16, as explain) vs the metrics' former
default (64), same work, same run: is there a measured reason for two defaults?

ResNet-18 (weights=None, seeded), 224x224 images, 20 curve steps: B·21 forward passes per
side, under ``torch.inference_mode``. A and B alternate; best and median of the repeats. The
peak memory of each side (RSS growth while deletion runs) is measured in a fresh interpreter.

    .venv/bin/python -m benchmarks.bench_metric_batch [--images 2] [--repeats 3]
"""

from __future__ import annotations

import argparse

import torch
import torchvision

from benchmarks.timing import alternate, peak_rss_mib, print_rows, save, summarise
from faithcam.engine.defaults import BATCH_SIZE
from faithcam.metrics import deletion

FORMER = 64  # the metrics' batch size before one default
MEMORY = """
import torch, torchvision
from faithcam.metrics import deletion

def setup():
    global model, images, maps
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    images, maps = torch.rand({n}, 3, 224, 224), torch.rand({n}, 224, 224)

def run():
    deletion(model, images, maps, 0, curve_steps={steps}, batch_size={size})
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--curve-steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    images, maps = torch.rand(args.images, 3, 224, 224), torch.rand(args.images, 224, 224)
    sizes = (BATCH_SIZE, FORMER)

    def side(size: int):
        return lambda: deletion(
            model, images, maps, 0, curve_steps=args.curve_steps, batch_size=size
        )

    times = alternate({f"batch {size}": side(size) for size in sizes}, args.repeats)
    rows = summarise(times, f"batch {BATCH_SIZE}", per=args.images)
    for row, size in zip(rows, sizes, strict=True):
        code = MEMORY.format(n=args.images, steps=args.curve_steps, size=size)
        row["peak_rss_growth_mib"] = peak_rss_mib(code)
    title = (
        f"deletion, resnet18, {args.images} images 224x224, {args.curve_steps} curve steps = "
        f"{args.images * (args.curve_steps + 1)} forwards, {torch.get_num_threads()} threads"
    )
    print_rows(title, rows)
    for row in rows:
        print(f"  {row['side']:<28} peak RSS growth {row['peak_rss_growth_mib']:.0f} MiB")
    save("metric_batch", {"rows": rows})


if __name__ == "__main__":
    main()
