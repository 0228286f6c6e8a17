"""``tolerance=`` of Expected Grad-CAM: the share of maps within t of a reference, the samples
it used, and the share a fixed ``samples=n`` of the same sampler puts within t (the samples
"needed": the smallest n with ≥ 90 %).

Cases: ``closed-form`` (the model of tests/methods/test_sampling.py's coverage test, where the
expected map is known exactly; black baseline, σ = 0.1, 8 images, 8 seeds) and
``shapes-<arch>`` (the bundled ShapesBench model, clean, 8 images, D = the other images,
σ = 0, predicted classes, 4 seeds, against a ``--reference``-sample ``"sobol"`` map).

    python -m benchmarks.bench_tolerance --case closed-form --samplers random sobol qmc
    python -m benchmarks.bench_tolerance --case shapes-resnet --cap 512 --tolerances 0.1 0.05
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import faithcam

GRID = (8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)


def load(case: str, reference_samples: int):
    """(model, images, explain options, reference maps, seeds) of a case."""
    if case == "closed-form":
        from tests.methods.test_sampling import IdentityLayerLinearHead, closed_form_expected_map

        images = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 0.5
        options = dict(layer="features", targets=0, baseline="black", sigma=0.1, batch_size=256)
        return (
            IdentityLayerLinearHead().eval(),
            images,
            options,
            closed_form_expected_map(images, 0.1).float(),
            8,
        )
    from faithcam.data import ShapesBench
    from faithcam.data.models import load_shapes_model

    sm = load_shapes_model(case.removeprefix("shapes-"), "clean")
    images = ShapesBench("clean", 8, seed=123).images
    with torch.inference_mode():
        targets = sm.model(images).argmax(1).tolist()
    options = dict(layer=sm.layer, targets=targets, baseline="others", sigma=0.0, batch_size=64)
    kw = dict(sampler="sobol", samples=reference_samples, seed=10**6, **options)
    reference = faithcam.explain(sm.model, images, "expected-gradcam", **kw).raw_maps
    return sm.model, images, options, reference, 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="closed-form")
    parser.add_argument("--samplers", nargs="+", default=["qmc"])
    parser.add_argument("--tolerances", nargs="+", type=float, default=[0.1, 0.05])
    parser.add_argument("--cap", type=int, default=1024)
    parser.add_argument("--reference", type=int, default=4096)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    model, images, options, reference, seeds = load(args.case, args.reference)
    norm = reference.flatten(1).norm(dim=1)

    def errors(sampler: str, seed: int, **kw) -> tuple[torch.Tensor, list[int] | None]:
        result = faithcam.explain(model, images, "expected-gradcam", sampler=sampler, seed=seed,
                                  **options, **kw)  # fmt: skip
        error = (result.raw_maps.to(reference) - reference).flatten(1).norm(dim=1) / norm
        return error, result.settings.get("samples_used")

    for sampler in args.samplers:
        for t in args.tolerances:
            runs = [errors(sampler, s, samples=args.cap, tolerance=t) for s in range(seeds)]
            within = torch.cat([e for e, _ in runs]).le(t).float().mean().item()
            used = [u for _, run in runs for u in run]
            needed = None
            for n in (g for g in GRID if g <= args.cap):
                fixed = torch.cat([errors(sampler, 100 + s, samples=n)[0] for s in range(seeds)])
                if fixed.le(t).float().mean() >= 0.9:
                    needed = n
                    break
            print(f"{args.case} {sampler} t={t}: {within:.0%} within t, samples used median "
                  f"{np.median(used):.0f} ({min(used)}–{max(used)}), needed at fixed n: {needed}; "
                  f"{time.perf_counter() - start:.0f} s", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
