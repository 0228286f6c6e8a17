"""The README's completeness table: how much of y(x) − E[y(x')] each method's map accounts for.

For every method, on the offline ImageNet models (three scikit-image photos, pixel-black
baseline) and the bundled ShapesBench models (16 test images, black baseline), the median over
images of the relative gap |Σ_ij M_ij − (y(x) − y(x'))| / |y(x) − y(x')| (0 = complete) and of
the ratio Σ M / (y(x) − y(x')). Expected Grad-CAM draws its baselines from the other images
(the data-aware D) and is scored against the mean logit over them.

    .venv/bin/python scripts/completeness_table.py [--out benchmarks/results/completeness.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

import faithcam
from faithcam.data import ShapesBench, bundled_models, load_shapes_model
from faithcam.io.pretrained import PRETRAINED, load_pretrained
from faithcam.metrics import completeness

METHODS = ["gradcam", "gradcam++", "xgradcam", "hirescam", "layercam", "integrated-gradcam",
           "expected-gradcam"]  # fmt: skip


def cases():
    from skimage import data

    for name in PRETRAINED:
        model = load_pretrained(name)
        images = torch.cat([model.preprocess(getattr(data, p)()) for p in ("chelsea", "coffee",
                                                                           "astronaut")])
        yield name, model.model, images, model.layer, (model.mean, model.std)
    for arch, split in bundled_models():
        shapes = load_shapes_model(arch, split)
        bench = ShapesBench(split, 16, seed=0)
        yield f"shapes {arch}-{split}", shapes.model, bench.images, shapes.layer, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/completeness.json")
    args = parser.parse_args()
    rows = []
    for model_name, model, images, layer, normalization in cases():
        references = faithcam.ReferenceSet(images)
        for method in METHODS:
            sampled = method == "expected-gradcam"
            options = {"baseline": references, "seed": 0} if sampled else {}
            result = faithcam.explain(
                model, images, method, layer=layer, normalization=normalization, **options
            )
            gap = completeness(
                model, images, result.raw_maps, result.targets,
                references=images if sampled else None, normalization=normalization,
            )  # fmt: skip
            ratio = gap.details["map_sum"] / gap.details["difference"]
            rows.append({"model": model_name, "method": method, "gap": gap.values.median().item(),
                         "ratio": ratio.median().item()})  # fmt: skip
            print(f"{model_name:<24}{method:<22}gap {rows[-1]['gap']:.3f}  "
                  f"ratio {rows[-1]['ratio']:.3f}", flush=True)  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))
    names = list(dict.fromkeys(r["model"] for r in rows))
    print("\n| method | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    ratios = {(r["model"], r["method"]): r["ratio"] for r in rows}
    for method in METHODS:
        cells = [f"{ratios[(name, method)]:.2f}" for name in names]
        print(f"| {method} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
