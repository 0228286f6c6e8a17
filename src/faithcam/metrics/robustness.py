"""Robustness and infidelity (Yeh et al., "On the (in)fidelity and sensitivity of explanations",
NeurIPS 2019)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from faithcam.engine.defaults import BATCH_SIZE
from faithcam.engine.deprecation import renamed_keywords
from faithcam.errors import FaithcamTypeError, FaithcamValueError
from faithcam.metrics._common import (
    ArrayLike,
    MetricResult,
    check_images,
    check_maps,
    check_model,
    check_positive_int,
    chunks,
    random_generator,
)
from faithcam.metrics.scoring import (
    MetricTarget,
    Score,
    Targets,
    forward,
    metric_target,
    scores_of,
)

__all__ = ["infidelity", "max_sensitivity"]

ExplainFn = Callable[[Tensor, Tensor], Tensor]


def _sample_groups(samples: int, batch: int, batch_size: int) -> list[range]:
    """Sample indices in groups of about ``batch_size`` images (at least one sample each)."""
    per_group = max(1, batch_size // batch)
    return [range(s, min(s + per_group, samples)) for s in range(0, samples, per_group)]


def _draw(sampler: Callable[..., Tensor], images: Tensor, gen: torch.Generator) -> Tensor:
    """One noise sample shaped like ``images``: drawn sample by sample, so the values do not
    depend on ``batch_size``."""
    return sampler(images.shape, generator=gen, device=images.device, dtype=images.dtype)


def _explain_in_chunks(
    explain_fn: ExplainFn, inputs: Tensor, target: MetricTarget, rows: Tensor, batch_size: int
) -> Tensor:
    """``explain_fn`` on ``inputs`` (row r an image of ``rows[r]``), ``batch_size`` at a time."""
    maps = []
    for sl in chunks(inputs.shape[0], batch_size):
        out = explain_fn(inputs[sl], target.explained(rows[sl]))
        maps.append(check_maps(out, inputs[sl], name="explain_fn output"))
    return torch.cat(maps)


def _target(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    targets: Targets,
    score: Score | None,
    batch_size: int,
    metric: str,
) -> MetricTarget:
    """The metric's target; the default score is the logit (see :func:`infidelity`)."""
    return metric_target(
        targets, images, lambda: forward(model, images, batch_size),
        score=score, default="logit", metric=metric,
    )  # fmt: skip


@renamed_keywords(n_samples="samples", normalise="relative")
def max_sensitivity(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    maps: ArrayLike | None,
    targets: Targets,
    explain_fn: ExplainFn,
    *,
    radius: float = 0.2,
    samples: int = 10,
    relative: bool = True,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    batch_size: int = BATCH_SIZE,
) -> MetricResult:
    """Max-sensitivity (Yeh et al., NeurIPS 2019), Monte-Carlo estimate. Lower is better.

    ``SENS_max = max_{‖δ‖_∞ ≤ r} ‖Φ(x + δ) − Φ(x)‖_F / ‖Φ(x)‖_F``, the maximum over
    ``samples`` draws of δ ~ U[−r, r]^{C×H×W} (``radius`` r in input units), with
    Φ = ``explain_fn(images, targets)`` and the target fixed to the one of the clean image.
    ``relative=False`` drops the denominator (the paper's unnormalized form); the default divides
    by ‖Φ(x)‖ as Quantus' ``MaxSensitivity`` does, so both agree on the same explanation
    function. ``maps=None`` computes Φ(x) with ``explain_fn``. Perturbed inputs are explained
    ``batch_size`` at a time; ``explain_fn`` receives the class ids of its rows (or, for a
    Target object, a Target of that kind); ``model`` only resolves ``targets=None`` to the
    predicted class. Random draws: ``generator``, else ``seed``.
    """
    if not callable(explain_fn):
        raise FaithcamTypeError("explain_fn must be a callable (images, targets) -> maps")
    if not float(radius) > 0:
        raise FaithcamValueError(f"radius must be > 0, got {radius!r}")
    check_model(model)
    images = check_images(images)
    samples = check_positive_int(samples, "samples")
    batch_size = check_positive_int(batch_size, "batch_size")
    target = _target(model, images, targets, None, batch_size, "max_sensitivity")
    b = images.shape[0]
    rows = torch.arange(b)
    if maps is None:
        maps = _explain_in_chunks(explain_fn, images, target, rows, batch_size)
    maps = check_maps(maps, images)
    gen = random_generator(seed, generator, images.device, "max_sensitivity")
    flat_maps = maps.reshape(1, b, -1).double()
    diffs = []
    for group in _sample_groups(samples, b, batch_size):
        noise = torch.stack([_draw(torch.rand, images, gen) for _ in group])
        noisy = (images[None] + (2 * noise - 1) * radius).flatten(0, 1)
        rows_of = rows.repeat(len(group))
        perturbed = _explain_in_chunks(explain_fn, noisy, target, rows_of, batch_size)
        diffs.append((perturbed.view(len(group), b, -1).double() - flat_maps).norm(dim=2))
    diffs = torch.cat(diffs)
    if relative:
        diffs = diffs / flat_maps.norm(dim=2)
    values = diffs.max(dim=0).values.cpu()
    return MetricResult("max_sensitivity", values, {"samples": diffs.cpu()}, (0.0, math.inf))


