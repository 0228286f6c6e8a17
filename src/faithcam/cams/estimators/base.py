"""The estimator base class: the sample rows of one image (:meth:`Estimator.pattern`), their
model inputs, and how their per-row maps are formed; :class:`Vanilla`, the input alone.

An estimator expands each image into *sample rows* ``x'_r + α_r (x − x'_r) + ε_r`` (the input
itself, path points, noisy or re-based copies), which the capture engine runs in chunks of
``batch_size``: memory is bounded by ``batch_size`` rows, not by the number of samples, and the
rows are planned lazily, chunk by chunk. Two ways to combine the rows exist:

- **per-sample maps** (the seed methods as their authors define them): each row r gives a map
  ReLU(weighting(A(x_r) − A(x'_r), G(x_r))) and the maps are averaged with the row weights;
- **averaged gradient**: G = Σ_r w_r ∂y^c/∂A(x_r), then one weighting of A(x) (Grad-CAM and
  the SmoothGrad family).

The run loop is :func:`faithcam.cams.estimators.runner.estimate`; the reductions are in
:mod:`~faithcam.cams.estimators.reduce`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import torch

from faithcam.cams.baselines import Baseline, ReferenceSet, value_range
from faithcam.cams.estimators.rows import (
    AVERAGE_GRADIENTS,
    BASELINE_ROW,
    NO_REFERENCE,
    OWN_REFERENCE,
    ROLE_INPUT,
    ROLE_SAMPLE,
    Chunk,
    RowPlan,
    roles,
)
from faithcam.cams.estimators.samplers import QUASI_RANDOM, Draws, sample_baselines
from faithcam.cams.estimators.streams import Streams
from faithcam.engine.capture import activations_at, capture_batches
from faithcam.engine.normalization import Normalization
from faithcam.errors import FaithcamTypeError, FaithcamValueError

if TYPE_CHECKING:
    from faithcam.cams.estimators.reduce import Accumulator, Estimate
    from faithcam.engine.capture import Capture
    from faithcam.engine.request import Request

# Independent randomisations of a quasi-random sampler under tolerance= (randomised QMC): the
# spread of their R means estimates the error, with R − 1 degrees of freedom.
RQMC_REPLICATES = 8
MapFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Progress = Callable[[int], None] | None


class Estimator:
    """Base gradient estimator; a subclass defines the rows of one image through
    :meth:`pattern` and how they combine (``combine``, ``reference``)."""

    name: str = ""
    baseline: Baseline | None = None
    noise: float = 0.0  # kernel-smoothing σ, a fraction of each image's value range
    combine: str = AVERAGE_GRADIENTS
    reference: str = NO_REFERENCE
    relative_activations: bool = False  # averaged-gradient only: A(x) − A(x')
    sampler: str = "random"  # see faithcam.cams.estimators.samplers
    tolerance: float | None = None  # sampling estimators: stop at this relative standard error
    random_rows: bool = False  # whether rows have random parts (drawn per image: Draws)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.settings().items() if k != "estimator")
        return f"{type(self).__name__}({fields})"

    @property
    def rows_per_image(self) -> int:
        """Number of sample rows (forward passes) per image."""
        raise NotImplementedError

    def pattern(
        self,
        image_index: torch.Tensor,
        position: torch.Tensor,
        draws: Draws | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(alpha, weight, role) of the rows at ``position`` (0 ≤ position < rows_per_image)
        of the images ``image_index``; ``draws``: the call's random parts (random_rows)."""
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

    def estimate(self, request: Request, weighting: MapFn, progress: Progress = None) -> Estimate:
        """Run every sample row of the request's images through the capture engine and reduce
        them to one estimate per image (see :func:`~faithcam.cams.estimators.runner.estimate`)."""
        from faithcam.cams.estimators.runner import estimate

        return estimate(self, request, weighting, progress)

    def plans(
        self, n_images: int, batch_size: int, draws: Draws | None = None
    ) -> Iterator[RowPlan]:
        """The fixed-count row plan, lazily: one RowPlan of at most ``batch_size`` rows at a
        time, every image's ``rows_per_image`` rows."""
        per_image = self.rows_per_image
        for start in range(0, n_images * per_image, batch_size):
            rows = torch.arange(start, min(start + batch_size, n_images * per_image))
            yield self.plan(rows // per_image, rows % per_image, draws)

    def plan(self, image_index, position, draws: Draws | None) -> RowPlan:
        """The RowPlan of the rows at ``position`` of the images ``image_index``."""
        alpha, weight, role = self.pattern(image_index, position, draws)
        return RowPlan(image_index, alpha.float(), weight.float(), role, position)

    def draws(self, images: torch.Tensor, generator: torch.Generator | None) -> Draws | None:
        """The random parts of the call's rows, per image (None without random parts)."""
        if not self.random_rows:
            return None
        references = self.baseline if isinstance(self.baseline, ReferenceSet) else None
        size = None if references is None else len(references.images)
        quasi = self.tolerance is not None and self.sampler in QUASI_RANDOM
        replicates = RQMC_REPLICATES if quasi else 1
        return Draws(self.sampler, Streams.of(images, generator), self.samples, size, replicates)

    def chunks(
        self,
        images: torch.Tensor,
        batch_size: int,
        generator: torch.Generator | None,
        plans: Iterable[RowPlan] | None = None,
        draws: Draws | None = None,
    ) -> Iterator[Chunk]:
        """The model inputs of each chunk, x'_r + α_r (x − x'_r) + ε_r, for ``plans`` (made
        with ``draws``) or, by default, the fixed-count plan."""
        fixed = self.fixed_baselines(images, generator)
        if plans is None:
            draws = self.draws(images, generator)
            plans = self.plans(len(images), batch_size, draws)
        for plan in plans:
            yield self._chunk(images, plan, fixed, generator, draws)

    def _chunk(self, images, plan: RowPlan, fixed, generator, draws: Draws | None) -> Chunk:
        """The inputs of one planned chunk (the random parts: ``draws``, samplers.py)."""
        plan.image_index = plan.image_index.to(images.device)
        index = plan.image_index
        x = images[index]
        alpha = plan.alpha.to(x.device, x.dtype).view(-1, 1, 1, 1)
        references = None
        inputs = x
        if fixed is not None:
            inputs = fixed[index] + alpha * (x - fixed[index])
        elif self.baseline is not None:
            if draws is None:
                references = self.baseline(x, index, generator)
            else:
                references = sample_baselines(self.baseline, x, plan, draws)
            inputs = references + alpha * (x - references)
        # the input rows are the images themselves, bit for bit (x' + 1·(x − x') need not be)
        is_input = (plan.role == ROLE_INPUT).to(x.device).view(-1, 1, 1, 1)
        inputs = torch.where(is_input, x, inputs)
        if self.noise > 0:
            is_sample = (plan.role == ROLE_SAMPLE).to(x.device, x.dtype).view(-1, 1, 1, 1)
            # σ × the range of the image itself, not of the interpolated point
            epsilon = draws.normal(plan, "noise", tuple(x.shape[1:])).to(x)
            inputs = inputs + is_sample * epsilon * (self.noise * value_range(x))
        return Chunk(plan, inputs, references if self.reference == OWN_REFERENCE else None)

    def fixed_baselines(
        self, images: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor | None:
        """One baseline per image, shared by its rows (Integrated); None otherwise."""
        return None

    def row_maps(
        self,
        request: Request,
        acc: Accumulator,
        chunk: Chunk,
        captured: Capture,
        used: torch.Tensor,
        weighting: MapFn,
    ) -> torch.Tensor:
        """map(A(x_r) − A(x'_r), G(x_r)) of the chunk's rows ``used`` (before the ReLU)."""
        activations = captured.activations.index_select(0, used)
        index = chunk.plan.image_index.index_select(0, used)
        if self.reference == BASELINE_ROW:
            activations = activations - acc.baseline_activations.index_select(0, index)
        elif self.reference == OWN_REFERENCE:
            references = chunk.references.index_select(0, used)
            activations = activations - activations_at(request.model, request.layer, references)
        return weighting(activations, captured.gradients.index_select(0, used))


class Vanilla(Estimator):
    """The gradient at the input itself (Grad-CAM and its family): one row per image, so the
    estimate is the capture of the images, with no sample rows to plan or reduce."""

    name = "vanilla"
    rows_per_image = 1

    def pattern(self, image_index, position, draws=None):
        one = torch.ones(len(position))
        return one, one, roles(position)

    def estimate(self, request: Request, weighting: MapFn, progress: Progress = None) -> Estimate:
        """A(x), G(x) and the scores of every image, one capture per chunk of images."""
        from faithcam.cams.estimators.reduce import Estimate

        activations, gradients, scores = [], [], []
        for rows, captured in capture_batches(request):
            activations.append(captured.activations)
            gradients.append(captured.gradients)
            scores.append(captured.scores)
            if progress is not None:
                progress(len(rows.inputs))
        return Estimate(torch.cat(activations), torch.cat(gradients), torch.cat(scores))


def check_sigma(name: str, value: float) -> float:
    """``value`` as a float if it is a finite number >= 0."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise FaithcamTypeError(f"{name}: expected a finite number >= 0, got {value!r}")
    if not 0 <= value < float("inf"):
        raise FaithcamValueError(f"{name}: must be a finite number >= 0, got {value}")
    return float(value)


def check_tolerance(value: float | None) -> float | None:
    """None, or ``value`` as a float if it is a finite number > 0."""
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise FaithcamTypeError(f"tolerance: expected a finite number > 0 or None, got {value!r}")
    if not 0 < value < float("inf"):
        raise FaithcamValueError(f"tolerance: must be a finite number > 0, got {value}")
    return float(value)


def check_variant(variant: str, valid: tuple[str, ...]) -> str:
    """``variant`` if it is one of ``valid``."""
    if variant not in valid:
        raise FaithcamValueError(
            f"variant: unknown {variant!r}; valid: {', '.join(repr(v) for v in valid)}"
        )
    return variant
