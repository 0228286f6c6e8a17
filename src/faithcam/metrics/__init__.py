"""Faithfulness, localization, axiom, robustness and sanity metrics for saliency maps.

Every metric takes maps from any source (faithcam or not) as a (B, H, W) tensor or array, and
targets in the vocabulary of :func:`faithcam.explain` (:mod:`faithcam.metrics.scoring`), and
returns a :class:`MetricResult`: per-image ``values`` plus ``mean`` and a 95 % confidence
interval that stays inside the metric's range. Model-based metrics run under
``torch.inference_mode`` in chunks of ``batch_size`` and never change the model's mode or
parameters. :func:`evaluate` runs several methods through several metrics at once; the metric
registry (:data:`METRICS`, :func:`register_metric`) says what each metric needs.
"""

from faithcam.metrics._common import MetricResult
from faithcam.metrics.axioms import conservation_violation, sensitivity_violation
from faithcam.metrics.completeness import completeness
from faithcam.metrics.evaluate import EvaluationTable, evaluate
from faithcam.metrics.faithfulness import (
    CURVE_STEPS,
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
from faithcam.metrics.registry import (
    METRICS,
    MetricSpec,
    metric_bounds,
    metric_spec,
    register_metric,
)
from faithcam.metrics.road import noisy_linear_imputation, road
from faithcam.metrics.robustness import infidelity, max_sensitivity
from faithcam.metrics.sanity import (
    model_randomisation,
    model_randomization,
    randomisable_layers,
    randomizable_layers,
)

__all__ = [
    "CURVE_STEPS",
    "METRICS",
    "EvaluationTable",
    "MetricResult",
    "MetricSpec",
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
    "metric_bounds",
    "metric_spec",
    "model_randomisation",
    "model_randomization",
    "noisy_linear_imputation",
    "pointing_game",
    "randomisable_layers",
    "randomizable_layers",
    "register_metric",
    "road",
    "sensitivity_violation",
]
