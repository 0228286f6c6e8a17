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
from faithcam.cams.guided import guided_backprop, guided_gradcam
from faithcam.cams.methods import (
    CAM,
    ISCAM,
    KPCACAM,
    METHODS,
    SSCAM,
    AblationCAM,
    CamMethod,
    EigenCAM,
    EigenGradCAM,
    ExpectedGradCAM,
    FinerCAM,
    FullGrad,
    GradCAM,
    GradCAMElementWise,
    GradCAMPlusPlus,
    GuidedGradCAM,
    HiResCAM,
    IntegratedGradCAM,
    LayerCAM,
    RandomCAM,
    ScoreCAM,
    ShapleyCAM,
    SmoothGradCAMPlusPlus,
    XGradCAM,
    explain,
)
from faithcam.engine.result import CamResult
from faithcam.engine.targets import CallableTarget, ClassLogit, ClassProbability, Target
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
    "ISCAM",
    "KPCACAM",
    "METHODS",
    "SSCAM",
    "AblationCAM",
    "Baseline",
    "Black",
    "Blur",
    "CallableTarget",
    "CamMethod",
    "CamResult",
    "ClassLogit",
    "ClassProbability",
    "EigenCAM",
    "EigenGradCAM",
    "Expected",
    "ExpectedGradCAM",
    "FaithcamError",
    "FaithcamTypeError",
    "FaithcamValueError",
    "FinerCAM",
    "FixedBaseline",
    "FullGrad",
    "GaussianNoise",
    "GradCAM",
    "GradCAMElementWise",
    "GradCAMPlusPlus",
    "GuidedGradCAM",
    "HiResCAM",
    "Integrated",
    "IntegratedGradCAM",
    "LayerCAM",
    "LayerError",
    "RandomCAM",
    "ReferenceSet",
    "ScoreCAM",
    "ShapleyCAM",
    "Smooth",
    "SmoothGradCAMPlusPlus",
    "Target",
    "TargetError",
    "UniformNoise",
    "Vanilla",
    "XGradCAM",
    "__version__",
    "explain",
    "guided_backprop",
    "guided_gradcam",
]
