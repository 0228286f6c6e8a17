"""A drop-in for pytorch-grad-cam 1.5.7: change ``pytorch_grad_cam`` to
``faithcam.compat.pytorch_grad_cam`` in the imports and the rest of the code stays as it is.

from faithcam.compat.pytorch_grad_cam import GradCAM
from faithcam.compat.pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

Every public class of the peer is here (the 25 of ``dir(pytorch_grad_cam)``), with its
``utils``, ``metrics`` and ``feature_factorization`` modules. Deliberate differences are listed
in each module's docstring (:mod:`~faithcam.compat.pytorch_grad_cam.base_cam` first).
"""

import sys as _sys
import types as _types

from faithcam.compat.pytorch_grad_cam import metrics, utils
from faithcam.compat.pytorch_grad_cam.ablation_layer import (
    AblationLayer,
    AblationLayerFasterRCNN,
    AblationLayerVit,
)
from faithcam.compat.pytorch_grad_cam.activation_cams import (
    FEM,
    KPCA_CAM,
    EigenCAM,
    FullGrad,
    RandomCAM,
    ShapleyCAM,
)
from faithcam.compat.pytorch_grad_cam.activations_and_gradients import ActivationsAndGradients
from faithcam.compat.pytorch_grad_cam.base_cam import (
    AblationCAM,
    BaseCAM,
    EigenGradCAM,
    GradCAM,
    GradCAMElementWise,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    ScoreCAM,
    SegEigenCAM,
    XGradCAM,
)
from faithcam.compat.pytorch_grad_cam.feature_factorization import (
    DeepFeatureFactorization,
    run_dff_on_image,
)
from faithcam.compat.pytorch_grad_cam.guided_backprop import GuidedBackpropReLUModel
from faithcam.compat.pytorch_grad_cam.meta_methods import FinerCAM, RefineCAM
from faithcam.compat.pytorch_grad_cam.sess import SESS

__all__ = [
    "FEM",
    "KPCA_CAM",
    "SESS",
    "AblationCAM",
    "AblationLayer",
    "AblationLayerFasterRCNN",
    "AblationLayerVit",
    "ActivationsAndGradients",
    "BaseCAM",
    "DeepFeatureFactorization",
    "EigenCAM",
    "EigenGradCAM",
    "FinerCAM",
    "FullGrad",
    "GradCAM",
    "GradCAMElementWise",
    "GradCAMPlusPlus",
    "GuidedBackpropReLUModel",
    "HiResCAM",
    "LayerCAM",
    "RandomCAM",
    "RefineCAM",
    "ScoreCAM",
    "SegEigenCAM",
    "ShapleyCAM",
    "XGradCAM",
    "metrics",
    "run_dff_on_image",
    "utils",
]

# The peer's per-method module paths (``from pytorch_grad_cam.grad_cam import GradCAM``, as its
# tests and many notebooks write) are aliases of this package's classes.
PEER_MODULES = {
    "ablation_cam": ("AblationCAM", "AblationLayer"),
    "eigen_cam": ("EigenCAM",),
    "eigen_grad_cam": ("EigenGradCAM",),
    "fem": ("FEM",),
    "finer_cam": ("FinerCAM",),
    "fullgrad_cam": ("FullGrad",),
    "grad_cam": ("GradCAM",),
    "grad_cam_elementwise": ("GradCAMElementWise",),
    "grad_cam_plusplus": ("GradCAMPlusPlus",),
    "hirescam": ("HiResCAM",),
    "kpca_cam": ("KPCA_CAM",),
    "layer_cam": ("LayerCAM",),
    "random_cam": ("RandomCAM",),
    "refine_cam": ("RefineCAM",),
    "score_cam": ("ScoreCAM",),
    "seg_eigen_cam": ("SegEigenCAM",),
    "shapley_cam": ("ShapleyCAM",),
    "xgrad_cam": ("XGradCAM",),
}
for _path, _names in PEER_MODULES.items():
    _module = _types.ModuleType(f"{__name__}.{_path}", f"pytorch-grad-cam's {_path} module")
    for _name in _names:
        setattr(_module, _name, globals()[_name])
    _sys.modules[_module.__name__] = globals()[_path] = _module
