"""A drop-in for torchcam 0.5's extractors: change ``torchcam`` to
``faithcam.compat.torchcam`` in the imports and the rest of the code stays as it is.

from faithcam.compat.torchcam.methods import GradCAM
from faithcam.compat.torchcam.utils import overlay_mask

See :mod:`faithcam.compat.torchcam.methods` for what is provided and the deliberate
differences.
"""

from faithcam.compat.torchcam import methods, utils

__all__ = ["methods", "utils"]
