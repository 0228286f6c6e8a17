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
    cam: np.ndarray | torch.Tensor, target_size: Sequence[int] | None = None
) -> np.ndarray:
    """Per map: (m − min m) / (ε + max(m − min m)), ε = 1e-7, then (optionally) resizing to
    ``target_size``, as pytorch-grad-cam scales its maps.

    2-D maps: ``target_size`` = (width, height), bilinear with half-pixel centres
    (``align_corners=False``), the convention of OpenCV's ``cv2.resize`` that the peer calls.
    3-D maps (T, h, w) of a 3-D convolution: ``target_size`` = (w, h, T), reversed as the peer
    reads it, resized by ``scipy.ndimage.zoom`` (cubic spline, order 3), as the peer resizes them.
    """
    maps = torch.as_tensor(np.asarray(cam, dtype=np.float32))
    flat = maps.flatten(1)
    ones = [1] * (maps.dim() - 1)
    maps = maps - flat.min(1).values.view(-1, *ones)
    maps = maps / (SCALE_EPS + maps.flatten(1).max(1).values.view(-1, *ones))
    if target_size is not None and maps.dim() > 3:
        return np.stack([zoom_volume(one, target_size) for one in maps.numpy()]).astype(np.float32)
    if target_size is not None:
        width, height = target_size
        maps = F.interpolate(maps[:, None], size=(height, width), mode="bilinear")[:, 0]
    return maps.numpy().astype(np.float32)


def zoom_volume(volume: np.ndarray, target_size: Sequence[int]) -> np.ndarray:
    """A (T, h, w) map resized to ``target_size`` reversed, (T', h', w'), by a cubic spline
    (``scipy.ndimage.zoom``, its defaults: order 3, constant mode)."""
    from scipy.ndimage import zoom

    factors = [new / old for old, new in zip(volume.shape, target_size[::-1], strict=True)]
    return zoom(np.float32(volume), factors)


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


def deprocess_image(img: np.ndarray) -> np.ndarray:
    """A gradient image for display: standardised (ε = 1e-5), × 0.1 + 0.5, clipped to [0, 1],
    as uint8."""
    img = img - np.mean(img)
    img = img / (np.std(img) + 1e-5)
    return np.uint8(np.clip(img * 0.1 + 0.5, 0, 1) * 255)


def scale_accross_batch_and_channels(tensor: np.ndarray, target_size: tuple[int, int]):
    """(B, C, h, w) -> (B, C, H, W): every (b, c) map min-max scaled and resized to
    ``target_size`` = (W, H) (the peer's spelling of the name)."""
    batch, channels = tensor.shape[:2]
    flat = scale_cam_image(np.asarray(tensor).reshape(batch * channels, *tensor.shape[2:]),
                           target_size)  # fmt: skip
    return flat.reshape(batch, channels, target_size[1], target_size[0])


def create_labels_legend(concept_scores: np.ndarray, labels: dict[int, str], top_k: int = 2):
    """Per concept, its ``top_k`` categories as "label:score" lines (the first 3 comma-separated
    names of each label)."""
    legends = []
    for scores in np.asarray(concept_scores):
        best = np.argsort(scores)[::-1][:top_k]
        lines = [f"{','.join(labels[c].split(',')[:3])}:{scores[c]:.2f}" for c in best]
        legends.append("\n".join(lines))
    return legends


def show_factorization_on_image(
    img: np.ndarray,
    explanations: np.ndarray,
    colors: Sequence[np.ndarray] | None = None,
    image_weight: float = 0.5,
    concept_labels: Sequence[str] | None = None,
) -> np.ndarray:
    """Each pixel coloured by its strongest component (``explanations``: (n, H, W) in [0, 1]),
    the colour's brightness set to that component's value (its HSV value V = 255 e), blended
    with the RGB float image ``img``; with ``concept_labels`` a legend is appended on the right.
    Colours default to matplotlib's gist_rainbow at i / n."""
    from matplotlib import colormaps

    explanations = np.asarray(explanations, dtype=np.float32)
    n = explanations.shape[0]
    if colors is None:
        colors = [np.array(colormaps["gist_rainbow"](i / n)) for i in range(n)]
    strongest = explanations.argmax(axis=0)
    mask = np.zeros((*explanations.shape[1:], 3), np.float32)
    for i in range(n):
        rgb = np.asarray(colors[i][:3], np.float32)
        value = np.where(strongest == i, explanations[i], 0.0)
        mask += value[..., None] * (rgb / max(float(rgb.max()), 1e-12))  # same hue, V = value
    result = np.uint8((img * image_weight + mask * (1 - image_weight)) * 255)
    if concept_labels is None:
        return result
    return np.hstack((result, legend_image(colors, concept_labels, result.shape[:2])))


def legend_image(colors, labels, size: tuple[int, int]) -> np.ndarray:
    """An (H, W, 3) uint8 picture of a legend: a line of each colour beside its label."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import pyplot as plt
    from matplotlib.lines import Line2D

    height, width = size
    dpi = plt.rcParams["figure.dpi"]
    figure = plt.figure(figsize=(width / dpi, height / dpi))
    try:
        width_of_line = 5 * height / 256
        lines = [Line2D([0], [0], color=c, lw=width_of_line) for c in colors]
        font = int(14 * height / 256 / max(1, len(colors) / 6))
        figure.legend(lines, labels, mode="expand", fancybox=True, shadow=True, fontsize=font)
        figure.canvas.draw()
        data = np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
    finally:
        plt.close(figure)
    resized = F.interpolate(torch.from_numpy(data).permute(2, 0, 1)[None].float(), size=size,
                            mode="bilinear")  # fmt: skip
    return resized[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()
