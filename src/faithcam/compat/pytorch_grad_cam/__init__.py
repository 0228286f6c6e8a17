"""A drop-in for pytorch-grad-cam 1.5.7: change ``pytorch_grad_cam`` to
``faithcam.compat.pytorch_grad_cam`` in the imports and the rest of the code stays as it is.

from faithcam.compat.pytorch_grad_cam import GradCAM
from faithcam.compat.pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
"""

from faithcam.compat.pytorch_grad_cam import utils
from faithcam.compat.pytorch_grad_cam.base_cam import (
    AblationCAM,
    BaseCAM,
    GradCAM,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    ScoreCAM,
    XGradCAM,
)

__all__ = [
    "AblationCAM",
    "BaseCAM",
    "GradCAM",
    "GradCAMPlusPlus",
    "HiResCAM",
    "LayerCAM",
    "ScoreCAM",
    "XGradCAM",
    "utils",
]
