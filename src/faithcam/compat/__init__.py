"""Drop-in replacements for other CAM libraries: :mod:`faithcam.compat.pytorch_grad_cam`."""

from faithcam.compat import pytorch_grad_cam

__all__ = ["pytorch_grad_cam"]
