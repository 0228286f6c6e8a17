"""Gradient estimators: where the gradient of the target score at the layer is measured, and how
the samples become one map.

An estimator expands each image into *sample rows* ``x'_r + α_r (x − x'_r) + ε_r`` (the input
itself, path points, noisy or re-based copies), which the capture engine runs in chunks of
``batch_size``: memory is bounded by ``batch_size`` rows, not by the number of samples, and the
rows are planned lazily, chunk by chunk. Two ways to combine the rows exist:

- **per-sample maps** (the seed methods as their authors define them): each row r gives a map
  ReLU(weighting(A(x_r) − A(x'_r), G(x_r))) and the maps are averaged with the row weights;
- **averaged gradient**: G = Σ_r w_r ∂y^c/∂A(x_r), then one weighting of A(x) (Grad-CAM and
  the SmoothGrad family).

Estimators (the formula each implements is in its class docstring):

- :class:`Vanilla`: the input alone (Grad-CAM, Grad-CAM++, XGrad-CAM, HiResCAM, LayerCAM).
- :class:`Integrated`: Integrated Grad-CAM (Sattarzadeh et al., ICASSP 2021).
- :class:`Expected`: Expected Grad-CAM (Buono et al., 2024).
- :class:`Smooth`: SmoothGrad-CAM++ (Omeiza et al., 2019).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from faithcam.cams.baselines import (
    Baseline,
    Black,
    GaussianNoise,
    ReferenceSet,
    UniformNoise,
    as_baseline,
    gaussian_noise,
)
from faithcam.cams.samplers import Draws, check_sampler
from faithcam.engine.capture import activations_at, capture
from faithcam.engine.layers import ResolvedLayer
from faithcam.engine.normalization import Normalization
from faithcam.engine.targets import BoundTarget, OutputSelector
from faithcam.errors import FaithcamTypeError, FaithcamValueError

ROLE_SAMPLE, ROLE_INPUT, ROLE_BASELINE = 0, 1, 2
MapFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# How rows are combined.
AVERAGE_GRADIENTS, AVERAGE_MAPS = "gradients", "maps"
# Which activations a row's map subtracts: none, its image's baseline row, or its own reference.
NO_REFERENCE, BASELINE_ROW, OWN_REFERENCE = "none", "baseline-row", "own"


@dataclass
class RowPlan:
    """Metadata of one chunk of sample rows (image-major: an image's rows are contiguous)."""

    image_index: torch.Tensor  # (N,) long
    alpha: torch.Tensor  # (N,) path position, 1 = the input
    weight: torch.Tensor  # (N,) weight of the row's gradient (or map) in the estimate
    role: torch.Tensor  # (N,) ROLE_*
    position: torch.Tensor | None = None  # (N,) the row's position among its image's rows

    def __len__(self) -> int:
        return len(self.image_index)


@dataclass
class Chunk:
    """One forward's worth of rows: their plan, the model inputs and, for estimators that
    subtract each row's own reference activations, the reference images x'_r."""

    plan: RowPlan
    inputs: torch.Tensor
    references: torch.Tensor | None = None


@dataclass
class Estimate:
    """What an estimator returns per image: A(x) (or A(x) − A(x')), the combined gradient
    (averaged-gradient estimators), the target scores at the input, and the averaged
    per-sample maps (per-sample-map estimators)."""

    activations: torch.Tensor  # (B, K, h, w)
    gradients: torch.Tensor | None  # (B, K, h, w)
    scores: torch.Tensor  # (B,)
    maps: torch.Tensor | None = None  # (B, h, w)
    samples_used: list[int] | None = None  # per image, when sampling stopped at a tolerance


class Estimator:
    """Base gradient estimator; a subclass defines the rows of one image through
    :meth:`pattern` and how they combine (``combine``, ``reference``)."""

    name: str = ""
    baseline: Baseline | None = None
    noise: float = 0.0  # kernel-smoothing σ, a fraction of each image's value range
    combine: str = AVERAGE_GRADIENTS
    reference: str = NO_REFERENCE
    relative_activations: bool = False  # averaged-gradient only: A(x) − A(x')
    sampler: str = "random"  # see faithcam.cams.samplers
    tolerance: float | None = None  # sampling estimators: stop at this relative standard error

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.settings().items() if k != "estimator")
        return f"{type(self).__name__}({fields})"

    @property
    def rows_per_image(self) -> int:
        """Number of sample rows (forward passes) per image."""
        raise NotImplementedError

    def pattern(
        self, position: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(alpha, weight, role) of the rows at ``position`` (0 ≤ position < rows_per_image)."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        """The estimator's parameters, for CamResult.settings."""
        return {"estimator": self.name}

    def validate(self, images: torch.Tensor) -> None:
        if self.baseline is not None:
            self.baseline.validate(images)

    def bind(self, images: torch.Tensor, normalization: Normalization | None) -> Estimator:
        """A copy whose baseline knows the call's images and the input normalisation."""
        if self.baseline is None:
            return self
        bound = copy.copy(self)
        bound.baseline = self.baseline.bind(images, normalization)
        return bound

    def plans(
        self,
        n_images: int,
        batch_size: int,
        generator: torch.Generator | None,
        draws: Draws | None = None,
    ) -> Iterator[RowPlan]:
        """The row plan, lazily: one RowPlan of at most ``batch_size`` rows at a time."""
        per_image = self.rows_per_image
        for start in range(0, n_images * per_image, batch_size):
            rows = torch.arange(start, min(start + batch_size, n_images * per_image))
            yield self._plan(rows // per_image, rows % per_image, generator, draws)

    def _plan(self, image_index, position, generator, draws) -> RowPlan:
        if draws is None:
            alpha, weight, role = self.pattern(position, generator)
        else:
            alpha, weight, role = self.pattern(position, generator, draws)
        return RowPlan(image_index, alpha.float(), weight.float(), role, position)

    def draws(self, generator: torch.Generator | None) -> Draws | None:
        """The per-call state of a non-random sampler (None for ``"random"``)."""
        if self.sampler == "random":
            return None
        references = self.baseline if isinstance(self.baseline, ReferenceSet) else None
        size = None if references is None else len(_reference_images(references))
        return Draws(self.sampler, generator, size)

    def chunks(
        self, images: torch.Tensor, batch_size: int, generator: torch.Generator | None
    ) -> Iterator[Chunk]:
        """The model inputs of each chunk: x'_r + α_r (x − x'_r) + ε_r."""
        fixed = self._fixed_baselines(images, generator)
        draws = self.draws(generator)
        for plan in self.plans(len(images), batch_size, generator, draws):
            yield self._chunk(images, plan, fixed, generator, draws)

    def _chunk(self, images, plan: RowPlan, fixed, generator, draws: Draws | None) -> Chunk:
        """The inputs of one planned chunk (the draws of a non-random sampler: samplers.py)."""
        plan.image_index = plan.image_index.to(images.device)
        index = plan.image_index
        x = images[index]
        alpha = plan.alpha.to(x.device, x.dtype).view(-1, 1, 1, 1)
        references = None
        inputs = x
        if fixed is not None:
            inputs = fixed[index] + alpha * (x - fixed[index])
        elif self.baseline is not None:
            if draws is not None and draws.stratified:
                references = _stratified_references(self.baseline, x, plan.position, draws)
            else:
                references = self.baseline(x, index, generator)
            if draws is not None and draws.antithetic:
                references = _antithetic_baselines(self.baseline, x, plan, references, draws)
            inputs = references + alpha * (x - references)
        # the input rows are the images themselves, bit for bit (x' + 1·(x − x') need not be)
        is_input = (plan.role == ROLE_INPUT).to(x.device).view(-1, 1, 1, 1)
        inputs = torch.where(is_input, x, inputs)
        if self.noise > 0:
            is_sample = (plan.role == ROLE_SAMPLE).to(x.device, x.dtype).view(-1, 1, 1, 1)
            # σ × the range of the image itself, not of the interpolated point
            noise = gaussian_noise(x, self.noise, generator)
            if draws is not None and draws.antithetic:
                cpu_index = plan.image_index.cpu()
                noise = draws.pair("noise", cpu_index, plan.position, noise, lambda e, r: -e)
            inputs = inputs + is_sample * noise
        return Chunk(plan, inputs, references if self.reference == OWN_REFERENCE else None)

    def _fixed_baselines(
        self, images: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor | None:
        """One baseline per image, shared by its rows (Integrated); None otherwise."""
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
        """Run every sample row through the capture engine and reduce to one estimate per image."""
        if self.combine == AVERAGE_MAPS and map_fn is None:
            raise FaithcamValueError(f"estimator {self.name!r} needs a weighting (map_fn)")
        if self.tolerance is not None:
            return self._estimate_to_tolerance(
                model, layer, images, target, batch_size, generator, output_selector, map_fn,
                progress,
            )  # fmt: skip
        acc = _Accumulator(len(images))
        for chunk in self.chunks(images, batch_size, generator):
            plan, device = chunk.plan, images.device
            # Row selections are computed from the CPU-side plan: no device synchronisation.
            rows = _RowSelection.of(plan, device)
            result = capture(
                model,
                layer,
                chunk.inputs,
                target,
                plan.image_index,
                (plan.role == ROLE_INPUT).to(device),
                output_selector=output_selector,
            )
            weight = plan.weight.to(device, result.gradients.dtype)
            acc.add_rows(plan.image_index, rows, result.activations, result.scores)
            if self.combine == AVERAGE_GRADIENTS:
                acc.add_gradients(plan.image_index, weight, result.gradients)
            elif rows.n_weighted:
                self._add_maps(acc, model, layer, chunk, result, weight, rows.weighted, map_fn)
            if progress is not None:
                progress(len(plan))
        return acc.finish(self.relative_activations)

    def _add_maps(self, acc, model, layer, chunk, result, weight, used, map_fn) -> None:
        """Σ_r w_r ReLU(map(A(x_r) − A(x'_r), G(x_r))) over the chunk's weighted rows ``used``."""
        index = chunk.plan.image_index.index_select(0, used)
        maps = self._row_maps(acc, model, layer, chunk, result, used, map_fn)
        acc.add_maps(index, weight.index_select(0, used), maps)

    def _row_maps(self, acc, model, layer, chunk, result, used, map_fn) -> torch.Tensor:
        """map(A(x_r) − A(x'_r), G(x_r)) of the chunk's rows ``used`` (before the ReLU)."""
        activations = result.activations.index_select(0, used)
        index = chunk.plan.image_index.index_select(0, used)
        if self.reference == BASELINE_ROW:
            activations = activations - acc.baseline_activations.index_select(0, index)
        elif self.reference == OWN_REFERENCE:
            references = chunk.references.index_select(0, used)
            activations = activations - activations_at(model, layer, references)
        return map_fn(activations, result.gradients.index_select(0, used))

    def _estimate_to_tolerance(
        self, model, layer, images, target, batch_size, generator, output_selector, map_fn,
        progress,
    ) -> Estimate:  # fmt: skip
        """Sequential sampling: chunks of at most ``batch_size`` rows shared by the images not
        yet converged, until the relative standard error of an image's map,
        RSE = √(Σ_pixels s²/k) / ‖mean‖₂ (s²: running per-pixel variance of its k per-sample
        maps, Welford), satisfies ``TOLERANCE_Z`` · RSE ≤ ``tolerance`` (a two-standard-error
        bound: the map's relative L2 error is then within the tolerance on ≥ 90 % of images),
        or its ``samples`` are used up.

        The per-sample maps are ReLU(map(ΔA_r, G_r)) (per-sample-map estimators) or
        map(A(x), G_r) (averaged-gradient ones; exact for linear weightings such as Grad-CAM's).
        The variance is the i.i.d. one, conservative for the correlated samplers; it is checked
        once an image has at least ``MIN_TOLERANCE_SAMPLES`` samples (and whole antithetic
        pairs). Images that stop get no more rows."""
        n_images, n = len(images), self.samples
        draws = self.draws(generator)
        step = 2 if draws is not None and draws.antithetic else 1
        acc, stats = _Accumulator(n_images), _Welford(n_images)
        gradient_sum: torch.Tensor | None = None
        next_position = [0] * n_images
        active = list(range(n_images))
        while active:
            share = max(1, batch_size // len(active))
            index, position, served = [], [], []
            for b in active:
                k = min(share, batch_size - len(index), n + 1 - next_position[b])
                if k > 1 and (next_position[b] + k - 1) % step:
                    k -= 1  # end the block on a whole antithetic pair
                if k <= 0:
                    continue
                index += [b] * k
                position += range(next_position[b], next_position[b] + k)
                next_position[b] += k
                served.append(b)
            # the images served go to the back, so that none waits behind the others
            active = [b for b in active if b not in served] + served
            plan = self._plan(torch.tensor(index), torch.tensor(position), generator, draws)
            chunk = self._chunk(images, plan, None, generator, draws)
            device = images.device
            rows = _RowSelection.of(plan, device)
            result = capture(
                model, layer, chunk.inputs, target, plan.image_index,
                (plan.role == ROLE_INPUT).to(device), output_selector=output_selector,
            )  # fmt: skip
            acc.add_rows(plan.image_index, rows, result.activations, result.scores)
            if rows.n_weighted:
                used = rows.weighted
                image = plan.image_index.index_select(0, used)
                if self.combine == AVERAGE_MAPS:
                    values = self._row_maps(acc, model, layer, chunk, result, used, map_fn)
                    values = values.clamp(min=0)
                else:
                    gradients = result.gradients.index_select(0, used)
                    if gradient_sum is None:
                        gradient_sum = acc._buffer(gradients)
                    gradient_sum.index_add_(0, image, gradients)
                    values = gradients
                    if map_fn is not None:
                        values = map_fn(acc.input_activations.index_select(0, image), gradients)
                stats.add(image, values)
            if progress is not None:
                progress(len(plan))
            error = stats.relative_standard_error()
            floor = min(n, MIN_TOLERANCE_SAMPLES)
            active = [
                b for b in active
                if next_position[b] <= n
                and not (
                    stats.count[b] >= floor and stats.count[b] % step == 0
                    and TOLERANCE_Z * error[b] <= self.tolerance
                )
            ]  # fmt: skip
        used_counts = [int(c) for c in stats.count]
        gradients = None
        if gradient_sum is not None:
            counts = torch.tensor(used_counts, dtype=gradient_sum.dtype, device=images.device)
            gradients = gradient_sum / counts.clamp(min=1).view(-1, 1, 1, 1)
        estimate = acc.finish(self.relative_activations)
        estimate.gradients = gradients
        if self.combine == AVERAGE_MAPS:
            estimate.maps = stats.mean
        estimate.samples_used = used_counts
        return estimate


# Sequential sampling stops once Z × the estimated relative standard error is at most the
# tolerance, after at least MIN samples: stopping at Z = 1 (the first time the noisy estimate
# dips under the tolerance) left half of the maps farther than the tolerance from the reference
# (measured on tests/test_sampling.py's model); Z = 2 and 16 samples leave ≥ 90 % within it.
TOLERANCE_Z, MIN_TOLERANCE_SAMPLES = 2.0, 16


def _stratified_references(baseline, x, position, draws: Draws) -> torch.Tensor:
    """Reference of each row from the cycled random permutation of the reference set; a pick
    identical to the row's own image takes the next one of the cycle (uniform over the others)."""
    images = _reference_images(baseline)
    picks = draws.picks(position).to(images.device)
    chosen = images[picks].to(device=x.device, dtype=x.dtype)
    if len(images) > 1:
        itself = (chosen == x).flatten(1).all(1).to(images.device)
        if bool(itself.any()):
            picks = torch.where(itself, draws.picks(position, 1).to(images.device), picks)
            chosen = images[picks].to(device=x.device, dtype=x.dtype)
    return chosen


def _reference_images(baseline: ReferenceSet) -> torch.Tensor:
    return baseline._images  # baselines.py exposes no accessor yet


def _antithetic_baselines(baseline, x, plan: RowPlan, references, draws: Draws) -> torch.Tensor:
    """Noise baselines in antithetic pairs: uniform noise reflected about the middle of the
    image's range (U → 1 − U), Gaussian noise about the image (x + e → x − e)."""
    if isinstance(baseline, UniformNoise):
        flat = x.flatten(1)
        centre2 = (flat.amin(1) + flat.amax(1)).view(-1, 1, 1, 1)
    elif isinstance(baseline, GaussianNoise):
        centre2 = 2 * x
    else:
        return references

    def reflect(partner, rows):
        return centre2.index_select(0, rows) - partner

    return draws.pair("baseline", plan.image_index.cpu(), plan.position, references, reflect)


class _Welford:
    """Running per-image mean and sum of squared deviations of per-sample maps (Welford,
    merged chunk by chunk with Chan et al.'s parallel update)."""

    def __init__(self, n_images: int) -> None:
        self.count = torch.zeros(n_images, dtype=torch.long)
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None

    def add(self, image: torch.Tensor, values: torch.Tensor) -> None:
        if self.mean is None:
            self.mean = values.new_zeros((len(self.count), *values.shape[1:]))
            self.m2 = torch.zeros_like(self.mean)
        shape = (-1,) + (1,) * (values.dim() - 1)
        new = torch.bincount(image.cpu(), minlength=len(self.count))
        new_d = new.to(values.device, values.dtype).view(shape)
        chunk_mean = torch.zeros_like(self.mean).index_add_(0, image, values)
        chunk_mean = chunk_mean / new_d.clamp(min=1)
        deviation = values - chunk_mean.index_select(0, image)
        chunk_m2 = torch.zeros_like(self.m2).index_add_(0, image, deviation * deviation)
        old_d = self.count.to(values.device, values.dtype).view(shape)
        total = (old_d + new_d).clamp(min=1)
        delta = chunk_mean - self.mean
        has_new = (new_d > 0).to(values.dtype)
        self.mean = self.mean + has_new * delta * new_d / total
        self.m2 = self.m2 + chunk_m2 + has_new * delta * delta * old_d * new_d / total
        self.count += new

    def relative_standard_error(self) -> list[float]:
        """√(Σ s² / k) / ‖mean‖ per image (inf below two samples; 0 for a zero map with no
        spread)."""
        if self.mean is None:
            return [math.inf] * len(self.count)
        k = self.count.to(self.mean.device, self.mean.dtype)
        dims = tuple(range(1, self.mean.dim()))
        variance_of_mean = self.m2.sum(dims) / ((k - 1).clamp(min=1) * k.clamp(min=1))
        norm = self.mean.flatten(1).norm(dim=1)
        error = variance_of_mean.sqrt() / norm
        error = torch.where(variance_of_mean == 0, torch.zeros_like(error), error)
        error = torch.where(k < 2, torch.full_like(error, math.inf), error)
        return error.tolist()


@dataclass
class _RowSelection:
    """Positions (on the device) of a chunk's input, baseline and weighted rows."""

    inputs: torch.Tensor
    baselines: torch.Tensor
    weighted: torch.Tensor
    n_baselines: int
    n_weighted: int

    @classmethod
    def of(cls, plan: RowPlan, device: torch.device) -> _RowSelection:
        def where(mask: torch.Tensor) -> torch.Tensor:
            return mask.nonzero().flatten()

        baselines, weighted = where(plan.role == ROLE_BASELINE), where(plan.weight != 0)
        return cls(
            where(plan.role == ROLE_INPUT).to(device),
            baselines.to(device),
            weighted.to(device),
            len(baselines),
            len(weighted),
        )


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

    def add_rows(self, index, rows: _RowSelection, activations, scores) -> None:
        """Keep A(x) and the score of input rows, and A(x') of baseline rows."""
        if self.input_activations is None:
            self.input_activations = self._buffer(activations)
            self.scores = scores.new_zeros(self.n_images)
        images = index.index_select(0, rows.inputs)
        self.input_activations.index_copy_(0, images, activations.index_select(0, rows.inputs))
        self.scores.index_copy_(0, images, scores.index_select(0, rows.inputs))
        if rows.n_baselines:
            if self.baseline_activations is None:
                self.baseline_activations = self._buffer(activations)
            images = index.index_select(0, rows.baselines)
            self.baseline_activations.index_copy_(
                0, images, activations.index_select(0, rows.baselines)
            )

    def add_gradients(self, index, weight, gradients) -> None:
        if self.gradients is None:
            self.gradients = self._buffer(gradients)
        self.gradients.index_add_(0, index, gradients * weight.view(-1, 1, 1, 1))

    def add_maps(self, index, weight, maps) -> None:
        if self.maps is None:
            self.maps = self._buffer(maps)
        self.maps.index_add_(0, index, maps.clamp(min=0) * weight.view(-1, 1, 1))

    def finish(self, relative_activations: bool) -> Estimate:
        activations = self.input_activations
        if relative_activations:
            activations = activations - self.baseline_activations
        return Estimate(activations, self.gradients, self.scores, self.maps)


def _roles(position: torch.Tensor, input_position: int = 0) -> torch.Tensor:
    return torch.where(position == input_position, ROLE_INPUT, ROLE_SAMPLE)


class Vanilla(Estimator):
    """The gradient at the input itself (Grad-CAM and its family)."""

    def __init__(self) -> None:
        self.name = "vanilla"

    @property
    def rows_per_image(self) -> int:
        return 1

    def pattern(self, position, generator):
        one = torch.ones(len(position))
        return one, one, _roles(position)


def _check_count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaithcamTypeError(f"{name}: expected an int >= 1, got {value!r}")
    if value < 1:
        raise FaithcamValueError(f"{name}: must be >= 1, got {value}")
    return value


def _check_sigma(name: str, value: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise FaithcamTypeError(f"{name}: expected a finite number >= 0, got {value!r}")
    if not 0 <= value < float("inf"):
        raise FaithcamValueError(f"{name}: must be a finite number >= 0, got {value}")
    return float(value)


def _check_tolerance(value: float | None) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise FaithcamTypeError(f"tolerance: expected a finite number > 0 or None, got {value!r}")
    if not 0 < value < float("inf"):
        raise FaithcamValueError(f"tolerance: must be a finite number > 0, got {value}")
    return float(value)


def _check_variant(variant: str, valid: tuple[str, ...]) -> str:
    if variant not in valid:
        raise FaithcamValueError(
            f"variant: unknown {variant!r}; valid: {', '.join(repr(v) for v in valid)}"
        )
    return variant


class Integrated(Estimator):
    """Integrated Grad-CAM (Sattarzadeh et al., "Integrated Grad-CAM: Sensitivity-Aware Visual
    Explanation of Deep Convolutional Networks via Integrated Gradient-Based Scoring",
    ICASSP 2021), on the left Riemann grid x_i = x' + (i/m)(x − x'), i = 0 … m−1, of the
    authors' code; x' = black by default (pixel black when the normalisation is known).

    - ``variant="paper"`` (default; the paper's Figure 1, whose Δ is A(x_i) − A(x')):
      M = (1/m) Σ_i ReLU( Σ_k (A^k(x_i) − A^k(x')) · GAP(∂y^c/∂A^k(x_i)) ), with Grad-CAM's
      weighting; any weighting replaces the inner map.
    - ``variant="released"`` (the authors' released ``utils.py``): the same without the
      subtraction, summed: M = Σ_i ReLU( Σ_k A^k(x_i) · GAP(∂y^c/∂A^k(x_i)) ).
    - ``variant="averaged-gradient"`` (faithcam's first reconstruction, kept for comparison):
      G = (1/m) Σ_{j=1}^{m} ∂y^c/∂A(x' + (j/m)(x − x')), map = weighting(A(x), G) (or
      A(x) − A(x') with ``relative_activations=True``). On a GAP + linear head the gradient of
      a logit is constant, so this variant **equals Grad-CAM there**.

    Cost: m + 1 forwards per image (the m path points and the input, which gives the score
    and the predicted class); A(x') is the i = 0 row's activations.

    ``rule`` (variants "paper" and "released") is the quadrature of ∫₀¹ f(α) dα, f the
    per-step map: ``"left"`` (default, the authors' grid: α_i = i/m, weights 1/m; error O(1/m)),
    ``"trapezoid"`` (α_i = i/m, i = 0 … m, end weights 1/(2m); O(1/m²) for a smooth f; one more
    forward, the α = 1 node), ``"gauss-legendre"`` (the m Gauss–Legendre nodes mapped to
    [0, 1], exact for polynomials of degree 2m − 1; one more forward for A(x')). The
    "released" variant's sum is m × the integral's rule.
    """

    VARIANTS = ("paper", "released", "averaged-gradient")
    RULES = ("left", "trapezoid", "gauss-legendre")

    def __init__(
        self,
        steps: int = 50,
        baseline: Baseline | str | torch.Tensor | None = None,
        relative_activations: bool = False,
        variant: str = "paper",
        rule: str = "left",
    ) -> None:
        self.name = "integrated"
        self.steps = _check_count("steps", steps)
        if not isinstance(rule, str) or rule not in self.RULES:
            raise FaithcamValueError(
                f"rule: unknown {rule!r}; valid: {', '.join(repr(r) for r in self.RULES)}"
            )
        if rule != "left" and variant == "averaged-gradient":
            raise FaithcamValueError(
                f"rule: {rule!r} is for the 'paper' and 'released' variants (averaged-gradient "
                "keeps its right Riemann sum)"
            )
        self.rule = rule
        self._nodes: tuple[torch.Tensor, torch.Tensor] | None = None
        self.baseline = as_baseline(baseline, Black())
        if self.baseline.stochastic:
            raise FaithcamValueError(
                f"baseline: integrated needs a deterministic baseline, got {self.baseline!r}; "
                "use estimator='expected' for baseline distributions"
            )
        self.variant = _check_variant(variant, self.VARIANTS)
        self.relative_activations = bool(relative_activations)
        if self.relative_activations and variant != "averaged-gradient":
            raise FaithcamValueError(
                "relative_activations: only for variant='averaged-gradient' (the "
                f"{variant!r} variant subtracts A(x') at every step already)"
            )
        averaged = variant == "averaged-gradient"
        self.combine = AVERAGE_GRADIENTS if averaged else AVERAGE_MAPS
        self.reference = BASELINE_ROW if variant == "paper" else NO_REFERENCE

    def settings(self):
        return {
            "estimator": self.name,
            "variant": self.variant,
            "steps": self.steps,
            "baseline": repr(self.baseline),
            "relative_activations": self.relative_activations,
            "rule": self.rule,
        }

    def _fixed_baselines(self, images, generator):
        return self.baseline(images, torch.arange(len(images), device=images.device), generator)

    @property
    def rows_per_image(self) -> int:
        if self.variant == "averaged-gradient":
            return self.steps + int(self.relative_activations)
        return self.steps + (1 if self.rule == "left" else 2)

    def pattern(self, position, generator):
        m = self.steps
        role = _roles(position)
        if self.variant == "averaged-gradient":
            # position 0 is the input (j = m), 1..m-1 are j/m: the right Riemann sum; position
            # m (relative_activations only) is the baseline, weight 0.
            alpha = torch.where(position == 0, 1.0, position / m)
            weight = torch.full((len(position),), 1.0 / m)
            is_baseline = position == m
            alpha = torch.where(is_baseline, 0.0, alpha)
            weight = torch.where(is_baseline, 0.0, weight)
            return alpha, weight, torch.where(is_baseline, ROLE_BASELINE, role)
        if self.rule != "left":
            return self._quadrature_pattern(position)
        # position 0 is the input (weight 0), position p >= 1 is step i = p - 1; i = 0 is x'.
        step = (position - 1).clamp(min=0)
        alpha = torch.where(position == 0, 1.0, step / m)
        step_weight = 1.0 / m if self.variant == "paper" else 1.0
        weight = torch.where(position == 0, 0.0, step_weight)
        return alpha, weight, torch.where(position == 1, ROLE_BASELINE, role)

    def _quadrature_pattern(self, position):
        """Position 0: the input (weight 0); 1: x' (α = 0); trapezoid: p ≥ 2 is node i = p − 1
        (α = i/m, i = 1 … m); Gauss–Legendre: p ≥ 2 is node p − 2."""
        m = self.steps
        scale = 1.0 if self.variant == "paper" else float(m)  # "released" sums the steps
        node = (position - 1).clamp(min=0)
        if self.rule == "trapezoid":
            alpha = torch.where(position == 0, 1.0, node / m)
            end = (node == 0) | (node == m)
            weight = torch.where(end, 0.5 / m, 1.0 / m) * scale
        else:
            nodes, weights = self._gauss_legendre()
            j = (position - 2).clamp(min=0)
            alpha = torch.where(position == 0, 1.0, torch.where(position == 1, 0.0, nodes[j]))
            weight = torch.where(position <= 1, 0.0, weights[j] * scale)
        weight = torch.where(position == 0, 0.0, weight)
        role = torch.where(position == 1, ROLE_BASELINE, _roles(position))
        return alpha, weight, role

    def _gauss_legendre(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The m Gauss–Legendre nodes and weights on [0, 1] (m floats each, cached)."""
        if self._nodes is None:
            t, w = np.polynomial.legendre.leggauss(self.steps)
            self._nodes = (torch.from_numpy((t + 1) / 2), torch.from_numpy(w / 2))
        return self._nodes


class Expected(Estimator):
    """Expected Grad-CAM (Buono et al., "Expected Grad-CAM: Towards gradient faithfulness",
    2024): the smoothed expectation of perturbed integrated gradients, by Monte Carlo with n
    samples x̃_r = x'_r + α_r (x − x'_r) + ε_r, x'_r ~ D, α_r ~ U(0, 1),
    ε_r ~ N(0, (σ · range(x))²), range(x) = max − min of the image itself.

    - ``variant="paper"`` (default): the same per-sample map as Integrated Grad-CAM, under the
      perturbation distribution, M = (1/n) Σ_r ReLU( Σ_k (A^k(x̃_r) − A^k(x'_r)) ·
      GAP(∂y^c/∂A^k(x̃_r)) ); a point mass D with σ = 0 is Integrated Grad-CAM as n → ∞
      (the left Riemann grid replaced by α ~ U(0, 1)).
    - ``variant="averaged-gradient"``: G = (1/n) Σ_r ∂y^c/∂A(x̃_r), map = weighting(A(x), G);
      equals Grad-CAM on GAP + linear heads.

    D: ``UniformNoise()`` by default (noise images between each image's minimum and maximum);
    ``ReferenceSet(images)`` draws from the user's data (the CLI and studies pass the other
    images they hold), ``"others"`` from the other images of the same call.
    Cost per image: n + 1 forwards, plus n forwards up to the layer for A(x'_r).
    σ = 0.05 by default (faithcam's choice; the paper's value is not available): on the bundled
    VGG ShapesBench model the target object outshines every distractor in 100 / 94 / 65 % of
    images at σ = 0.02 / 0.05 / 0.1 (n = 16, D = the other images), so larger kernels blur
    the evidence away there.

    ``sampler`` (:mod:`faithcam.cams.samplers`): ``"sobol"`` (default: scrambled Sobol' α,
    stratified references; at equal error it needed 0.21–0.41× the samples of i.i.d. draws on
    every model of ``benchmarks/bench_convergence.py``), ``"random"`` (i.i.d., the draws of
    earlier versions), ``"antithetic"`` (antithetic noise pairs; no gain measured),
    ``"sobol-antithetic"``; all unbiased. ``tolerance``: stop sampling an image once twice the
    estimated relative standard error of its map is at most this, i.e. its relative L2 error
    is within the tolerance with high probability (``samples`` is then the cap; the numbers
    used are in ``CamResult.settings["samples_used"]``).
    """

    VARIANTS = ("paper", "averaged-gradient")

    def __init__(
        self,
        samples: int = 32,
        baseline: Baseline | str | torch.Tensor | None = None,
        sigma: float = 0.05,
        variant: str = "paper",
        sampler: str = "sobol",
        tolerance: float | None = None,
    ) -> None:
        self.name = "expected"
        self.samples = _check_count("samples", samples)
        self.sampler = check_sampler(sampler)
        self.tolerance = _check_tolerance(tolerance)
        self.baseline = as_baseline(baseline, UniformNoise())
        self.noise = _check_sigma("sigma", sigma)
        self.variant = _check_variant(variant, self.VARIANTS)
        averaged = variant == "averaged-gradient"
        self.combine = AVERAGE_GRADIENTS if averaged else AVERAGE_MAPS
        self.reference = NO_REFERENCE if averaged else OWN_REFERENCE

    def settings(self):
        return {
            "estimator": self.name,
            "variant": self.variant,
            "samples": self.samples,
            "baseline": repr(self.baseline),
            "sigma": self.noise,
            "sampler": self.sampler,
            "tolerance": self.tolerance,
        }

    @property
    def rows_per_image(self) -> int:
        return self.samples + 1

    def pattern(self, position, generator, draws: Draws | None = None):
        if draws is not None and draws.sobol:
            random_alpha = draws.alpha(position)
        else:
            device = generator.device if generator is not None else None
            random_alpha = torch.rand(len(position), generator=generator, device=device).cpu()
        is_input = position == 0
        alpha = torch.where(is_input, 1.0, random_alpha)
        weight = torch.where(is_input, 0.0, 1.0 / self.samples)
        return alpha, weight, _roles(position)


class Smooth(Estimator):
    """SmoothGrad-style gradient (Omeiza et al., "Smooth Grad-CAM++", 2019):
    G = (1/n) Σ_r ∂y^c/∂A (x + ε_r), ε_r ~ N(0, (σ · range(x))²); map = weighting(A(x), G).

    ``sampler="antithetic"`` draws the noise in pairs (ε, −ε); ``tolerance`` as in Expected."""

    SAMPLERS = ("random", "antithetic")

    def __init__(
        self,
        samples: int = 16,
        sigma: float = 0.15,
        sampler: str = "random",
        tolerance: float | None = None,
    ) -> None:
        self.name = "smooth"
        self.samples = _check_count("samples", samples)
        self.noise = _check_sigma("sigma", sigma)
        self.sampler = check_sampler(sampler, self.SAMPLERS)
        self.tolerance = _check_tolerance(tolerance)

    def settings(self):
        return {
            "estimator": self.name,
            "samples": self.samples,
            "sigma": self.noise,
            "sampler": self.sampler,
            "tolerance": self.tolerance,
        }

    @property
    def rows_per_image(self) -> int:
        return self.samples + 1

    def pattern(self, position, generator, draws: Draws | None = None):
        is_input = position == 0
        weight = torch.where(is_input, 0.0, 1.0 / self.samples)
        return torch.ones(len(position)), weight, _roles(position)


ESTIMATORS: dict[str, type[Estimator]] = {
    "vanilla": Vanilla,
    "integrated": Integrated,
    "expected": Expected,
    "smooth": Smooth,
}


def make_estimator(estimator: str | Estimator, **options: Any) -> Estimator:
    """An estimator by name with its options (steps, samples, baseline, sigma, variant, ...)."""
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
