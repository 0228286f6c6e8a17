"""Re-export of :mod:`faithcam.interop.compat.pytorch_grad_cam.utils.image`."""

from faithcam.interop.compat.pytorch_grad_cam.utils.image import *  # noqa: F403
from faithcam.interop.compat.pytorch_grad_cam.utils.image import (  # noqa: F401
    COLORMAP_JET,
    preprocess_image,
    scale_cam_image,
    show_cam_on_image,
)
