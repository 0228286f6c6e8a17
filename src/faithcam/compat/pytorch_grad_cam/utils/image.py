"""pytorch-grad-cam's image helpers: ``show_cam_on_image``, ``scale_cam_image``,
``preprocess_image`` (same names, arguments and results; no OpenCV needed)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from faithcam.errors import FaithcamValueError

COLORMAP_JET = 2  # OpenCV's constant for its jet colormap (cv2.COLORMAP_JET)
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


def _jet(values: np.ndarray, colormap: int | str) -> np.ndarray:
    """(H, W) uint8 -> (H, W, 3) RGB uint8 through the named colormap."""
    if isinstance(colormap, str):
        from matplotlib import colormaps

        return (colormaps[colormap](values)[..., :3] * 255).round().astype(np.uint8)
    try:
        import cv2
    except ImportError:
        if colormap != COLORMAP_JET:
            raise FaithcamValueError(
                f"colormap: OpenCV colormap {colormap} needs opencv-python; pass a matplotlib "
                "colormap name instead"
            ) from None
        return _jet(values, "jet")
    return cv2.applyColorMap(values, colormap)[..., ::-1]


def show_cam_on_image(
    img: np.ndarray,
    mask: np.ndarray,
    use_rgb: bool = False,
    colormap: int | str = COLORMAP_JET,
    image_weight: float = 0.5,
) -> np.ndarray:
    """Blend the jet-coloured ``mask`` (H, W) in [0, 1] over ``img`` (H, W, 3) float in [0, 1]:
    v = (1 − w) · heat + w · img, returned as uint8(255 · v / max v), w = ``image_weight``.

    As in pytorch-grad-cam the heat map is BGR unless ``use_rgb=True``; ``colormap`` is an
    OpenCV colormap id (used through OpenCV when installed) or a matplotlib colormap name.
    """
    img = np.asarray(img)
    if np.max(img) > 1:
        raise FaithcamValueError("img: expected np.float32 values in [0, 1], got values above 1")
    if not 0 <= image_weight <= 1:
        raise FaithcamValueError(f"image_weight: expected a value in [0, 1], got {image_weight}")
    mask = np.asarray(mask)
    if mask.shape != img.shape[:2]:
        raise FaithcamValueError(f"mask: shape {mask.shape} does not match img {img.shape[:2]}")
    heat_rgb = _jet(np.uint8(255 * mask), colormap)
    heat = (heat_rgb if use_rgb else heat_rgb[..., ::-1]).astype(np.float32) / 255
    blended = (1 - image_weight) * heat + image_weight * img
    blended = blended / np.max(blended)
    return np.uint8(255 * blended)


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
