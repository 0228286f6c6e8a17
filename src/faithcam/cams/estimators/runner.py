"""The one run loop of the sampling estimators, with its stop rule.

Chunks of at most ``batch_size`` sample rows are planned lazily, run through the capture engine
(:func:`faithcam.engine.capture.capture_batches`) and reduced (:mod:`.reduce`). The stop rule
decides which rows are planned:

- a **fixed count** (``tolerance=None``): every image's ``rows_per_image`` rows, image-major
  (:meth:`Estimator.plans`), reduced with the pattern's weights (:class:`.WeightedMean`);
- a **tolerance** (:class:`Tolerance`): chunks shared by the images not yet converged, until
  each image's map is within the tolerance (:class:`.RunningMean` tracks its error).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch

from faithcam.cams.estimators.reduce import (
    Estimate,
    Replicates,
    RunningMean,
    WeightedMean,
    Welford,
)
from faithcam.cams.estimators.rows import RowPlan
from faithcam.cams.estimators.samplers import Draws
from faithcam.engine.capture import capture_batches

if TYPE_CHECKING:
    from faithcam.cams.estimators.base import Estimator, MapFn, Progress
    from faithcam.engine.request import Request

# Sequential sampling stops once Z × the estimated relative standard error is at most the
# tolerance, after at least MIN samples: stopping at Z = 1 (the first time the noisy estimate
# dips under the tolerance) left half of the maps farther than the tolerance from the reference
# (measured on tests/methods/test_sampling.py's model); Z = 2 and 16 samples leave ≥ 90 % within it.
TOLERANCE_Z, MIN_TOLERANCE_SAMPLES = 2.0, 16


def estimate(
    estimator: Estimator, request: Request, weighting: MapFn, progress: Progress = None
) -> Estimate:
    """Every planned sample row of the request's images through the capture engine, reduced
    to one estimate per image (``weighting`` forms the per-sample maps)."""
    images, generator, batch_size = request.images, request.generator, request.batch_size
    draws = estimator.draws(images, generator)
    if estimator.tolerance is None:
        reducer: WeightedMean | RunningMean = WeightedMean(len(images))
        plans = estimator.plans(len(images), batch_size, draws)
    else:
        replicates, unit = (draws.replicates, draws.unit) if draws is not None else (1, 1)
        reducer = RunningMean(len(images), replicates, unit)
        rule = Tolerance(estimator, reducer.moments, draws)
        plans = rule.plans(len(images), batch_size)
    chunks = estimator.chunks(images, batch_size, generator, plans, draws)
    for chunk, captured in capture_batches(request, rows=chunks):
        reducer.add(estimator, request, chunk, captured, weighting)
        if progress is not None:
            progress(len(chunk.plan))
    return reducer.finish(estimator)


class Tolerance:
    """Sequential sampling: chunks of at most ``batch_size`` rows shared by the images not yet
    converged, until the relative standard error of an image's map,
    RSE = √(Σ_pixels s²/k) / ‖mean‖₂ (s²: running per-pixel variance of its k per-sample maps,
    Welford), satisfies ``TOLERANCE_Z`` · RSE ≤ ``tolerance`` (a two-standard-error bound: the
    map's relative L2 error is then within the tolerance on ≥ 90 % of images), or its
    ``samples`` are used up.

    The variance is the i.i.d. one (Welford) for ``"random"`` and ``"antithetic"`` (conservative
    for antithetic pairs); for the quasi-random samplers the rows are ``RQMC_REPLICATES``
    independent randomisations and the variance is that of their means
    (:class:`.Replicates`), the error a quasi-random mean actually has. It is checked once an
    image has at least ``MIN_TOLERANCE_SAMPLES`` samples, on whole antithetic pairs and equal
    counts per replicate. Images that stop get no more rows.
    """

    def __init__(
        self, estimator: Estimator, moments: Welford | Replicates, draws: Draws | None
    ) -> None:
        self.estimator = estimator
        self.moments = moments
        self.draws = draws
        # checks fall on whole antithetic pairs and equal counts per replicate
        self.step = 1 if draws is None else draws.unit * draws.replicates

    def plans(self, n_images: int, batch_size: int) -> Iterator[RowPlan]:
        """The next chunk's plan, decided after the previous chunk has been reduced."""
        next_position = [0] * n_images
        active = list(range(n_images))
        while active:
            index, position, served = self._block(active, next_position, batch_size)
            # the images served go to the back, so that none waits behind the others
            active = [b for b in active if b not in served] + served
            yield self.estimator.plan(torch.tensor(index), torch.tensor(position), self.draws)
            error = self.moments.relative_standard_error()
            active = [b for b in active if self._sampling(b, next_position[b], error[b])]

    def _block(self, active: list[int], next_position: list[int], batch_size: int):
        """(image index, position) of the next rows of the active images, and who is served."""
        n, share = self.estimator.samples, max(1, batch_size // len(active))
        index: list[int] = []
        position: list[int] = []
        served = []
        for b in active:
            k = min(share, batch_size - len(index), n + 1 - next_position[b])
            if k > (next_position[b] + k - 1) % self.step:
                k -= (next_position[b] + k - 1) % self.step  # end on a whole step
            if k <= 0:
                continue
            index += [b] * k
            position += range(next_position[b], next_position[b] + k)
            next_position[b] += k
            served.append(b)
        return index, position, served

    def _sampling(self, image: int, next_position: int, error: float) -> bool:
        """Whether ``image`` still needs rows: samples left and the tolerance not yet met."""
        n, count = self.estimator.samples, int(self.moments.count[image])
        if next_position > n:
            return False
        floor = min(n, MIN_TOLERANCE_SAMPLES)
        converged = count >= floor and count % self.step == 0
        return not (converged and TOLERANCE_Z * error <= self.estimator.tolerance)
