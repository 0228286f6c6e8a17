"""Reductions of sample rows to one estimate per image, memory O(images), not O(samples).

- :class:`WeightedMean` (a fixed count of rows): Σ_r w_r G_r (averaged gradient) or
  Σ_r w_r ReLU(map_r) (per-sample maps), with the row weights of the estimator's pattern.
- :class:`RunningMean` (sequential sampling to a tolerance): the running mean and variance of
  each image's per-sample maps (:class:`Welford`), and the plain mean of its gradients.

Both keep A(x) and the score of each image's input row and A(x') of its baseline row
(:class:`Accumulator`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from faithcam.cams.estimators.rows import (
    AVERAGE_GRADIENTS,
    AVERAGE_MAPS,
    ROLE_BASELINE,
    ROLE_INPUT,
    Chunk,
    RowPlan,
)

if TYPE_CHECKING:
    from faithcam.cams.estimators.base import Estimator, MapFn
    from faithcam.engine.capture import Capture
    from faithcam.engine.request import Request


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


@dataclass
class RowSelection:
    """Positions (on the device) of a chunk's input, baseline and weighted rows."""

    inputs: torch.Tensor
    baselines: torch.Tensor
    weighted: torch.Tensor
    n_baselines: int
    n_weighted: int

    @classmethod
    def of(cls, plan: RowPlan, device: torch.device) -> RowSelection:
        """Computed from the CPU-side plan: no device synchronisation."""
        baselines = (plan.role == ROLE_BASELINE).nonzero().flatten()
        weighted = (plan.weight != 0).nonzero().flatten()
        return cls(
            (plan.role == ROLE_INPUT).nonzero().flatten().to(device),
            baselines.to(device),
            weighted.to(device),
            len(baselines),
            len(weighted),
        )


class Accumulator:
    """A(x) and the score of each image's input row, A(x') of its baseline row."""

    def __init__(self, n_images: int) -> None:
        self.n_images = n_images
        self.input_activations: torch.Tensor | None = None
        self.baseline_activations: torch.Tensor | None = None
        self.scores: torch.Tensor | None = None

    def zeros(self, like: torch.Tensor) -> torch.Tensor:
        """A zero tensor of one ``like`` row per image."""
        return like.new_zeros((self.n_images, *like.shape[1:]))

    def add_rows(self, index, rows: RowSelection, activations, scores) -> None:
        """Keep A(x) and the score of input rows, and A(x') of baseline rows."""
        if self.input_activations is None:
            self.input_activations = self.zeros(activations)
            self.scores = scores.new_zeros(self.n_images)
        images = index.index_select(0, rows.inputs)
        self.input_activations.index_copy_(0, images, activations.index_select(0, rows.inputs))
        self.scores.index_copy_(0, images, scores.index_select(0, rows.inputs))
        if rows.n_baselines:
            if self.baseline_activations is None:
                self.baseline_activations = self.zeros(activations)
            images = index.index_select(0, rows.baselines)
            self.baseline_activations.index_copy_(
                0, images, activations.index_select(0, rows.baselines)
            )

    def add(
        self,
        estimator: Estimator,
        request: Request,
        chunk: Chunk,
        captured: Capture,
        weighting: MapFn,
    ) -> None:
        """Reduce one chunk's captured rows: keep the input and baseline rows, then the
        samples (:meth:`add_samples`)."""
        rows = RowSelection.of(chunk.plan, request.images.device)
        self.add_rows(chunk.plan.image_index, rows, captured.activations, captured.scores)
        self.add_samples(estimator, request, chunk, captured, rows, weighting)

    def add_samples(self, estimator, request, chunk, captured, rows, weighting) -> None:
        raise NotImplementedError

    def activations(self, relative: bool) -> torch.Tensor:
        """A(x), or A(x) − A(x') when ``relative``."""
        if relative:
            return self.input_activations - self.baseline_activations
        return self.input_activations


class WeightedMean(Accumulator):
    """Σ_r w_r G_r or Σ_r w_r ReLU(map_r) over a fixed count of rows per image."""

    def __init__(self, n_images: int) -> None:
        super().__init__(n_images)
        self.gradients: torch.Tensor | None = None
        self.maps: torch.Tensor | None = None

    def add_samples(self, estimator, request, chunk, captured, rows, weighting) -> None:
        plan = chunk.plan
        weight = plan.weight.to(request.images.device, captured.gradients.dtype)
        if estimator.combine == AVERAGE_GRADIENTS:
            if self.gradients is None:
                self.gradients = self.zeros(captured.gradients)
            weighted = captured.gradients * weight.view(-1, 1, 1, 1)
            self.gradients.index_add_(0, plan.image_index, weighted)
        elif rows.n_weighted:
            used = rows.weighted
            maps = estimator.row_maps(request, self, chunk, captured, used, weighting)
            if self.maps is None:
                self.maps = self.zeros(maps)
            weighted = maps.clamp(min=0) * weight.index_select(0, used).view(-1, 1, 1)
            self.maps.index_add_(0, plan.image_index.index_select(0, used), weighted)

    def finish(self, estimator: Estimator) -> Estimate:
        activations = self.activations(estimator.relative_activations)
        return Estimate(activations, self.gradients, self.scores, self.maps)


