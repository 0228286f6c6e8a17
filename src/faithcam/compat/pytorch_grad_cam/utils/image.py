"""pytorch-grad-cam's image helpers: ``show_cam_on_image``, ``scale_cam_image``,
``preprocess_image`` (same names, arguments and results; no OpenCV needed)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from faithcam.viz import COLORMAP_JET, show_cam_on_image  # noqa: F401

SCALE_EPS = 1e-7  # pytorch-grad-cam's ε in the min-max denominator


def scale_cam_image(
    cam: np.ndarray | torch.Tensor, target_size: tuple[int, int] | None = None
) -> np.ndarray:
    """Per map: (m − min m) / (ε + max(m − min m)), ε = 1e-7, then (optionally) bilinear
    resizing to ``target_size`` = (width, height), as pytorch-grad-cam scales its maps.

    Bilinear resizing uses half-pixel centres (``align_corners=False``), the convention of
    OpenCV's ``cv2.resize`` that the peer calls.
    """
    maps = torch.as_tensor(np.asarray(cam, dtype=np.float32))
    flat = maps.flatten(1)
    maps = maps - flat.min(1).values.view(-1, 1, 1)
    maps = maps / (SCALE_EPS + maps.flatten(1).max(1).values.view(-1, 1, 1))
    if target_size is not None:
        width, height = target_size
        maps = F.interpolate(maps[:, None], size=(height, width), mode="bilinear")[:, 0]
    return maps.numpy().astype(np.float32)


def preprocess_image(
    img: np.ndarray,
    mean: Sequence[float] = (0.5, 0.5, 0.5),
    std: Sequence[float] = (0.5, 0.5, 0.5),
) -> torch.Tensor:
    """(H, W, 3) image (uint8 is divided by 255) -> (1, 3, H, W), normalised by mean / std."""
    array = np.asarray(img)
    array = array.astype(np.float32) / 255.0 if array.dtype == np.uint8 else array
    array = array.astype(np.float32)
    tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
    mean_t = torch.tensor(mean, dtype=tensor.dtype).view(-1, 1, 1)
    std_t = torch.tensor(std, dtype=tensor.dtype).view(-1, 1, 1)
    return ((tensor - mean_t) / std_t)[None]
