"""Visualisation: heat-map overlays with a perceptually uniform colormap, and method grids.

NumPy and matplotlib live here, at the edge; the rest of faithcam is tensors in, tensors out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from faithcam.errors import FaithcamValueError

DEFAULT_COLORMAP = "inferno"  # perceptually uniform, readable in grey-scale print


def _as_hwc(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """(3, H, W) / (H, W, 3) tensor or array in [0, 1] (or uint8) -> (H, W, 3) float32."""
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = np.moveaxis(array, 0, -1)
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    if array.ndim == 2:
        array = array[..., None]
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return np.clip(array.astype(np.float32), 0.0, 1.0)


def colorize(heatmap: np.ndarray | torch.Tensor, colormap: str = DEFAULT_COLORMAP) -> np.ndarray:
    """A (H, W) map in [0, 1] -> (H, W, 3) RGB float32 through a matplotlib colormap."""
    from matplotlib import colormaps

    values = heatmap.detach().cpu().numpy() if isinstance(heatmap, torch.Tensor) else heatmap
    values = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    return colormaps[colormap](values)[..., :3].astype(np.float32)


def overlay(
    image: np.ndarray | torch.Tensor,
    heatmap: np.ndarray | torch.Tensor,
    alpha: float = 0.5,
    colormap: str = DEFAULT_COLORMAP,
) -> np.ndarray:
    """Blend a [0, 1] heat map over an image: (1 − α·m) · image + α·m · colormap(m).

    The blend weight follows the map, so regions with no evidence show the image unchanged.
    Returns an (H, W, 3) uint8 array.
    """
    if not 0.0 <= alpha <= 1.0:
        raise FaithcamValueError(f"alpha: expected a value in [0, 1], got {alpha}")
    rgb = _as_hwc(image)
    values = heatmap.detach().cpu().numpy() if isinstance(heatmap, torch.Tensor) else heatmap
    values = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    if values.shape != rgb.shape[:2]:
        raise FaithcamValueError(
            f"heatmap: shape {values.shape} does not match the image size {rgb.shape[:2]}"
        )
    weight = alpha * values[..., None]
    blended = (1 - weight) * rgb + weight * colorize(values, colormap)
    return (np.clip(blended, 0, 1) * 255).round().astype(np.uint8)


def plain_text(text: str) -> str:
    """``text`` shown literally by matplotlib: ``$`` escaped, so a class name such as
    ``$\\foo$`` is not parsed as mathtext (which would fail on unknown commands)."""
    return str(text).replace("$", r"\$")


def _pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(figure, path: str | Path) -> Path:
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    _pyplot().close(figure)
    return path


def method_grid(
    image: np.ndarray | torch.Tensor,
    maps: dict[str, np.ndarray | torch.Tensor],
    path: str | Path,
    title: str = "",
    alpha: float = 0.5,
    colormap: str = DEFAULT_COLORMAP,
    columns: int | None = None,
) -> Path:
    """Save a grid: the image, then one overlay per method, titled by method name."""
    plt = _pyplot()
    panels: list[tuple[str, np.ndarray]] = [("input", (_as_hwc(image) * 255).astype(np.uint8))]
    panels += [(name, overlay(image, m, alpha, colormap)) for name, m in maps.items()]
    columns = columns or min(len(panels), 5)
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(2.6 * columns, 2.8 * rows + 0.4), squeeze=False
    )
    for axis in axes.flat:
        axis.axis("off")
    for axis, (name, panel) in zip(axes.flat, panels, strict=False):
        axis.imshow(panel)
        axis.set_title(plain_text(name), fontsize=10)
    if title:
        figure.suptitle(plain_text(title), fontsize=11)
    return _save_figure(figure, path)


def curves_plot(
    curves: dict[str, np.ndarray], fraction: np.ndarray, path: str | Path, title: str
) -> Path:
    """Save deletion/insertion style curves, one line per method."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(4.2, 3.2))
    for name, curve in curves.items():
        axis.plot(fraction, curve, label=name, linewidth=1.4)
    axis.set_xlabel("fraction of pixels")
    axis.set_ylabel("target probability")
    axis.set_title(plain_text(title), fontsize=10)
    for line in axis.get_lines():
        line.set_label(plain_text(line.get_label()))
    axis.legend(fontsize=7)
    return _save_figure(figure, path)


def save_overlay(
    image: np.ndarray | torch.Tensor,
    heatmap: np.ndarray | torch.Tensor,
    path: str | Path,
    alpha: float = 0.5,
    colormap: str = DEFAULT_COLORMAP,
) -> Path:
    """Save one overlay as a PNG."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(overlay(image, heatmap, alpha, colormap)).save(path)
    return path
