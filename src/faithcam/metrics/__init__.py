"""Faithfulness, localisation, axiom, robustness and sanity metrics for saliency maps.

Every metric takes maps from any source (faithcam or not) as a (B, H, W) tensor or array and
returns a :class:`MetricResult`: per-image ``values`` plus ``mean`` and a 95 % confidence
interval. Model-based metrics run under ``torch.inference_mode`` in chunks of ``batch_size``
and never change the model's mode or parameters (put the model in ``eval()`` mode yourself).
:func:`evaluate` runs several methods through several metrics at once.
"""

from faithcam.metrics._common import MetricResult
from faithcam.metrics.axioms import conservation_violation, sensitivity_violation
from faithcam.metrics.completeness import completeness
from faithcam.metrics.evaluate import METRICS, EvaluationTable, evaluate
from faithcam.metrics.faithfulness import (
    average_drop,
    deletion,
    increase_in_confidence,
    insertion,
)
from faithcam.metrics.localization import (
    bbox_accuracy,
    boxes_to_masks,
    energy_pointing_game,
    pointing_game,
)
from faithcam.metrics.road import noisy_linear_imputation, road
from faithcam.metrics.robustness import infidelity, max_sensitivity
from faithcam.metrics.sanity import model_randomisation, randomisable_layers

__all__ = [
    "METRICS",
    "EvaluationTable",
    "MetricResult",
    "average_drop",
    "bbox_accuracy",
    "boxes_to_masks",
    "completeness",
    "conservation_violation",
    "deletion",
    "energy_pointing_game",
    "evaluate",
    "increase_in_confidence",
    "infidelity",
    "insertion",
    "max_sensitivity",
    "model_randomisation",
    "noisy_linear_imputation",
    "pointing_game",
    "randomisable_layers",
    "road",
    "sensitivity_violation",
]
