"""Gradient estimators: where the gradient of the target score at the layer is measured.

An estimator expands each image into *sample rows* (the input itself, path points, noisy or
re-based copies), which the capture engine runs in chunks of ``batch_size`` (memory is bounded
by ``batch_size``, not by the number of samples), and reduces them to one pair (A, G) per image:
A the activations the weighting multiplies (those of the input, or their difference to the
baseline's), G the estimated gradient Σ_r w_r ∂y^c/∂A(row r).

Each row is ``x'_r + α_r (x − x'_r) + ε_r`` with a row weight w_r and a role (the unmodified
input, the baseline, or a sample):

- vanilla:    the input alone (α = 1, w = 1).
- integrated: Integrated Grad-CAM (Sattarzadeh et al., ICASSP 2021): α_j = j/m, j = 1..m,
  x' fixed (black by default), w = 1/m (right Riemann sum of the path integral of the gradient).
  ``variant="released"`` follows the authors' released code instead: α_i = i/m, i = 0..m−1, and
  the per-sample maps ReLU(weighting(A(x_i), G(x_i))) are summed.
- expected:   Expected Grad-CAM (Buono et al., 2024): x'_r ~ D (a baseline distribution),
  α_r ~ U(0, 1), ε_r ~ N(0, σ²) kernel smoothing, w = 1/n: the Monte-Carlo estimate of the
  smoothed expectation of perturbed integrated gradients.
- smooth:     SmoothGrad-CAM++ (Omeiza et al., 2019): α = 1, ε ~ N(0, σ²), w = 1/n.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from faithcam.cams.baselines import Baseline, Black, UniformNoise, as_baseline, gaussian_noise
from faithcam.engine.capture import capture
from faithcam.engine.layers import ResolvedLayer
from faithcam.engine.targets import BoundTarget, OutputSelector
from faithcam.errors import FaithcamTypeError, FaithcamValueError

ROLE_SAMPLE, ROLE_INPUT, ROLE_BASELINE = 0, 1, 2
MapFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class RowPlan:
    """Per-row metadata of all sample rows, image-major (an image's input row first)."""

    image_index: torch.Tensor  # (N,) long
    alpha: torch.Tensor  # (N,) path position, 1 = the input
    weight: torch.Tensor  # (N,) weight of the row's gradient (or map) in the estimate
    role: torch.Tensor  # (N,) ROLE_*

    def __len__(self) -> int:
        return len(self.image_index)


@dataclass
class Estimate:
    """One (A, G) pair per image, the target scores at the input, and optionally summed maps."""

    activations: torch.Tensor  # (B, K, h, w)
    gradients: torch.Tensor  # (B, K, h, w)
    scores: torch.Tensor  # (B,)
    maps: torch.Tensor | None = None  # (B, h, w) when the estimator sums per-sample maps


class Estimator:
    """Base gradient estimator; subclasses define the rows."""

    name: str = ""
    baseline: Baseline | None = None
    noise: float = 0.0  # kernel-smoothing σ, a fraction of each image's value range
    relative_activations: bool = False
    per_sample_maps: bool = False

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.settings().items() if k != "estimator")
        return f"{type(self).__name__}({fields})"

    def plan(self, n_images: int, generator: torch.Generator | None) -> RowPlan:
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        """The estimator's parameters, for CamResult.settings."""
        return {"estimator": self.name}

    def validate(self, images: torch.Tensor) -> None:
        if self.baseline is not None:
            self.baseline.validate(images)

    def rows(
        self,
        images: torch.Tensor,
        plan: RowPlan,
        batch_size: int,
        generator: torch.Generator | None,
    ) -> Iterator[tuple[slice, torch.Tensor]]:
        """Yield (row slice, sample inputs) chunks of at most ``batch_size`` rows."""
        fixed = self._fixed_baselines(images, generator)
        for start in range(0, len(plan), batch_size):
            rows = slice(start, min(start + batch_size, len(plan)))
            index = plan.image_index[rows]
            x = images[index]
            alpha = plan.alpha[rows].to(x.dtype).view(-1, 1, 1, 1)
            if fixed is not None:
                x = fixed[index] + alpha * (x - fixed[index])
            elif self.baseline is not None:
                base = self.baseline(x, index, generator)
                x = base + alpha * (x - base)
            if self.noise > 0:
                is_sample = (plan.role[rows] == ROLE_SAMPLE).to(x.dtype).view(-1, 1, 1, 1)
                x = x + is_sample * gaussian_noise(x, self.noise, generator)
            yield rows, x

    def _fixed_baselines(
        self, images: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor | None:
        """One baseline per image, shared by its rows (path estimators); None otherwise."""
        return None

    def estimate(
        self,
        model: nn.Module,
        layer: ResolvedLayer,
        images: torch.Tensor,
        target: BoundTarget,
        *,
        batch_size: int,
        generator: torch.Generator | None = None,
        output_selector: OutputSelector = None,
        map_fn: MapFn | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Estimate:
        """Run every sample row through the capture engine and reduce to (A, G) per image."""
        plan = self.plan(len(images), generator)
        plan.image_index = plan.image_index.to(images.device)
        acc = _Accumulator(len(images))
        for rows, inputs in self.rows(images, plan, batch_size, generator):
            index = plan.image_index[rows]
            role = plan.role[rows].to(images.device)
            result = capture(
                model,
                layer,
                inputs,
                target,
                index,
                role == ROLE_INPUT,
                output_selector=output_selector,
            )
            weight = plan.weight[rows].to(result.gradients.device, result.gradients.dtype)
            acc.add(index, role, weight, result.activations, result.gradients, result.scores)
            if self.per_sample_maps:
                if map_fn is None:
                    raise FaithcamValueError("this estimator needs a map function")
                acc.add_maps(index, weight, map_fn(result.activations, result.gradients))
            if progress is not None:
                progress(len(index))
        return acc.finish(self.relative_activations)


class _Accumulator:
    """Running sums of the estimate, so that memory stays O(images), not O(samples)."""

    def __init__(self, n_images: int) -> None:
        self.n_images = n_images
        self.gradients: torch.Tensor | None = None
        self.input_activations: torch.Tensor | None = None
        self.baseline_activations: torch.Tensor | None = None
        self.scores: torch.Tensor | None = None
        self.maps: torch.Tensor | None = None

    def _buffer(self, like: torch.Tensor) -> torch.Tensor:
        return like.new_zeros((self.n_images, *like.shape[1:]))

    def add(self, index, role, weight, activations, gradients, scores) -> None:
        if self.gradients is None:
            self.gradients = self._buffer(gradients)
            self.input_activations = self._buffer(activations)
            self.scores = scores.new_zeros(self.n_images)
        self.gradients.index_add_(0, index, gradients * weight.view(-1, 1, 1, 1))
        is_input = role == ROLE_INPUT
        self.input_activations[index[is_input]] = activations[is_input]
        self.scores[index[is_input]] = scores[is_input]
        is_baseline = role == ROLE_BASELINE
        if is_baseline.any():
            if self.baseline_activations is None:
                self.baseline_activations = self._buffer(activations)
            self.baseline_activations[index[is_baseline]] = activations[is_baseline]

    def add_maps(self, index, weight, maps) -> None:
        if self.maps is None:
            self.maps = self._buffer(maps)
        self.maps.index_add_(0, index, maps.clamp(min=0) * weight.view(-1, 1, 1))

    def finish(self, relative_activations: bool) -> Estimate:
        activations = self.input_activations
        if relative_activations:
            activations = activations - self.baseline_activations
        return Estimate(activations, self.gradients, self.scores, self.maps)


def _image_major(n_images: int, alphas: torch.Tensor, weights: torch.Tensor, roles: torch.Tensor):
    """Repeat per-image row patterns (or take per-row (B, R) tensors) into a flat RowPlan."""
    per_image = alphas.shape[-1]
    index = torch.arange(n_images).repeat_interleave(per_image)
    return RowPlan(
        index,
        alphas.expand(n_images, per_image).reshape(-1).float(),
        weights.expand(n_images, per_image).reshape(-1).float(),
        roles.expand(n_images, per_image).reshape(-1),
    )


class Vanilla(Estimator):
    """The gradient at the input itself (Grad-CAM and its family)."""

    def __init__(self) -> None:
        self.name = "vanilla"

    def plan(self, n_images, generator):
        one = torch.ones(1)
        return _image_major(n_images, one, one, torch.tensor([ROLE_INPUT]))


def _check_count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaithcamTypeError(f"{name}: expected an int >= 1, got {value!r}")
    if value < 1:
        raise FaithcamValueError(f"{name}: must be >= 1, got {value}")
    return value


def _check_sigma(name: str, value: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise FaithcamTypeError(f"{name}: expected a number >= 0, got {value!r}")
    if not value >= 0:
        raise FaithcamValueError(f"{name}: must be >= 0, got {value}")
    return float(value)


class Integrated(Estimator):
    """Integrated Grad-CAM's path integral of the gradient (Sattarzadeh et al., ICASSP 2021).

    G = (1/m) Σ_{j=1}^{m} ∂y^c/∂A (x' + (j/m)(x − x')), A = A(x) (or A(x) − A(x') with
    ``relative_activations=True``). With m = 1 this is the vanilla gradient.
    ``variant="released"``: the authors' public code, Σ_{i=0}^{m−1} ReLU(map(A(x_i), G(x_i)))
    with x_i = x' + (i/m)(x − x').
    """

    def __init__(
        self,
        steps: int = 32,
        baseline: Baseline | str | torch.Tensor | None = None,
        relative_activations: bool = False,
        variant: str = "paper",
    ) -> None:
        self.name = "integrated"
        self.steps = _check_count("steps", steps)
        self.baseline = as_baseline(baseline, Black())
        if self.baseline.stochastic:
            raise FaithcamValueError(
                f"baseline: integrated needs a deterministic baseline, got {self.baseline!r}; "
                "use estimator='expected' for baseline distributions"
            )
        if variant not in ("paper", "released"):
            raise FaithcamValueError(f"variant: expected 'paper' or 'released', got {variant!r}")
        self.variant = variant
        self.relative_activations = bool(relative_activations)
        self.per_sample_maps = variant == "released"

    def settings(self):
        return {
            "estimator": self.name,
            "steps": self.steps,
            "baseline": repr(self.baseline),
            "relative_activations": self.relative_activations,
            "variant": self.variant,
        }

    def _fixed_baselines(self, images, generator):
        return self.baseline(images, torch.arange(len(images), device=images.device), generator)

    def plan(self, n_images, generator):
        m = self.steps
        if self.variant == "released":
            # The input row (weight 0) only provides scores and A(x); maps come from i = 0..m-1.
            alphas = torch.cat([torch.ones(1), torch.arange(m) / m])
            weights = torch.cat([torch.zeros(1), torch.ones(m)])
        else:
            # j = m (the input) first, then j = 1..m-1: right Riemann sum.
            alphas = torch.cat([torch.ones(1), torch.arange(1, m) / m])
            weights = torch.full((m,), 1.0 / m)
        roles = torch.full((len(alphas),), ROLE_SAMPLE)
        roles[0] = ROLE_INPUT
        if self.relative_activations:
            alphas = torch.cat([alphas, torch.zeros(1)])
            weights = torch.cat([weights, torch.zeros(1)])
            roles = torch.cat([roles, torch.tensor([ROLE_BASELINE])])
        return _image_major(n_images, alphas, weights, roles)


class Expected(Estimator):
    """Expected Grad-CAM's gradient (Buono et al., 2024): the smoothed expectation of
    perturbed integrated gradients, by Monte Carlo with n samples:

    G = (1/n) Σ_r ∂y^c/∂A (x'_r + α_r (x − x'_r) + ε_r),  x'_r ~ D, α_r ~ U(0,1),
    ε_r ~ N(0, (σ · range(x))²);  A = A(x).
    """

    def __init__(
        self,
        samples: int = 32,
        baseline: Baseline | str | torch.Tensor | None = None,
        sigma: float = 0.1,
    ) -> None:
        self.name = "expected"
        self.samples = _check_count("samples", samples)
        self.baseline = as_baseline(baseline, UniformNoise())
        self.noise = _check_sigma("sigma", sigma)

    def settings(self):
        return {
            "estimator": self.name,
            "samples": self.samples,
            "baseline": repr(self.baseline),
            "sigma": self.noise,
        }

    def plan(self, n_images, generator):
        n = self.samples
        device = generator.device if generator is not None else None
        random_alpha = torch.rand((n_images, n), generator=generator, device=device).cpu()
        alphas = torch.cat([torch.ones(n_images, 1), random_alpha], dim=1)
        weights = torch.cat([torch.zeros(1), torch.full((n,), 1.0 / n)])
        roles = torch.cat([torch.tensor([ROLE_INPUT]), torch.full((n,), ROLE_SAMPLE)])
        return _image_major(n_images, alphas, weights, roles)


class Smooth(Estimator):
    """SmoothGrad-style gradient (Omeiza et al., 2019): G = (1/n) Σ_r ∂y^c/∂A (x + ε_r),
    ε_r ~ N(0, (σ · range(x))²); A = A(x)."""

    def __init__(self, samples: int = 16, sigma: float = 0.15) -> None:
        self.name = "smooth"
        self.samples = _check_count("samples", samples)
        self.noise = _check_sigma("sigma", sigma)

    def settings(self):
        return {"estimator": self.name, "samples": self.samples, "sigma": self.noise}

    def plan(self, n_images, generator):
        n = self.samples
        alphas = torch.ones(n + 1)
        weights = torch.cat([torch.zeros(1), torch.full((n,), 1.0 / n)])
        roles = torch.cat([torch.tensor([ROLE_INPUT]), torch.full((n,), ROLE_SAMPLE)])
        return _image_major(n_images, alphas, weights, roles)


ESTIMATORS: dict[str, type[Estimator]] = {
    "vanilla": Vanilla,
    "integrated": Integrated,
    "expected": Expected,
    "smooth": Smooth,
}


def make_estimator(estimator: str | Estimator, **options: Any) -> Estimator:
    """An estimator by name with its options (steps, samples, baseline, sigma, ...)."""
    if isinstance(estimator, Estimator):
        if options:
            raise FaithcamValueError(
                f"options {sorted(options)} given with an Estimator object; set them on it"
            )
        return estimator
    if estimator not in ESTIMATORS:
        raise FaithcamValueError(
            f"estimator: unknown {estimator!r}; valid: {', '.join(ESTIMATORS)}"
        )
    cls = ESTIMATORS[estimator]
    try:
        return cls(**options)
    except TypeError as error:
        raise FaithcamTypeError(f"estimator {estimator!r}: {error}") from None
