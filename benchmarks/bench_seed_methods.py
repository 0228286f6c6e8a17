"""Integrated and Expected Grad-CAM against the forward passes they cannot avoid, and their
memory bound.

- Integrated Grad-CAM, m steps: m + 1 forwards per image (the m path points and the input).
  Reference: m + 1 plain inferences of the same images.
- Expected Grad-CAM, n samples: n + 1 forwards plus n forwards up to the layer (A(x'_r)).
  Reference: n + 1 plain inferences plus n passes of the backbone up to the layer.
- Grad-CAM against one plain inference, and Integrated Grad-CAM against Grad-CAM, printed next to
  the authors' 4.8x (54.8 vs 11.3 ms on a P100, ResNet-50, their paper).
- Peak memory of one call is bounded by ``batch_size`` rows: m = 16 vs m = 64.

ResNet-50 (weights=None, seeded) at ``layer4`` (the authors' layer), 2 images 224x224,
``batch_size`` 16; pass ``--device cuda`` on a GPU.

    .venv/bin/python -m benchmarks.bench_seed_methods [--repeats 3] [--steps 50] [--samples 32]
"""

from __future__ import annotations

import argparse

import torch
import torchvision
from torch import nn

import faithcam
from benchmarks.timing import alternate, peak_rss_mib, print_rows, save, summarise

AUTHORS_RATIO = 54.8 / 11.3  # Integrated Grad-CAM / Grad-CAM, P100, ResNet-50, m = 50

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
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-memory", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval().to(device)
    trunk = nn.Sequential(*list(model.children())[:-2])  # up to layer4
    images = torch.rand(2, 3, 224, 224, device=device)
    m, n, bs = args.steps, args.samples, args.batch_size

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def plain_passes(network, rows):
        inputs = images.repeat_interleave(rows, dim=0)

        def run():
            with torch.inference_mode():
                for start in range(0, len(inputs), bs):
                    network(inputs[start : start + bs])
            sync()

        return run

    def method(name, **options):
        def run():
            faithcam.explain(model, images, name, layer="layer4", batch_size=bs, **options)
            sync()

        return run

    plain_m1, plain_n1, trunk_n = plain_passes(model, m + 1), plain_passes(model, n + 1), (
        plain_passes(trunk, n)
    )
    sides = {
        "1 plain inference": plain_passes(model, 1),
        "gradcam": method("gradcam"),
        f"{m + 1} plain inferences": plain_m1,
        f"integrated-gradcam m={m}": method("integrated-gradcam", steps=m),
        f"{n + 1} plain + {n} to layer4": lambda: (plain_n1(), trunk_n()),
        f"expected-gradcam n={n}": method("expected-gradcam", samples=n, seed=0),
    }
    times = alternate(sides, args.repeats)
    per = len(images)
    groups = [
        ("Grad-CAM vs one plain inference", ["1 plain inference", "gradcam"]),
        ("Integrated Grad-CAM (target <= 1.15)", [f"{m + 1} plain inferences",
                                                     f"integrated-gradcam m={m}"]),
        ("Expected Grad-CAM (target <= 1.15)", [f"{n + 1} plain + {n} to layer4",
                                                   f"expected-gradcam n={n}"]),
    ]  # fmt: skip
    results = {}
    for title, names in groups:
        rows = summarise({k: times[k] for k in names}, names[0], per=per)
        results[title] = rows
        print_rows(f"{title}; ResNet-50, {device}, batch_size {bs}", rows)
    vs_gradcam = min(times[f"integrated-gradcam m={m}"]) / min(times["gradcam"])
    print(
        f"\n  Integrated Grad-CAM m={m} / Grad-CAM: {vs_gradcam:.1f}x here "
        f"(authors: {AUTHORS_RATIO:.1f}x on a P100; m + 1 forwards cannot cost less than "
        f"~{m + 1}x one forward at equal batch occupancy)"
    )
    memory = {}
    if not args.no_memory and device.type == "cpu":
        memory = {
            f"m={steps}": peak_rss_mib(
                SETUP
                + (
                    "def run():\n    faithcam.explain(model, images, 'integrated-gradcam', "
                    f"steps={steps}, layer='layer4', batch_size={bs})\n"
                )
            )
            for steps in (16, 64)
        }
        print(
            f"  peak RSS growth of one call at batch_size {bs} (MiB): "
            + ", ".join(f"{k}: {v:.0f}" for k, v in memory.items())
        )
    payload = {"device": str(device), "groups": results, "integrated_over_gradcam": vs_gradcam,
               "authors_ratio": AUTHORS_RATIO, "peak_rss_mib": memory}  # fmt: skip
    print(f"  saved {save(f'seed_methods_{device.type}', payload)}")


if __name__ == "__main__":
    main()
