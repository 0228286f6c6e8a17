"""pytorch-grad-cam's ``utils``: model targets and image helpers."""

from faithcam.compat.pytorch_grad_cam.utils import image, model_targets

__all__ = ["image", "model_targets"]
