"""Interop with the libraries users already have: a pytorch-grad-cam drop-in
(:mod:`faithcam.compat.pytorch_grad_cam`), a Quantus ``explain_func`` and a Captum-style
attribution class."""

from faithcam.interop.for_captum import CaptumLayerCAM
from faithcam.interop.for_quantus import quantus_explain

__all__ = ["CaptumLayerCAM", "quantus_explain"]
