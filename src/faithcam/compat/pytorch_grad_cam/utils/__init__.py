"""pytorch-grad-cam's ``utils``: model targets, image helpers, reshape transforms, layer search
and the projections on principal components."""

from faithcam.compat.pytorch_grad_cam.utils import (
    find_layers,
    image,
    model_targets,
    reshape_transforms,
    svd_on_activations,
)

__all__ = ["find_layers", "image", "model_targets", "reshape_transforms", "svd_on_activations"]
