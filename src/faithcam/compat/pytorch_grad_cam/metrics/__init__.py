"""pytorch-grad-cam 1.5.7's ``metrics``: confidence change after perturbing the image by the
CAM (``cam_mult_image``), ROAD (``road``), ARCC (``arcc``) and their building blocks
(``perturbation_confidence``)."""

from faithcam.compat.pytorch_grad_cam.metrics import (
    arcc,
    cam_mult_image,
    perturbation_confidence,
    road,
)

__all__ = ["arcc", "cam_mult_image", "perturbation_confidence", "road"]