def _perturbations(perturbations: Tensor | None, samples: int, images: Tensor) -> int:
    """The number of perturbation samples: ``samples``, or the S of given (S, B, C, H, W)."""
    if perturbations is None:
        return check_positive_int(samples, "samples")
    if (
        not isinstance(perturbations, Tensor)
        or perturbations.ndim != 5
        or tuple(perturbations.shape[1:]) != tuple(images.shape)
    ):
        got = tuple(perturbations.shape) if isinstance(perturbations, Tensor) else perturbations
        raise FaithcamValueError(
            f"perturbations must be a tensor (S, B, C, H, W) with (B, C, H, W) = "
            f"{tuple(images.shape)}, got {got}"
        )
    return perturbations.shape[0]


@renamed_keywords(n_samples="samples")
def infidelity(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    maps: ArrayLike,
    targets: Targets = None,
    *,
    sigma: float = 0.1,
    samples: int = 64,
    perturbations: Tensor | None = None,
    optimal_scaling: bool = True,
    score: Score | None = None,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    batch_size: int = BATCH_SIZE,
) -> MetricResult:
    """Explanation infidelity (Yeh et al., NeurIPS 2019). Lower is better.

    ``INFD(Φ, f, x) = E_I[(I·Φ − (f(x) − f(x − I)))²]`` with ``I·Φ = Σ_{c,i,j} I_cij Φ_ij`` (the
    map broadcast over channels) and I ~ N(0, σ²) per input value, ``samples`` draws.
    ``perturbations`` (S, B, C, H, W) replaces the Gaussian draws with given ones (x̃ = x − I).

    ``optimal_scaling=True`` (default) makes the measure invariant to the map's scale, as in
    Yeh et al. §4 and captum's ``infidelity(normalize=True)``: Φ is multiplied by
    ``β* = E[I·Φ · Δf] / E[(I·Φ)²]``, the minimiser of the expectation, so the value is
    ``E[(β* I·Φ − Δf)²]``. ``optimal_scaling=False`` gives the plain MSE, which is what Quantus'
    ``Infidelity`` computes (with its own cumulative patch perturbations). ``score``: f is the
    target logit by default, as in Yeh et al. and captum (the model's output before the
    softmax, the score a gradient explanation is first-order in); ``"probability"`` for the
    softmax probability. Random draws: ``generator``, else ``seed``. Values are >= 0.
    """
    if not float(sigma) > 0:
        raise FaithcamValueError(f"sigma must be > 0, got {sigma!r}")
    check_model(model)
    images = check_images(images)
    maps = check_maps(maps, images)
    batch_size = check_positive_int(batch_size, "batch_size")
    b = images.shape[0]
    samples = _perturbations(perturbations, samples, images)
    if perturbations is None:
        gen = random_generator(seed, generator, images.device, "infidelity")
    target = _target(model, images, targets, score, batch_size, "infidelity")
    rows = torch.arange(b, device=images.device)
    clean = scores_of(model, images, target, rows, batch_size).double()
    delta_f, dot = [], []
    for group in _sample_groups(samples, b, batch_size):
        if perturbations is None:
            pert = sigma * torch.stack([_draw(torch.randn, images, gen) for _ in group])
        else:
            pert = perturbations[group.start : group.stop].to(images)
        inputs = (images[None] - pert).flatten(0, 1)
        noisy = scores_of(model, inputs, target, rows.repeat(len(group)), batch_size)
        delta_f.append((clean[None] - noisy.double().view(len(group), b)).cpu())
        dot.append((pert * maps[None, :, None]).sum(dim=(2, 3, 4)).double().cpu())
    delta_f, dot = torch.cat(delta_f), torch.cat(dot)  # (S, B) each
    if optimal_scaling:
        beta = (dot * delta_f).mean(0) / (dot**2).mean(0).clamp_min(1e-300)
        dot = beta[None] * dot
    values = ((dot - delta_f) ** 2).mean(0)
    return MetricResult("infidelity", values, {"delta_f": delta_f, "dot": dot}, (0.0, math.inf))
