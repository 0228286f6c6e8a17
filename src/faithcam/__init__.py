"""faithcam: faithful class activation maps for PyTorch image models.

import faithcam
result = faithcam.explain(model, images, method="expected-gradcam")
result.maps  # (B, H, W) in [0, 1]
"""

import importlib
from typing import Any

from faithcam.api import CamMethod, explain, method_class
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
from faithcam.cams.method import Method, Raw
from faithcam.cams.registry import METHODS, register_method, register_weighting
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

# One class per registered method, named by the registry: faithcam.GradCAM, faithcam.HiResCAM...
for _spec in METHODS.values():
    globals()[_spec.class_name] = method_class(_spec.name)
_METHOD_CLASSES = sorted(_spec.class_name for _spec in METHODS.values())
del _spec

_SUBPACKAGES = ("metrics", "studies", "interop", "compat")


def __getattr__(name: str) -> Any:
    """``faithcam.metrics``, ``.studies``, ``.interop`` and ``.compat``, imported on first use,
    and the classes of methods registered after import."""
    if name in _SUBPACKAGES:
        return importlib.import_module(f"faithcam.{name}")
    for spec in METHODS.values():
        if spec.class_name == name:
            return method_class(spec.name)
    raise AttributeError(f"module 'faithcam' has no attribute {name!r}")


__all__ = [
    *_METHOD_CLASSES,
    "METHODS",
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
    "FaithcamError",
    "FaithcamTypeError",
    "FaithcamValueError",
    "FixedBaseline",
    "GaussianNoise",
    "Integrated",
    "LayerError",
    "Method",
    "MultiLabel",
    "Raw",
    "ReferenceSet",
    "SegmentationTarget",
    "SigmoidProbability",
    "Smooth",
    "Target",
    "TargetError",
    "UniformNoise",
    "Vanilla",
    "__version__",
    "explain",
    "guided_backprop",
    "guided_gradcam",
    "register_method",
    "register_weighting",
]
