"""A Captum-style attribution class, so faithcam methods drop into Captum pipelines.

``CaptumLayerCAM(model, model.layer4, method="gradcam").attribute(inputs, target=3)`` returns
what ``captum.attr.LayerGradCam(model, model.layer4).attribute(inputs, target=3)`` returns:
the signed (N, 1, h, w) map at the layer's resolution, Σ_k w_k A^k; ``relu_attributions=True``
applies the ReLU, and Captum's ``LayerAttribution.interpolate`` upsamples it. Any faithcam
method can stand behind it (``method="hirescam"``, ``"expected-gradcam"``...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from faithcam.api import explain
from faithcam.cams.registry import method_spec
from faithcam.engine.validation import check_model
from faithcam.errors import FaithcamNotImplementedError, FaithcamTypeError


class CaptumLayerCAM:
    """Captum's ``LayerGradCam`` interface over :func:`faithcam.explain`.

    Args:
        forward_func: the model (a ``torch.nn.Module``; faithcam hooks its layer).
        layer: the module whose output is explained.
        method: any faithcam method name; ``**options`` go to :func:`faithcam.explain`.
    """

    def __init__(
        self, forward_func: nn.Module, layer: nn.Module, method: str = "gradcam", **options: Any
    ) -> None:
        self.forward_func = check_model(forward_func)
        if not isinstance(layer, nn.Module):
            raise FaithcamTypeError(f"layer: expected a module, got {type(layer).__name__}")
        method_spec(method)
        self.layer = layer
        self.method = method
        self.options = options

    def attribute(
        self,
        inputs: torch.Tensor,
        target: int | Sequence[int] | torch.Tensor | None = None,
        additional_forward_args: Any = None,
        attribute_to_layer_input: bool = False,
        relu_attributions: bool = False,
        attr_dim_summation: bool = True,
    ) -> torch.Tensor:
        """The (N, 1, h, w) map of ``inputs`` for ``target`` (None: the predicted class)."""
        for name, value, default in (
            ("additional_forward_args", additional_forward_args, None),
            ("attribute_to_layer_input", attribute_to_layer_input, False),
            ("attr_dim_summation", attr_dim_summation, True),
        ):
            if value != default:
                raise FaithcamNotImplementedError(
                    f"{name}: not supported by CaptumLayerCAM; leave it {default!r}"
                )
        if isinstance(target, tuple):
            raise FaithcamNotImplementedError(
                "target: tuple targets index multi-dimensional outputs; give class ids"
            )
        result = explain(self.forward_func, inputs, self.method, target, self.layer, **self.options)
        maps = result.raw_maps[:, None]
        return maps.clamp(min=0) if relu_attributions else maps

    def has_convergence_delta(self) -> bool:
        """Captum's attribution API: CAMs have no convergence delta."""
        return False