class RunningMean(Accumulator):
    """The running mean of each image's per-sample maps ReLU(map(ΔA_r, G_r)) (per-sample-map
    estimators) or map(A(x), G_r) (averaged-gradient ones) with their variance
    (:class:`Welford`), and the plain mean of the gradients, over the rows used so far."""

    def __init__(self, n_images: int, replicates: int, unit: int) -> None:
        super().__init__(n_images)
        if replicates > 1:
            self.moments: Welford | Replicates = Replicates(n_images, replicates, unit)
        else:
            self.moments = Welford(n_images)
        self.gradient_sum: torch.Tensor | None = None

    def add_samples(self, estimator, request, chunk, captured, rows, weighting) -> None:
        if not rows.n_weighted:
            return
        used = rows.weighted
        image = chunk.plan.image_index.index_select(0, used)
        if estimator.combine == AVERAGE_MAPS:
            values = estimator.row_maps(request, self, chunk, captured, used, weighting)
            values = values.clamp(min=0)
        else:
            gradients = captured.gradients.index_select(0, used)
            if self.gradient_sum is None:
                self.gradient_sum = self.zeros(gradients)
            self.gradient_sum.index_add_(0, image, gradients)
            values = weighting(self.input_activations.index_select(0, image), gradients)
        self.moments.add(image, values, chunk.plan.position[rows.weighted.cpu()])

    def finish(self, estimator: Estimator) -> Estimate:
        used = [int(c) for c in self.moments.count]
        gradients = None
        if self.gradient_sum is not None:
            counts = torch.tensor(used, dtype=self.gradient_sum.dtype)
            counts = counts.to(self.gradient_sum.device).clamp(min=1).view(-1, 1, 1, 1)
            gradients = self.gradient_sum / counts
        maps = self.moments.mean if estimator.combine == AVERAGE_MAPS else None
        activations = self.activations(estimator.relative_activations)
        return Estimate(activations, gradients, self.scores, maps, used)


class Welford:
    """Running per-image mean and sum of squared deviations of per-sample maps (Welford,
    merged chunk by chunk with Chan et al.'s parallel update)."""

    def __init__(self, n_images: int) -> None:
        self.count = torch.zeros(n_images, dtype=torch.long)
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None

    def add(self, image: torch.Tensor, values: torch.Tensor, position=None) -> None:
        """Merge per-sample ``values`` of the images ``image`` (``position``: unused)."""
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


class Replicates:
    """Running per-image sums of the per-sample maps of R interleaved independent randomisations
    of a quasi-random sampler (randomised QMC; rows to replicates: :func:`.replicate_of`).

    The estimate is the mean of all rows; with equal counts it is the mean of the R replicate
    means M̄_1 … M̄_R, whose variance is estimated without bias by Σ_pixels s²/R, s² the sample
    variance of the replicate means (Owen, "Monte Carlo theory, methods and examples", §17.2);
    the i.i.d. variance of the rows (:class:`Welford`) overstates a quasi-random mean's error.
    """

    def __init__(self, n_images: int, replicates: int, unit: int = 1) -> None:
        self.replicates, self.unit = replicates, unit
        self.count = torch.zeros(n_images, dtype=torch.long)
        self.counts = torch.zeros(n_images, replicates, dtype=torch.long)
        self.sums: torch.Tensor | None = None

    def add(self, image: torch.Tensor, values: torch.Tensor, position: torch.Tensor) -> None:
        """Add per-sample ``values`` of the images ``image`` at row ``position``."""
        from faithcam.cams.estimators.samplers import replicate_of

        n_images, r = len(self.count), self.replicates
        if self.sums is None:
            self.sums = values.new_zeros((n_images * r, *values.shape[1:]))
        cell = image.cpu() * r + replicate_of(position.cpu(), r, self.unit)[0]
        self.sums.index_add_(0, cell.to(values.device), values)
        self.counts.view(-1).index_add_(0, cell, torch.ones_like(cell))
        self.count = self.counts.sum(1)

    @property
    def mean(self) -> torch.Tensor | None:
        if self.sums is None:
            return None
        total = self.sums.view(len(self.count), self.replicates, *self.sums.shape[1:]).sum(1)
        count = self.count.to(total.device, total.dtype).clamp(min=1)
        return total / count.view(-1, *([1] * (total.dim() - 1)))

    def relative_standard_error(self) -> list[float]:
        """√(Σ s²/R) / ‖mean‖ per image (inf until every replicate has a sample; 0 for a zero
        map with no spread)."""
        if self.sums is None:
            return [math.inf] * len(self.count)
        sums = self.sums.view(len(self.count), self.replicates, -1)
        counts = self.counts.to(sums.device, sums.dtype)
        means = sums / counts.clamp(min=1).unsqueeze(-1)
        variance_of_mean = means.var(1, unbiased=True).sum(1) / self.replicates
        error = variance_of_mean.sqrt() / self.mean.flatten(1).norm(dim=1)
        error = torch.where(variance_of_mean == 0, torch.zeros_like(error), error)
        empty = (self.counts == 0).any(1).to(error.device)
        return torch.where(empty, torch.full_like(error, math.inf), error).tolist()
