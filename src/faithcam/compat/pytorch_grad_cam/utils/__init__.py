"""Re-export of :mod:`faithcam.interop.compat.pytorch_grad_cam.utils`."""

from faithcam.compat.pytorch_grad_cam.utils import image, model_targets

__all__ = ["image", "model_targets"]
