"""``faithcam.compat.pytorch_grad_cam``: see :mod:`faithcam.interop.compat.pytorch_grad_cam`."""

from faithcam.interop.compat.pytorch_grad_cam import *  # noqa: F403
from faithcam.interop.compat.pytorch_grad_cam import __all__, __doc__  # noqa: F401
