"""Drop-in replacements for other CAM libraries: :mod:`faithcam.compat.pytorch_grad_cam` and
:mod:`faithcam.compat.torchcam`."""

from faithcam.compat import pytorch_grad_cam, torchcam

__all__ = ["pytorch_grad_cam", "torchcam"]
