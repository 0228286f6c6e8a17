"""A drop-in for torchcam 0.5's extractors: change ``torchcam`` to
``faithcam.compat.torchcam`` in the imports and the rest of the code stays as it is.

from faithcam.compat.torchcam.methods import GradCAM
from faithcam.compat.torchcam.utils import overlay_mask
from faithcam.compat.torchcam.metrics import ClassificationMetric

See :mod:`faithcam.compat.torchcam.methods` for what is provided and the deliberate
differences.
"""

from faithcam.compat.torchcam import methods, metrics, utils

__all__ = ["methods", "metrics", "utils"]
