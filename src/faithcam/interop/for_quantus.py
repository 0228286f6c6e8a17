"""A Quantus ``explain_func``: score any faithcam method with any of Quantus's metrics.

metric = quantus.PointingGame()
metric(model=model, x_batch=x, y_batch=y, s_batch=s, explain_func=quantus_explain,
       explain_func_kwargs={"method": "hirescam", "layer": "layer4"})
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from faithcam.api import explain
from faithcam.engine.validation import model_device
from faithcam.errors import FaithcamTypeError, FaithcamValueError

# Keys Quantus may put in explain_func_kwargs that mean nothing to faithcam.
QUANTUS_KEYS = ("channel_first", "softmax", "xai_lib", "reduce_axes")


def quantus_explain(
    model: nn.Module,
    inputs: np.ndarray | torch.Tensor,
    targets: np.ndarray | torch.Tensor | int | None,
    **kwargs: Any,
) -> np.ndarray:
    """Quantus's ``explain_func(model, inputs, targets, **kwargs)``: (N, C, H, W) NumPy inputs
    and (N,) class ids in, (N, 1, H, W) float32 maps in [0, 1] out.

    ``kwargs`` are :func:`faithcam.explain`'s: ``method`` (default ``"gradcam"``), ``layer``,
    ``batch_size``, ``seed``, estimator options...; ``device`` moves the inputs (the model
    stays where it is) and Quantus's own keys (``channel_first``, ``softmax``...) are ignored.
    """
    for key in QUANTUS_KEYS:
        kwargs.pop(key, None)
    device = kwargs.pop("device", None)
    method = kwargs.pop("method", "gradcam")
    layer = kwargs.pop("layer", None)
    if isinstance(inputs, np.ndarray):
        inputs = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    if not isinstance(inputs, torch.Tensor):
        raise FaithcamTypeError(
            f"inputs: expected a NumPy array or tensor, got {type(inputs).__name__}"
        )
    if inputs.dim() != 4:
        raise FaithcamValueError(
            f"inputs: expected channel-first (N, C, H, W) images, got shape {tuple(inputs.shape)}"
        )
    if targets is not None and not isinstance(targets, int):
        targets = torch.as_tensor(np.asarray(targets)).long().reshape(-1)
    inputs = inputs.to(device or model_device(model, inputs.device))
    result = explain(model, inputs, method, targets, layer, **kwargs)
    return result.numpy()[:, None]
