"""Re-export of :mod:`faithcam.interop.compat.pytorch_grad_cam.utils.model_targets`."""

from faithcam.interop.compat.pytorch_grad_cam.utils.model_targets import *  # noqa: F403
