"""pytorch-grad-cam's reshape transforms: layer outputs that are not (B, C, h, w) -> (B, C, h, w).

Pass one as ``reshape_transform=`` to a drop-in class (or to :func:`faithcam.explain`).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F


def fasterrcnn_reshape_transform(x: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """A torchvision FPN's OrderedDict of levels: every |level| resized (bilinear) to the size of
    the level ``"pool"`` and stacked along the channels, in the dict's order."""
    size = x["pool"].shape[-2:]
    return torch.cat(
        [F.interpolate(torch.abs(v), size=size, mode="bilinear") for v in x.values()], dim=1
    )


def swinT_reshape_transform(tensor: torch.Tensor, height: int = 7, width: int = 7):
    """Swin Transformer (B, h·w, C) tokens -> (B, C, h, w) (``height``, ``width``: the grid)."""
    return tensor.reshape(tensor.size(0), height, width, tensor.size(-1)).permute(0, 3, 1, 2)


def vit_reshape_transform(tensor: torch.Tensor, height: int = 14, width: int = 14):
    """ViT (B, 1 + h·w, C) tokens (class token first, dropped) -> (B, C, h, w)."""
    grid = tensor[:, 1:, :].reshape(tensor.size(0), height, width, tensor.size(-1))
    return grid.permute(0, 3, 1, 2)
