"""A drop-in for pytorch-grad-cam 1.5.7: change ``pytorch_grad_cam`` to
``faithcam.compat.pytorch_grad_cam`` in the imports and the rest of the code stays as it is.

from faithcam.compat.pytorch_grad_cam import GradCAM
from faithcam.compat.pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

Every public class of the peer is here (the 25 of ``dir(pytorch_grad_cam)``), with its
``utils``, ``metrics`` and ``feature_factorization`` modules. Deliberate differences are listed
in each module's docstring (:mod:`~faithcam.compat.pytorch_grad_cam.base_cam` first).
"""

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
