"""ROAD (Rong et al., "A Consistent and Efficient Evaluation Strategy for Attribution Methods",
ICML 2022) in pytorch-grad-cam 1.5.7's classes: the removed pixels are filled by noisy linear
imputation (:func:`faithcam.metrics.road.noisy_linear_imputation`: each removed pixel the
weighted mean of its 8 neighbours, 1/6 direct and 1/12 diagonal, solved as one sparse system,
plus noise σ = 0.01), and the metric is the confidence change s(x̃) − s(x).

Most relevant first (MoRF) removes the pixels at or above the map's ``percentile``; least
relevant first (LeRF) those of 1 − M; the averages take the mean over percentiles; ROADCombined
is (LeRF − MoRF) / 2.

Difference from the peer, on purpose: the imputation noise comes from a generator seeded with 0
per image (the peer draws from torch's global generator), so the scores are reproducible; with
``NoisyLinearImputer(noise=0)`` both agree exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from faithcam.compat.pytorch_grad_cam.metrics.perturbation_confidence import (
    AveragerAcrossThresholds,
    PerturbationConfidenceMetric,
    RemoveLeastRelevantFirst,
    RemoveMostRelevantFirst,
)
from faithcam.metrics.road import noisy_linear_imputation

PERCENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)


class NoisyLinearImputer:
    """``imputer(img (C, H, W), mask (H, W))``: the pixels where the mask is 0 imputed."""

    def __init__(self, noise: float = 0.01, weighting: Sequence | None = None) -> None:
        self.noise = (
            noise  # the neighbour weights are ROAD's (``weighting`` is ignored, as by the peer)
        )

    def __call__(self, img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        removed = torch.as_tensor(mask).reshape(img.shape[-2:]) == 0
        return noisy_linear_imputation(img.float(), removed, noise=self.noise)


class ROADMostRelevantFirst(PerturbationConfidenceMetric):
    """Confidence change after imputing the pixels at or above the ``percentile`` of the map."""

    def __init__(self, percentile: float | str = 80) -> None:
        super().__init__(RemoveMostRelevantFirst(percentile, NoisyLinearImputer()))


class ROADLeastRelevantFirst(PerturbationConfidenceMetric):
    """Confidence change after imputing the least relevant pixels (``percentile`` of 1 − M)."""

    def __init__(self, percentile: float | str = 20) -> None:
        super().__init__(RemoveLeastRelevantFirst(percentile, NoisyLinearImputer()))


class ROADMostRelevantFirstAverage(AveragerAcrossThresholds):
    def __init__(self, percentiles: Sequence[float] = PERCENTILES) -> None:
        super().__init__(ROADMostRelevantFirst, percentiles)


class ROADLeastRelevantFirstAverage(AveragerAcrossThresholds):
    def __init__(self, percentiles: Sequence[float] = PERCENTILES) -> None:
        super().__init__(ROADLeastRelevantFirst, percentiles)


class ROADCombined:
    """(mean LeRF change − mean MoRF change) / 2 over ``percentiles``: higher is better."""

    def __init__(self, percentiles: Sequence[float] = PERCENTILES) -> None:
        self.percentiles = list(percentiles)
        self.morf_averager = ROADMostRelevantFirstAverage(percentiles)
        self.lerf_averager = ROADLeastRelevantFirstAverage(percentiles)

    def __call__(self, input_tensor, cams, targets, model) -> np.ndarray:
        lerf = self.lerf_averager(input_tensor, cams, targets, model)
        morf = self.morf_averager(input_tensor, cams, targets, model)
        return (lerf - morf) / 2
