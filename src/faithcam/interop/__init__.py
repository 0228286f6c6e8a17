"""Adapters to the libraries users already have: a Quantus ``explain_func`` and a Captum-style
attribution class (the pytorch-grad-cam drop-in is :mod:`faithcam.compat.pytorch_grad_cam`)."""

from faithcam.interop.for_captum import CaptumLayerCAM
from faithcam.interop.for_quantus import quantus_explain

__all__ = ["CaptumLayerCAM", "quantus_explain"]
