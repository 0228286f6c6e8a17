"""The steps of the deletion and insertion curves: how far the AUC moves from RISE's own
resolution (one step per 224 pixels of a 224 x 224 image: 224 steps) and what each setting
costs, to choose the one default the API and the CLI share.

MobileNetV2 with its ImageNet weights (offline), the scikit-image photos chelsea, coffee,
astronaut and rocket at 224 x 224, maps from Grad-CAM and Expected Grad-CAM for the predicted
class, probabilities (the metrics' default score), black / blur substrates with the ImageNet
normalisation. For every setting: the mean and largest |AUC(steps) − AUC(224)| over the
images x maps, and the seconds of one deletion + insertion call on all of them (the settings
alternate; best and median of the repeats).

    .venv/bin/python -m benchmarks.bench_curve_steps [--steps 20 50 100 224] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics

import torch

from benchmarks.timing import alternate, save
from faithcam import explain
from faithcam.io.pretrained import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    load_pretrained,
    resize_center_crop,
    to_chw_float,
)
from faithcam.metrics import deletion, insertion

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
METHODS = ("gradcam", "expected-gradcam")
REFERENCE = 224  # RISE: 224 pixels per step of a 224 x 224 image


def _inputs() -> torch.Tensor:
    from skimage import data


    crops = [resize_center_crop(to_chw_float(getattr(data, p)()), 224) for p in PHOTOS]
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (torch.stack(crops) - mean) / std


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 50, 100, REFERENCE])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = load_pretrained("mobilenet_v2-imagenet").model
    norm = (IMAGENET_MEAN, IMAGENET_STD)
    x = _inputs()
    images = x.repeat(len(METHODS), 1, 1, 1)
    maps = torch.cat([explain(model, x, m, normalization=norm, seed=0).maps for m in METHODS])

    def curves(steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        options = {"curve_steps": steps, "normalization": norm}
        return (
            deletion(model, images, maps, **options).values,
            insertion(model, images, maps, **options).values,
        )

    values = {steps: curves(steps) for steps in args.steps}
    times = alternate({str(s): (lambda s=s: curves(s)) for s in args.steps}, args.repeats)
    reference = values[REFERENCE] if REFERENCE in values else values[max(values)]
    rows = []
    print(f"{'steps':>6} {'forwards':>9} {'best s':>8} {'median s':>9}   "
          "deletion |Δ| mean / max      insertion |Δ| mean / max")  # fmt: skip
    for steps in args.steps:
        gaps = [(values[steps][k] - reference[k]).abs() for k in (0, 1)]
        row = {
            "steps": steps,
            "forwards": len(images) * 2 * (steps + 1),
            "best_s": min(times[str(steps)]),
            "median_s": statistics.median(times[str(steps)]),
            "deletion_mean": float(values[steps][0].mean()),
            "insertion_mean": float(values[steps][1].mean()),
            "deletion_gap_mean": float(gaps[0].mean()),
            "deletion_gap_max": float(gaps[0].max()),
            "insertion_gap_mean": float(gaps[1].mean()),
            "insertion_gap_max": float(gaps[1].max()),
        }
        rows.append(row)
        print(
            f"{steps:>6} {row['forwards']:>9} {row['best_s']:>8.1f} {row['median_s']:>9.1f}   "
            f"{row['deletion_gap_mean']:.4f} / {row['deletion_gap_max']:.4f}"
            f"{'':>14}{row['insertion_gap_mean']:.4f} / {row['insertion_gap_max']:.4f}"
        )
    save("curve_steps", {"photos": PHOTOS, "methods": METHODS, "rows": rows})


if __name__ == "__main__":
    main()
