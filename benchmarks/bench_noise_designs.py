"""Sampling designs for Expected Grad-CAM with a uniform-noise baseline (issue 28's hard case),
including designs the library does not offer, on per-sample maps computed here.

Case: torchvision ResNet-18 with random weights (``torch.manual_seed(0)``), ``layer2``, four
skimage photos at 64 px (``benchmarks.bench_samplers.load_case("resnet18-random")``), targets
1–4, baseline x' = min + (max − min) u per image, σ = ``--sigma`` (kernel noise ε = σ · range ·
z), the paper variant with Grad-CAM weighting: per-sample map ReLU(Σ_k ΔA^k GAP(∂y/∂A^k)).

Designs (``--designs``; every one keeps each row's i.i.d. marginal, so all are unbiased):

- ``iid``; ``sobol`` (the library's: scrambled Sobol' α, i.i.d. pixels); ``qmc`` (the library's:
  Sobol' α, a Latin hypercube over every pixel of u and of z);
- ``antithetic``: Sobol' α, pairs (u, 1 − u) and (z, −z);
- ``fullsobol``: one scrambled Sobol' point (scipy, 1 + 12,288 dimensions) gives α and every
  pixel of u; z from a second scrambled Sobol' sequence through Φ⁻¹;
- ``latent<d>``: u = Φ(z'), z' an orthonormal transform (colour-opponent basis, then the 2-D
  inverse DCT) of i.i.d. normal coefficients, so u stays i.i.d. uniform; the d lowest-frequency
  coefficients of u (and of ε) and α come from one scrambled Sobol' point, the rest i.i.d.:
  Sobol' over the noise's low frequencies.

Modes: ``reference`` (``--reference`` i.i.d. per-sample maps per image, saved with their α:
diagnostics of the tails, the α main effect and the i.i.d. error at any n, v/n),
``designs`` (each design at ``--n`` over ``--seeds`` independent runs: the error is the
square root of the trace of the runs' covariance / ‖M_ref‖², no reference needed; RMS over the
images), ``control-variates`` (held-out fraction of the variance left by a per-pixel regression
of the per-sample maps on features of α and u with known means).

    python -m benchmarks.bench_noise_designs reference --sigma 0.05
    python -m benchmarks.bench_noise_designs designs --sigma 0.05 --designs iid sobol qmc
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import scipy.fft
import scipy.stats
import torch
from scipy.stats import qmc

from benchmarks.bench_samplers import load_case
from faithcam.cams.baselines import value_range
from faithcam.cams.weightings import get_weighting
from faithcam.engine.capture import activations_at, capture
from faithcam.engine.layers import resolve_layer
from faithcam.engine.targets import as_target

ROOT = Path(__file__).resolve().parent.parent
COLOUR = np.array([[1, 1, 1], [1, -1, 0], [1, 1, -2]], dtype=float)
COLOUR /= np.linalg.norm(COLOUR, axis=1, keepdims=True)  # orthonormal rows


class Case:
    """The model, layer, images and targets of the case, and its per-sample maps."""

    def __init__(self) -> None:
        self.model, layer, self.images, options = load_case("resnet18-random", 4, 64)
        self.layer = resolve_layer(self.model, layer, self.images)
        self.target = as_target(options["targets"]).bind(len(self.images), self.images.device)
        self.gradcam = get_weighting("gradcam")
        self.shape = tuple(self.images.shape[1:])
        flat = self.images.flatten(1)
        self.low, self.high = flat.amin(1), flat.amax(1)
        self.range = value_range(self.images).flatten()

    def maps(self, b: int, alpha, u, z, sigma: float, batch: int = 64) -> torch.Tensor:
        """(n, h, w) per-sample maps of image b for path positions α, baseline uniforms u and
        kernel-noise normals z (each (n, C, H, W))."""
        x, out = self.images[b : b + 1], []
        for s in range(0, len(alpha), batch):
            a = torch.as_tensor(alpha[s : s + batch], dtype=torch.float32).view(-1, 1, 1, 1)
            uniforms = torch.as_tensor(u[s : s + batch], dtype=torch.float32)
            baseline = self.low[b] + (self.high[b] - self.low[b]) * uniforms
            inputs = baseline + a * (x - baseline)
            if sigma > 0:
                normals = torch.as_tensor(z[s : s + batch], dtype=torch.float32)
                inputs = inputs + normals * (sigma * self.range[b])
            k = len(a)
            result = capture(self.model, self.layer, inputs, self.target, torch.full((k,), b),
                             torch.zeros(k, dtype=torch.bool))  # fmt: skip
            delta = result.activations - activations_at(self.model, self.layer, baseline)
            out.append(self.gradcam(delta, result.gradients).clamp(min=0))
        return torch.cat(out)


def latent_order(shape: tuple, d: int) -> np.ndarray:
    """Flat indices (opponent channel, i, j) of the d lowest 2-D DCT frequencies."""
    c, h, w = shape
    keys = sorted((i + j, max(i, j), k, i, j) for k in range(c) for i in range(h) for j in range(w))
    return np.array([np.ravel_multi_index(key[2:], shape) for key in keys[:d]])


def latent_to_pixels(coefficients: np.ndarray, shape: tuple) -> np.ndarray:
    """(n, P) orthonormal coefficients → (n, C, H, W): inverse 2-D DCT per opponent channel,
    then the orthonormal colour transform; i.i.d. N(0, 1) in, i.i.d. N(0, 1) out."""
    spatial = scipy.fft.idctn(coefficients.reshape(-1, *shape), axes=(-2, -1), norm="ortho")
    return np.einsum("kc,nkhw->nchw", COLOUR, spatial)


def design(name: str, n: int, seed: int, sigma: float, shape: tuple):
    """(α (n,), u (n, *shape), z (n, *shape)) of one run of design ``name``."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    if name == "iid":
        return rng.random(n), rng.random((n, *shape)), rng.standard_normal((n, *shape))
    if name == "fullsobol":
        points = qmc.Sobol(1 + size, seed=rng).random(n)
        z = np.zeros((n, *shape))
        if sigma > 0:
            z = scipy.stats.norm.ppf(qmc.Sobol(size, seed=rng).random(n)).reshape(n, *shape)
        return points[:, 0], points[:, 1:].reshape(n, *shape), z
    if name.startswith("latent"):
        d = int(name.removeprefix("latent"))
        points = qmc.Sobol(1 + d + (d if sigma > 0 else 0), seed=rng).random(n)
        order = latent_order(shape, d)
        baseline = rng.standard_normal((n, size))
        baseline[:, order] = scipy.stats.norm.ppf(points[:, 1 : 1 + d])
        noise = rng.standard_normal((n, size))
        if sigma > 0:
            noise[:, order] = scipy.stats.norm.ppf(points[:, 1 + d :])
        u = scipy.stats.norm.cdf(latent_to_pixels(baseline, shape))
        return points[:, 0], u, latent_to_pixels(noise, shape)
    alpha = qmc.Sobol(1, seed=rng).random(n)[:, 0]
    if name == "sobol":
        return alpha, rng.random((n, *shape)), rng.standard_normal((n, *shape))
    if name == "qmc":

        def hypercube():
            strata = np.argsort(rng.random((n, size)), axis=0)
            return ((strata + rng.random((n, size))) / n).reshape(n, *shape)

        return alpha, hypercube(), scipy.stats.norm.ppf(hypercube())
    if name == "antithetic":
        u, z = rng.random((n // 2, *shape)), rng.standard_normal((n // 2, *shape))
        return alpha, np.concatenate([u, 1 - u]), np.concatenate([z, -z])
    raise SystemExit(f"--designs: unknown {name!r}")


def reference_path(args) -> Path:
    return Path(args.dir) / f"noise_reference_sigma{args.sigma}_{args.reference}.pt"


def make_reference(case: Case, args) -> None:
    """``--reference`` i.i.d. per-sample maps per image, with their α (seed 10⁶ + image)."""
    out = {}
    for b in range(len(case.images)):
        rng = np.random.default_rng(10**6 + b)
        alpha = rng.random(args.reference)
        u = rng.random((args.reference, *case.shape)).astype(np.float32)
        z = rng.standard_normal((args.reference, *case.shape)).astype(np.float32)
        out[b] = (torch.as_tensor(alpha), case.maps(b, alpha, u, z, args.sigma))
    torch.save(out, reference_path(args))
    print(json.dumps(diagnose(out), indent=1))


def diagnose(reference: dict) -> dict:
    """Per image: ‖M‖, the relative per-sample sd, the i.i.d. error at n = 16 and 32 (v/n), the
    reference's own relative standard error, the share of the variance in the top 1 % and 10 %
    of rows, the α main effect (16 bins), the share by α quartile, the all-zero maps."""
    out = []
    for alpha, maps in reference.values():
        m = maps.double()
        count, mean = len(m), m.mean(0)
        norm2 = (mean**2).sum().item()
        deviation = ((m - mean) ** 2).flatten(1).sum(1)
        v = deviation.sum().item() / (count - 1)
        top = deviation.sort(descending=True).values
        bins = (alpha * 16).long().clamp(max=15)
        main = sum(((bins == k).sum() * ((m[bins == k].mean(0) - mean) ** 2).sum()).item()
                   for k in range(16) if (bins == k).any()) / count  # fmt: skip
        quartile = (alpha * 4).long().clamp(max=3)
        shares = [(deviation[quartile == k].sum() / deviation.sum()).item() for k in range(4)]
        out.append(
            {
                "norm": norm2**0.5,
                "relative_sd": (v / norm2) ** 0.5,
                "iid_error": {n: (v / norm2 / n) ** 0.5 for n in (16, 32)},
                "reference_error": (v / norm2 / count) ** 0.5,
                "top_1_percent": (top[: count // 100].sum() / top.sum()).item(),
                "top_10_percent": (top[: count // 10].sum() / top.sum()).item(),
                "alpha_main_effect": main / v,
                "share_by_alpha_quartile": shares,
                "all_zero_maps": (m.flatten(1).amax(1) == 0).double().mean().item(),
            }
        )
    return {"images": out}


def run_designs(case: Case, args) -> dict:
    """Each design's relative error at each n from the spread of its independent runs."""
    reference = torch.load(reference_path(args))
    means = torch.stack([m.double().mean(0) for _, m in reference.values()])
    norm2 = means.flatten(1).pow(2).sum(1)
    iid = diagnose(reference)["images"]
    rms = {n: float(np.sqrt(np.mean([i["iid_error"][n] ** 2 for i in iid]))) for n in (16, 32)}
    results: dict = {"iid_from_reference": rms}
    print(results, flush=True)
    for name in args.designs:
        for n in args.n:
            start = time.perf_counter()
            runs = torch.stack([
                torch.stack([case.maps(b, *design(name, n, 1000 * s + 17 * b + 7, args.sigma,
                                                  case.shape), args.sigma).mean(0)
                             for b in range(len(case.images))])
                for s in range(args.seeds)
            ]).double()  # fmt: skip
            spread = runs.var(0).flatten(1).sum(1) / norm2
            results[f"{name} n={n}"] = {
                "error": spread.mean().sqrt().item(),
                "per_image": spread.sqrt().tolist(),
                "seconds": time.perf_counter() - start,
            }
            print(name, n, results[f"{name} n={n}"], flush=True)
    return results


def control_variates(case: Case, args) -> dict:
    """Held-out residual variance fraction of per-pixel least squares on α features and
    features of u (fit on the first half of the reference rows, tested on the second)."""
    reference = torch.load(reference_path(args))
    out = {}
    for b, (alpha, maps) in reference.items():
        count = len(alpha)
        rng = np.random.default_rng(10**6 + b)
        rng.random(count)
        u = rng.random((count, *case.shape)).astype(np.float32)
        y = maps.double().flatten(1).numpy()
        a = alpha.numpy()[:, None]
        powers = np.hstack([a, a**2, a**3])
        blocks = u.reshape(count, 3, 8, 8, 8, 8).mean((3, 5)).reshape(count, -1)
        features = {
            "alpha, alpha^2, alpha^3": powers,
            "+ channel means of u": np.hstack([powers, u.mean((2, 3))]),
            "+ 8x8 block means of u": np.hstack([powers, blocks]),
        }
        half = count // 2
        left = {}
        for label, f in features.items():
            f = np.hstack([np.ones((count, 1)), f])
            beta, *_ = np.linalg.lstsq(f[:half], y[:half], rcond=None)
            residual = ((y[half:] - f[half:] @ beta) ** 2).sum(1).mean()
            left[label] = residual / ((y[half:] - y[:half].mean(0)) ** 2).sum(1).mean()
        out[b] = left
        print(b, left, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["reference", "designs", "control-variates"])
    parser.add_argument("--sigma", type=float, default=0.05)
    parser.add_argument("--reference", type=int, default=2048)
    parser.add_argument("--designs", nargs="+", default=["iid", "sobol", "qmc"])
    parser.add_argument("--n", nargs="+", type=int, default=[16])
    parser.add_argument("--seeds", type=int, default=32)
    parser.add_argument("--dir", default=str(ROOT / "benchmarks/results"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    case = Case()
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    if args.mode == "reference":
        make_reference(case, args)
        return
    results = run_designs(case, args) if args.mode == "designs" else control_variates(case, args)
    out = Path(args.dir) / f"noise_{args.mode}_sigma{args.sigma}.json"
    out.write_text(json.dumps({"config": vars(args), "results": results}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
