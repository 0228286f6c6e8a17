"""Expected Grad-CAM's samplers on several kinds of case, measured the way issue 28 asks: the
relative L2 error of the map at n samples against a high-sample i.i.d. reference.

Cases (``--cases``):

- ``resnet18-random``: torchvision ResNet-18 with seeded random weights (``torch.manual_seed(0)``)
  at ``layer2``, the uniform-noise baseline (``baseline="uniform"``), targets 1, 2, … (issue
  28's case);
- ``resnet18-random-others``: the same model with a data-aware D (``baseline="others"``);
- ``resnet18-random-black``: the same model with the black baseline;
- ``shapes-<arch>``: the bundled ShapesBench models (trained) on ShapesBench images, D = the
  other images, their predicted classes;
- ``mobilenet_v2``: the offline ImageNet MobileNetV2 (trained) at ``features`` on real photos,
  D = the other photos, predicted classes.

Photos: ``skimage.data`` resized to ``--size`` and normalised with the ImageNet statistics.
Per case, a reference from ``--reference`` samples of ``--reference-sampler`` (i.i.d. by
default; its own seed); per sampler, n and seed
one ``explain`` call with ``samples=n`` (the Latin hypercube of ``"qmc"`` is built for its n, so
prefixes of one long run would not be its estimates). Error: ‖M_n − M_ref‖ / ‖M_ref‖ of the raw
maps, root-mean-square over images and seeds; the reference's own error is removed,
e² − c/R, with c from the i.i.d. curve e² = c (1/n + 1/R) (i.i.d. references only: with
heavy-tailed per-sample maps this under-corrects, and a quasi-random reference is closer).
Every sampler is unbiased, so its mean squared error is the trace of its covariance, which the
spread of the ``--seeds`` independent runs estimates with no reference at all: ``spread`` is
√(mean over images of Σ_pixels s² / ‖M_ref‖²), s² the sample variance over seeds.

    python -m benchmarks.bench_samplers --out benchmarks/results/samplers.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import faithcam

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ["chelsea", "coffee", "astronaut", "rocket"]
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
CASES = ["resnet18-random", "resnet18-random-others", "shapes-resnet", "shapes-vgg"]
SAMPLERS = ["random", "antithetic", "sobol", "qmc"]


def photos(count: int, size: int) -> torch.Tensor:
    """``count`` skimage photos, resized and centre-cropped to ``size``, ImageNet-normalised."""
    from skimage import data

    from faithcam.io.pretrained import resize_center_crop, to_chw_float

    mean, std = (torch.tensor(v).view(3, 1, 1) for v in IMAGENET)
    out = []
    for name in PHOTOS[:count]:
        image = resize_center_crop(to_chw_float(getattr(data, name)()), size)
        out.append((image[:3] - mean) / std)
    return torch.stack(out)


def load_case(name: str, images: int, size: int):
    """(model, layer, images, options of explain) of one case."""
    if name.startswith("resnet18-random"):
        import torchvision

        torch.manual_seed(0)
        model = torchvision.models.resnet18().eval()
        x = photos(images, size)
        options = {"targets": list(range(1, images + 1)), "normalization": IMAGENET}
        options["baseline"] = {"others": "others", "black": "black"}.get(
            name.rsplit("-", 1)[-1], "uniform"
        )
        return model, "layer2", x, options
    if name.startswith("shapes-"):
        from faithcam.data import ShapesBench
        from faithcam.data.models import load_shapes_model

        sm = load_shapes_model(name.removeprefix("shapes-"), "clean")
        return (
            sm.model,
            sm.layer,
            ShapesBench("clean", images, seed=123).images,
            {"baseline": "others"},
        )
    if name == "mobilenet_v2":
        from faithcam.io.pretrained import load_pretrained

        pm = load_pretrained("mobilenet_v2-imagenet")
        return (
            pm.model,
            "features",
            photos(images, size),
            {"baseline": "others", "normalization": IMAGENET},
        )
    raise SystemExit(f"--cases: unknown {name!r}")


def relative_errors(maps: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    return (maps - reference).flatten(1).norm(dim=1) / reference.flatten(1).norm(dim=1)


def study(name: str, args) -> dict:
    """RMS relative error of each sampler at each n on one case, with the reference removed."""
    model, layer, images, options = load_case(name, args.images, args.size)
    if "targets" not in options:
        with torch.inference_mode():
            options["targets"] = model(images).argmax(1).tolist()
    common = dict(layer=layer, batch_size=args.batch_size, **options)
    if args.sigma is not None:
        common["sigma"] = args.sigma

    def maps(samples, sampler, seed):
        return faithcam.explain(model, images, "expected-gradcam", samples=samples,
                                sampler=sampler, seed=seed, **common).raw_maps  # fmt: skip

    start = time.perf_counter()
    reference = maps(args.reference, args.reference_sampler, 10**6)
    # an all-zero reference map has no relative error: such images are left out (and counted)
    kept = reference.flatten(1).norm(dim=1) > 0
    reference = reference[kept]
    squared = {s: [] for s in args.samplers}
    mean = {s: [] for s in args.samplers}
    spread = {s: [] for s in args.samplers}
    norm2 = reference.flatten(1).norm(dim=1) ** 2
    for sampler in args.samplers:
        for n in args.n:
            estimates = torch.stack([maps(n, sampler, s)[kept] for s in range(args.seeds)])
            runs = torch.cat([relative_errors(m, reference) for m in estimates])
            squared[sampler].append((runs**2).mean().item())
            mean[sampler].append(runs.mean().item())
            variance = estimates.double().var(0).flatten(1).sum(1)  # trace of the covariance
            spread[sampler].append((variance / norm2).mean().sqrt().item())
    grid = np.array(args.n, dtype=float)
    c = float(np.mean(np.array(squared["random"]) / (1 / grid + 1 / args.reference)))
    # the reference's own error, c/R, is known for an i.i.d. reference only
    floor = c / args.reference if args.reference_sampler == "random" else 0.0
    return {
        "n": args.n,
        "raw_rmse": {s: np.sqrt(v).tolist() for s, v in squared.items()},
        "rmse": {
            s: np.sqrt(np.maximum(np.array(v) - floor, 1e-12)).tolist() for s, v in squared.items()
        },
        "mean_raw_error": mean,
        "spread": spread,
        "reference_rmse": float(np.sqrt(floor)),
        "layer": layer,
        "baseline": options["baseline"],
        "sigma": common.get("sigma", "default"),
        "targets": options["targets"],
        "zero_reference_images": int((~kept).sum()),
        "seconds": time.perf_counter() - start,
    }


def table(results: dict) -> str:
    """A markdown table: error of each sampler at each n, per case."""
    lines = []
    for name, case in results["cases"].items():
        ns = case["n"]
        lines.append(
            f"\n**{name}** (layer `{case['layer']}`, baseline {case['baseline']}, "
            f"σ {case.get('sigma', 'default')}, "
            f"reference error {case['reference_rmse']:.3f}, {case['seconds']:.0f} s)\n"
        )
        header = [f"n = {n}" for n in ns] + [f"spread n = {n}" for n in ns]
        lines.append("| sampler | " + " | ".join(header) + " |")
        lines.append("|---|" + "---:|" * len(header))
        for sampler, errors in case["rmse"].items():
            values = errors + case.get("spread", {}).get(sampler, [])
            lines.append(f"| {sampler} | " + " | ".join(f"{e:.3f}" for e in values) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=CASES)
    parser.add_argument("--samplers", nargs="+", default=SAMPLERS)
    parser.add_argument("--n", nargs="+", type=int, default=[8, 16, 32])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--size", type=int, default=64, help="photo size")
    parser.add_argument("--reference", type=int, default=1024)
    parser.add_argument("--reference-sampler", default="random")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--sigma", type=float, help="Expected Grad-CAM's σ (default: its own)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/samplers.json"))
    args = parser.parse_args()
    if "random" not in args.samplers:
        raise SystemExit("--samplers: include 'random' (the reference curve)")
    results = {"config": vars(args), "cases": {}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for name in args.cases:  # written after every case: a long run keeps what it measured
        results["cases"][name] = study(name, args)
        out.write_text(json.dumps(results, indent=1))
        print(table({"cases": {name: results["cases"][name]}}), flush=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
