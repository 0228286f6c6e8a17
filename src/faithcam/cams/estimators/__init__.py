"""Gradient estimators: where the gradient of the target score at the layer is measured, and how
the samples become one map (the formula each implements is in its class docstring).

- :class:`Vanilla`: the input alone (Grad-CAM, Grad-CAM++, XGrad-CAM, HiResCAM, LayerCAM).
- :class:`Integrated`: Integrated Grad-CAM (Sattarzadeh et al., ICASSP 2021).
- :class:`Expected`: Expected Grad-CAM (Buono et al., 2024).
- :class:`Smooth`: SmoothGrad-CAM++ (Omeiza et al., 2019).

The package: :mod:`.base` (the Estimator class and its sample rows), :mod:`.rows` (row plans),
:mod:`.runner` (the one run loop and its stop rule), :mod:`.reduce` (weighted and running
means, Welford), :mod:`.integrated` (+ quadrature rules), :mod:`.sampling` and
:mod:`.samplers` (the Monte-Carlo estimators and how they draw), :mod:`.streams` (each
image's own random streams: the same image, the same map, in any batch).
"""

from __future__ import annotations

from typing import Any

from faithcam.cams.estimators.base import Estimator, Vanilla
from faithcam.cams.estimators.integrated import Integrated
from faithcam.cams.estimators.reduce import Estimate
from faithcam.cams.estimators.rows import ROLE_BASELINE, ROLE_INPUT, ROLE_SAMPLE, Chunk, RowPlan
from faithcam.cams.estimators.sampling import Expected, Smooth
from faithcam.errors import FaithcamTypeError, FaithcamValueError

ESTIMATORS: dict[str, type[Estimator]] = {
    "vanilla": Vanilla,
    "integrated": Integrated,
    "expected": Expected,
    "smooth": Smooth,
}

__all__ = [
    "ESTIMATORS",
    "ROLE_BASELINE",
    "ROLE_INPUT",
    "ROLE_SAMPLE",
    "Chunk",
    "Estimate",
    "Estimator",
    "Expected",
    "Integrated",
    "RowPlan",
    "Smooth",
    "Vanilla",
    "make_estimator",
]


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
