"""torchcam's ``overlay_mask``: a colormapped CAM blended over a PIL image."""

from __future__ import annotations

import numpy as np
from PIL import Image

from faithcam.errors import FaithcamTypeError, FaithcamValueError


def overlay_mask(
    img: Image.Image, mask: Image.Image, colormap: str = "jet", alpha: float = 0.7
) -> Image.Image:
    """``img`` (RGB or grayscale) blended with the colormapped ``mask`` (a grayscale PIL image,
    values in [0, 1] for mode ``"F"``): the mask is resized to ``img`` (bicubic), squared,
    colormapped, and the result is ``(1 − alpha) · overlay + alpha · img``, as torchcam 0.5."""
    from matplotlib import colormaps

    if not isinstance(img, Image.Image) or not isinstance(mask, Image.Image):
        raise FaithcamTypeError("img, mask: expected PIL images")
    if not isinstance(alpha, float) or not 0 <= alpha < 1:
        raise FaithcamValueError(f"alpha: expected a float in [0, 1), got {alpha!r}")
    if len(img.getbands()) not in (1, 3):
        raise FaithcamValueError(f"img: expected a grayscale or RGB image, got mode {img.mode}")
    resized = np.asarray(mask.resize(img.size, resample=Image.Resampling.BICUBIC))
    colored = colormaps[colormap](resized**2, bytes=True)[:, :, :3]
    if img.mode in ("L", "RGB"):
        return Image.blend(Image.fromarray(colored), img.convert("RGB"), alpha)
    background = np.asarray(img.convert("RGB"), dtype=np.float64)
    return Image.fromarray((alpha * background + (1 - alpha) * colored).astype(np.uint8))
