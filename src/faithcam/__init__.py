"""faithcam: faithful class activation maps for PyTorch image models.

import faithcam
result = faithcam.explain(model, images, method="expected-gradcam")
result.maps  # (B, H, W) in [0, 1]
"""

from faithcam.cams.baselines import (
    Baseline,
    Black,
    Blur,
    FixedBaseline,
    GaussianNoise,
    ReferenceSet,
    UniformNoise,
)
from faithcam.cams.estimators import Expected, Integrated, Smooth, Vanilla
from faithcam.cams.methods import (
    CAM,
    METHODS,
    AblationCAM,
    CamMethod,
    ExpectedGradCAM,
    GradCAM,
    GradCAMPlusPlus,
    HiResCAM,
    IntegratedGradCAM,
    LayerCAM,
    ScoreCAM,
    SmoothGradCAMPlusPlus,
    XGradCAM,
    explain,
)
from faithcam.engine.result import CamResult
from faithcam.engine.targets import (
    CallableTarget,
    ClassLogit,
    ClassProbability,
    DetectionTarget,
    MultiLabel,
    SegmentationTarget,
    SigmoidProbability,
    Target,
)
from faithcam.errors import (
    FaithcamError,
    FaithcamTypeError,
    FaithcamValueError,
    LayerError,
    TargetError,
)

__version__ = "0.1.0"

__all__ = [
    "CAM",
    "METHODS",
    "AblationCAM",
    "Baseline",
    "Black",
    "Blur",
    "CallableTarget",
    "CamMethod",
    "CamResult",
    "ClassLogit",
    "ClassProbability",
    "DetectionTarget",
    "Expected",
    "ExpectedGradCAM",
    "FaithcamError",
    "FaithcamTypeError",
    "FaithcamValueError",
    "FixedBaseline",
    "GaussianNoise",
    "GradCAM",
    "GradCAMPlusPlus",
    "HiResCAM",
    "Integrated",
    "IntegratedGradCAM",
    "LayerCAM",
    "LayerError",
    "MultiLabel",
    "ReferenceSet",
    "ScoreCAM",
    "SegmentationTarget",
    "SigmoidProbability",
    "Smooth",
    "SmoothGradCAMPlusPlus",
    "Target",
    "TargetError",
    "UniformNoise",
    "Vanilla",
    "XGradCAM",
    "__version__",
    "explain",
]
