"""Sample efficiency of Expected Grad-CAM's samplers, and of Integrated Grad-CAM's quadrature.

Expected Grad-CAM (its defaults unless ``--baseline`` / ``--sigma`` say otherwise; issue 28's
full-size run used D = the other images, σ = 0: docs/benchmarks.md) at the standard layers of the
offline MobileNetV2 ("features") and EfficientNet-Lite0 ("_bn1"), on real photos from
``skimage.data``, and of the bundled ShapesBench models on ShapesBench images. Per image a reference
map from ``--reference`` plain random samples (its own seed); per sampler and seed one run of N =
``--max-n`` samples whose per-sample maps give, by prefix means, the estimate at every n = 4, 8, …,
N (a prefix of n rows of any sampler is exactly what ``samples=n`` draws: the first n Sobol' points,
whole antithetic pairs, the first n picks of the cycled permutation; for ``"qmc"`` only without
per-pixel noise, e.g. σ = 0 with a black or data D, where it draws as ``"sobol"``). Error: the
relative L2 error ‖M_n − M_ref‖ / ‖M_ref‖ of the raw maps, root-mean-square over images and seeds.
The reference's own Monte-Carlo error is removed: e² − e_ref², with e_ref² = c/R estimated from the
random sampler's curve e² = c (1/n + 1/R); points whose measured e² is under 2 e_ref² (mostly
reference noise) are left out.

"Samples needed at equal error" of a sampler vs random: for each n of the random curve, the n'
at which the sampler's curve reaches the same error (log-log interpolation; its log-log fit
outside its range), n'/n averaged geometrically. < 1 means fewer samples.

Integrated Grad-CAM (``--rule-models``): relative L2 error of the left Riemann, trapezoid and
Gauss–Legendre rules against a ``--rule-reference``-step trapezoid map, steps 2 … 64.

Defaults are the issue's configuration (8 photos, 16 ShapesBench images, reference 2,048,
8 seeds, n ≤ 256); make it smaller on a CPU, e.g.

    python -m benchmarks.bench_convergence --models mobilenet_v2-imagenet --photos 2 \
        --reference 256 --seeds 3 --max-n 64 --out benchmarks/results/convergence-mnv2.json
    python -m benchmarks.bench_convergence --merge a.json b.json  # one JSON and one plot
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

import faithcam
from faithcam.cams.estimators import ROLE_INPUT, ROLE_SAMPLE, Expected
from faithcam.cams.weightings import get_weighting
from faithcam.engine.capture import activations_at, capture
from faithcam.engine.layers import resolve_layer
from faithcam.engine.normalization import as_normalization
from faithcam.engine.targets import as_target
from faithcam.engine.validation import make_generator

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ["chelsea", "coffee", "astronaut", "rocket", "immunohistochemistry", "hubble_deep_field",
          "retina", "camera"]  # fmt: skip
PRETRAINED = {"mobilenet_v2-imagenet": "features", "efficientnet-lite0": "_bn1"}
SAMPLERS = ["random", "qmc", "antithetic", "sobol", "sobol-antithetic"]
RULES = ["left", "trapezoid", "gauss-legendre"]


def load_models(names: list[str], photos: int, shapes: int, size: int):
    """(name, model, layer, images (B, 3, S, S), normalization) of each model asked for."""
    from faithcam.data import ShapesBench, bundled_models
    from faithcam.data.models import load_shapes_model
    from faithcam.io.pretrained import load_pretrained, resize_center_crop, to_chw_float

    out = []
    for name in names:
        if name in PRETRAINED:
            from skimage import data

            pm = load_pretrained(name)
            mean, std = torch.tensor(pm.mean).view(3, 1, 1), torch.tensor(pm.std).view(3, 1, 1)
            images = []
            for photo in PHOTOS[:photos]:
                array = getattr(data, photo)()
                if array.ndim == 2:  # grey: three equal channels
                    array = np.stack([array] * 3, axis=-1)
                image = resize_center_crop(to_chw_float(array), size)
                images.append((image[:3] - mean) / std)
            out.append((name, pm.model, PRETRAINED[name], torch.stack(images), (pm.mean, pm.std)))
        elif name == "shapes":
            for arch, split in bundled_models():
                sm = load_shapes_model(arch, split)
                images = ShapesBench(split, shapes, seed=123).images
                out.append((f"shapes-{arch}-{split}", sm.model, sm.layer, images, None))
        else:
            raise SystemExit(f"--models: unknown {name!r}")
    return out


def per_sample_maps(
    model, layer, images, targets, sampler, n, seed, normalization, batch_size, options=None
):
    """(B, n, h, w): the per-sample maps ReLU(gradcam(A(x̃_r) − A(x'_r), G(x̃_r))) of
    Expected Grad-CAM with ``sampler`` (and ``options``: baseline, sigma), in row order (their
    mean is ``explain``'s map)."""
    estimator = Expected(samples=n, sampler=sampler, **(options or {}))
    estimator = estimator.bind(images, as_normalization(normalization))
    resolved = resolve_layer(model, layer, images)
    target = as_target(targets).bind(len(images), images.device)
    generator = make_generator(seed, None, images.device)
    gradcam = get_weighting("gradcam")
    rows: list[list[torch.Tensor]] = [[] for _ in images]
    for chunk in estimator.chunks(images, batch_size, generator):
        plan = chunk.plan
        result = capture(model, resolved, chunk.inputs, target, plan.image_index,
                         (plan.role == ROLE_INPUT).to(images.device))  # fmt: skip
        sample = (plan.role == ROLE_SAMPLE).nonzero().flatten().to(images.device)
        reference = activations_at(model, resolved, chunk.references[sample])
        delta = result.activations[sample] - reference
        maps = gradcam(delta, result.gradients[sample]).clamp(min=0)
        for image, m in zip(plan.image_index[sample].tolist(), maps, strict=True):
            rows[image].append(m)
    return torch.stack([torch.stack(r) for r in rows])


def samplers_study(model, layer, images, normalization, args, grid) -> dict:
    with torch.inference_mode():
        targets = model(images).argmax(1).tolist()
    reference = faithcam.explain(
        model, images, "expected-gradcam", layer=layer, targets=targets, samples=args.reference,
        seed=10**6, normalization=normalization, batch_size=args.batch_size,
        **estimator_options(args),
    ).raw_maps  # fmt: skip
    ref_norm = reference.flatten(1).norm(dim=1)
    squared = {s: np.zeros(len(grid)) for s in args.samplers}
    for sampler in args.samplers:
        for seed in range(args.seeds):
            maps = per_sample_maps(model, layer, images, targets, sampler, max(grid), seed,
                                   normalization, args.batch_size,
                                   estimator_options(args))  # fmt: skip
            prefix = maps.cumsum(1)
            for i, n in enumerate(grid):
                error = (prefix[:, n - 1] / n - reference).flatten(1).norm(dim=1) / ref_norm
                squared[sampler][i] += (error**2).mean().item() / args.seeds
    if "random" in squared:
        c = np.mean(squared["random"] / (1 / np.array(grid) + 1 / args.reference))
        ref_sq = c / args.reference
    else:
        ref_sq = 0.0
    return {
        "n": grid,
        "raw_rmse": {s: np.sqrt(v).tolist() for s, v in squared.items()},
        "rmse": {s: np.sqrt(np.maximum(v - ref_sq, 1e-12)).tolist() for s, v in squared.items()},
        "reference_rmse": math.sqrt(ref_sq),
        "targets": targets,
    }


def estimator_options(args) -> dict:
    """Expected Grad-CAM's baseline and σ when given (``--baseline``, ``--sigma``), else its
    defaults."""
    options = {"baseline": args.baseline, "sigma": args.sigma}
    return {k: v for k, v in options.items() if v is not None}


def samples_ratio(n: list[int], base: list[float], other: list[float], n_other=None) -> float:
    """Geometric mean over the base curve's points of n'/n, n' where ``other`` (at ``n_other``,
    default ``n``) reaches the base's error (log-log interpolation, its log-log fit outside its
    range)."""
    log_n, log_b, log_o = np.log(n), np.log(base), np.log(other)
    log_m = log_n if n_other is None else np.log(n_other)
    slope, intercept = np.polyfit(log_m, log_o, 1)
    ratios = []
    for x, target in zip(log_n, log_b, strict=True):
        order = np.argsort(log_o)
        if log_o.min() <= target <= log_o.max() and np.all(np.diff(log_o) < 0):
            x_other = np.interp(target, log_o[order], log_m[order])
        else:
            x_other = (target - intercept) / slope
        ratios.append(x_other - x)
    return float(np.exp(np.mean(ratios)))


def rules_study(model, layer, images, normalization, args) -> dict:
    with torch.inference_mode():
        targets = model(images).argmax(1).tolist()
    common = dict(layer=layer, targets=targets, normalization=normalization,
                  batch_size=args.batch_size)  # fmt: skip
    reference = faithcam.explain(model, images, "integrated-gradcam", steps=args.rule_reference,
                                 rule="trapezoid", **common).raw_maps  # fmt: skip
    ref_norm = reference.flatten(1).norm(dim=1)
    steps = [2**k for k in range(1, int(math.log2(args.rule_max_steps)) + 1)]
    errors = {}
    for rule in RULES:
        errors[rule] = []
        for m in steps:
            maps = faithcam.explain(model, images, "integrated-gradcam", steps=m, rule=rule,
                                    **common).raw_maps  # fmt: skip
            error = (maps - reference).flatten(1).norm(dim=1) / ref_norm
            errors[rule].append(error.mean().item())
    return {"steps": steps, "error": errors, "reference_steps": args.rule_reference}


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    models = list(results["samplers"])
    cols = min(3, len(models))
    rows = math.ceil(len(models) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, model in zip(axes.flat, models, strict=False):
        study = results["samplers"][model]
        for sampler in study["rmse"]:
            ratio = study.get("ratio", {}).get(sampler)
            label = sampler if ratio is None else f"{sampler} (×{ratio:.2f} samples)"
            ax.loglog(*reliable(study, sampler), marker="o", ms=3, label=label)
        ax.set_xticks(study["n"], [str(n) for n in study["n"]])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("samples n")
        ax.set_ylabel("relative L2 error")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(models) :]:
        ax.axis("off")
    fig.suptitle("Expected Grad-CAM: error vs samples (reference noise removed)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def reliable(study: dict, sampler: str) -> tuple[list[int], list[float]]:
    """The points of a curve not dominated by the reference's own noise: measured squared
    error > 2 × the reference's (beyond them the corrected error is mostly the correction)."""
    floor = 2 * study["reference_rmse"] ** 2
    points = [
        (n, e)
        for n, e, raw in zip(study["n"], study["rmse"][sampler], study["raw_rmse"][sampler],
                             strict=True)
        if raw**2 > floor
    ]  # fmt: skip
    return [n for n, _ in points], [e for _, e in points]


def add_ratios(results: dict) -> None:
    for study in results["samplers"].values():
        if "random" not in study["rmse"]:
            continue
        base = reliable(study, "random")
        study["ratio"] = {}
        for sampler in study["rmse"]:
            other = reliable(study, sampler)
            if sampler != "random" and len(other[0]) >= 2 and len(base[0]) >= 2:
                study["ratio"][sampler] = samples_ratio(base[0], base[1], other[1], other[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    models = ["mobilenet_v2-imagenet", "efficientnet-lite0", "shapes"]
    parser.add_argument("--models", nargs="+", default=models)
    parser.add_argument("--photos", type=int, default=8)
    parser.add_argument("--shapes", type=int, default=16, help="ShapesBench images")
    parser.add_argument("--size", type=int, default=224, help="photo size")
    parser.add_argument("--reference", type=int, default=2048)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--max-n", type=int, default=256)
    parser.add_argument("--samplers", nargs="+", default=SAMPLERS)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--baseline", help="Expected Grad-CAM's baseline (default: its own)")
    parser.add_argument("--sigma", type=float, help="Expected Grad-CAM's σ (default: its own)")
    parser.add_argument("--rule-models", nargs="*", default=["shapes"])
    parser.add_argument("--rule-reference", type=int, default=1024)
    parser.add_argument("--rule-max-steps", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/convergence.json"))
    parser.add_argument("--plot", default=str(ROOT / "docs/convergence.png"))
    parser.add_argument("--merge", nargs="+", help="merge these JSON files (no run)")
    args = parser.parse_args()
    if args.merge:
        results = {"samplers": {}, "rules": {}, "config": []}
        for name in args.merge:
            part = json.loads(Path(name).read_text())
            results["samplers"].update(part["samplers"])
            results["rules"].update(part["rules"])
            results["config"].append(part["config"])
    else:
        grid = [2**k for k in range(2, int(math.log2(args.max_n)) + 1)]
        results = {"samplers": {}, "rules": {}, "config": vars(args)}
        device = torch.device(args.device)
        for name, model, layer, images, norm in load_models(args.models, args.photos,
                                                            args.shapes, args.size):  # fmt: skip
            model, images = model.to(device), images.to(device)
            start = time.perf_counter()
            results["samplers"][name] = samplers_study(model, layer, images, norm, args, grid)
            print(f"{name}: samplers done in {time.perf_counter() - start:.0f} s", flush=True)
            family = "shapes" if name.startswith("shapes") else name
            if family in args.rule_models or name in args.rule_models:
                results["rules"][name] = rules_study(model, layer, images, norm, args)
    add_ratios(results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    plot(results, Path(args.plot))
    for model, study in results["samplers"].items():
        ratios = ", ".join(f"{s} ×{r:.2f}" for s, r in study.get("ratio", {}).items())
        print(f"{model}: samples needed at equal error vs random: {ratios}")
    for model, study in results["rules"].items():
        for rule, errors in study["error"].items():
            pairs = zip(study["steps"], errors, strict=True)
            print(f"{model} integrated {rule}: " + ", ".join(f"m={m}: {e:.2e}" for m, e in pairs))
    print(f"wrote {out} and {args.plot}")


if __name__ == "__main__":
    main()
