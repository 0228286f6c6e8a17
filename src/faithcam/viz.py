"""Visualisation: heat-map overlays people can read, method grids with a colorbar.

Two styles. ``"faithcam"`` (default): the map's colour (turbo) is laid over the photo with an
opacity that follows the map value, α · smoothstep(m), so a zero map leaves the photo as it is
and the peak is the most opaque, most saturated colour. ``"jet"``: pytorch-grad-cam's look,
(1 − w) · jet(m) + w · image, w = 1 − α, over the whole picture (:func:`show_cam_on_image`,
which the pytorch-grad-cam drop-in re-exports). NumPy, matplotlib and PIL live here, at the edge;
the rest of faithcam is tensors in, tensors out.

A leaf: it imports nothing from faithcam but :mod:`faithcam.errors`, so the engine's
``CamResult.show`` / ``save`` / ``_repr_png_`` reach it without the engine importing ``io`` or
the drop-in (the import contract in ``pyproject.toml`` checks this).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
import torch

from faithcam.errors import FaithcamValueError
from faithcam.outputs import write_fresh

DEFAULT_COLORMAP = "turbo"  # bright, hue-ordered: the peak (dark red) stands out on photos
STYLES = ("faithcam", "jet")
DEFAULT_ALPHA = {"faithcam": 0.85, "jet": 0.5}  # peak opacity; jet: the peer's image_weight 0.5
COLORMAP_JET = 2  # OpenCV's constant for its jet colormap (cv2.COLORMAP_JET)


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


def opacity(values: np.ndarray, alpha: float) -> np.ndarray:
    """Overlay opacity α · smoothstep(m) = α · m² (3 − 2m): 0 where the map is 0 (the photo
    shows through), α at the peak, flat at both ends so faint evidence stays faint."""
    return alpha * values * values * (3 - 2 * values)


def overlay_alpha(style: str, alpha: float | None) -> float:
    """The checked peak opacity of ``style`` (its default when ``alpha`` is None)."""
    if style not in STYLES:
        raise FaithcamValueError(f"style: expected one of {', '.join(STYLES)}, got {style!r}")
    alpha = DEFAULT_ALPHA[style] if alpha is None else alpha
    if not 0.0 <= alpha <= 1.0:
        raise FaithcamValueError(f"alpha: expected a value in [0, 1], got {alpha}")
    return alpha


def overlay(
    image: np.ndarray | torch.Tensor,
    heatmap: np.ndarray | torch.Tensor,
    alpha: float | None = None,
    colormap: str = DEFAULT_COLORMAP,
    style: str = "faithcam",
) -> np.ndarray:
    """Blend a [0, 1] heat map over an image; returns an (H, W, 3) uint8 array.

    ``style="faithcam"``: (1 − o) · image + o · colormap(m), o = :func:`opacity` (m, α),
    α = 0.85 by default. ``style="jet"``: pytorch-grad-cam's ``show_cam_on_image`` with
    ``image_weight = 1 − α`` (α = 0.5 by default, the peer's look).
    """
    alpha = overlay_alpha(style, alpha)
    rgb = _as_hwc(image)
    values = heatmap.detach().cpu().numpy() if isinstance(heatmap, torch.Tensor) else heatmap
    values = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    if values.shape != rgb.shape[:2]:
        raise FaithcamValueError(
            f"heatmap: shape {values.shape} does not match the image size {rgb.shape[:2]}"
        )
    if style == "jet":
        return show_cam_on_image(rgb, values, use_rgb=True, image_weight=1 - alpha)
    weight = opacity(values, alpha)[..., None]
    blended = (1 - weight) * rgb + weight * colorize(values, colormap)
    return (np.clip(blended, 0, 1) * 255).round().astype(np.uint8)


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
    """pytorch-grad-cam's ``show_cam_on_image`` (same arguments and result, no OpenCV needed).

    Blend the jet-coloured ``mask`` (H, W) in [0, 1] over ``img`` (H, W, 3) float in [0, 1]:
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


def plain_text(text: str) -> str:
    """``text`` shown literally by matplotlib: ``$`` escaped, so a class name such as
    ``$\\foo$`` is not parsed as mathtext (which would fail on unknown commands)."""
    return str(text).replace("$", r"\$")


def _figure(**options):
    """A matplotlib Figure outside pyplot, drawn by Agg: no display needed, and the user's
    pyplot backend (a notebook's inline one) is left as it is."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(**options)
    FigureCanvasAgg(figure)
    return figure


def _save_figure(figure, path: str | Path) -> Path:
    if figure.get_layout_engine() is None:
        figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_fresh(path, partial(figure.savefig, dpi=80))  # never through a planted link
    return path


def method_grid(
    image: np.ndarray | torch.Tensor,
    maps: dict[str, np.ndarray | torch.Tensor],
    path: str | Path,
    title: str = "",
    alpha: float | None = None,
    colormap: str = DEFAULT_COLORMAP,
    columns: int | None = None,
    style: str = "faithcam",
    boxes: Sequence[tuple[Sequence[float], str]] = (),
) -> Path:
    """Save a grid: the image, then one overlay per method, titled by method name, and a
    colorbar of the map values. ``boxes``: ground-truth boxes ``((x0, y0, x1, y1), name)`` in
    the image's pixels (x1, y1 exclusive), outlined on every panel with their class name."""
    alpha = overlay_alpha(style, alpha)
    panels: list[tuple[str, np.ndarray]] = [("input", (_as_hwc(image) * 255).astype(np.uint8))]
    panels += [(name, overlay(image, m, alpha, colormap, style)) for name, m in maps.items()]
    columns = columns or min(len(panels), 5)
    rows = -(-len(panels) // columns)
    figure = _figure(figsize=(2.6 * columns + 0.6, 2.8 * rows + 0.4), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, (name, panel) in zip(axes.flat, panels, strict=False):
        axis.imshow(panel)
        axis.set_title(plain_text(name), fontsize=10)
        _draw_boxes(axis, boxes, first=axis is axes.flat[0])
    _colorbar(figure, axes, colormap if style == "faithcam" else "jet", style)
    if title:
        figure.suptitle(plain_text(title), fontsize=11)
    return _save_figure(figure, path)


def _draw_boxes(axis, boxes: Sequence[tuple[Sequence[float], str]], first: bool) -> None:
    """Outline each box (white under black, readable on any map); its class name on the
    first panel only, so the maps stay visible."""
    from matplotlib.patches import Rectangle

    for (x0, y0, x1, y1), name in boxes:
        for color, width in (("black", 2.6), ("white", 1.2)):
            axis.add_patch(
                Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False,
                          edgecolor=color, linewidth=width)
            )  # fmt: skip
        if first and name:
            axis.text(
                x0 + 1, y0 + 1, plain_text(name), fontsize=7, color="white", va="top",
                bbox={"facecolor": "black", "alpha": 0.7, "pad": 1.5, "linewidth": 0},
            )  # fmt: skip


def _colorbar(figure, axes, colormap: str, style: str) -> None:
    """A vertical colorbar of map values 0..1 beside the grid."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    low = -1 if colormap == "RdBu_r" else 0  # signed maps (relu=False) span [-1, 1]
    mappable = ScalarMappable(Normalize(low, 1), colormap)
    bar = figure.colorbar(mappable, ax=axes, shrink=0.8, aspect=25, pad=0.01)
    label = "map value (0: photo shows through)" if style == "faithcam" else "map value"
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)


def curves_plot(
    curves: dict[str, np.ndarray], fraction: np.ndarray, path: str | Path, title: str
) -> Path:
    """Save deletion/insertion style curves, one line per method. Line styles alternate so
    that methods whose curves coincide (Grad-CAM and HiResCAM under global average pooling)
    stay visible: a dashed line over a solid one."""
    figure = _figure(figsize=(4.2, 3.2))
    axis = figure.subplots()
    styles = itertools.cycle(("-", "--", ":", "-."))
    for name, curve in curves.items():
        axis.plot(fraction, curve, next(styles), label=name, linewidth=1.4)
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
    alpha: float | None = None,
    colormap: str = DEFAULT_COLORMAP,
    style: str = "faithcam",
) -> Path:
    """Save one overlay as a PNG."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_fresh(path, Image.fromarray(overlay(image, heatmap, alpha, colormap, style)).save)
    return path


def _display_image(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """An image for display: float images outside [0, 1] (normalised model inputs) are
    min-max scaled to [0, 1] instead of clipped."""
    array = image.detach().cpu().float().numpy() if isinstance(image, torch.Tensor) else image
    array = np.asarray(array)
    if array.dtype != np.uint8 and (array.min() < 0 or array.max() > 1):
        array = (array - array.min()) / max(float(array.max() - array.min()), 1e-12)
    return _as_hwc(array)


def result_figure(
    result,
    images: np.ndarray | torch.Tensor | None = None,
    *,
    figure=None,
    columns: int | None = None,
    style: str = "faithcam",
    alpha: float | None = None,
    colormap: str = DEFAULT_COLORMAP,
    max_images: int = 16,
):
    """Draw a :class:`~faithcam.CamResult` as a grid, one panel per image (the first
    ``max_images``), titled with the method, layer, target class and score, with a colorbar.

    ``images`` (B, 3, H, W) or (B, H, W, 3): the photos to overlay (normalised inputs are
    rescaled for display); without them the maps are shown alone. Draws into ``figure`` (a
    matplotlib Figure; a new one, outside pyplot, when None) and returns it.
    """
    alpha = overlay_alpha(style, alpha)
    maps = result.maps[:max_images].detach().float().cpu().numpy()
    if images is not None and len(images) < len(maps):
        raise FaithcamValueError(
            f"images: got {len(images)} images for a result of {len(result.maps)} maps"
        )
    columns = columns or min(len(maps), 4)
    rows = -(-len(maps) // columns)
    size = (2.6 * columns + 0.7, 2.8 * rows + 0.5)
    if figure is None:
        figure = _figure(figsize=size, layout="constrained")
    else:
        figure.set_size_inches(*size)
    axes = figure.subplots(rows, columns, squeeze=False)
    signed = images is None and bool((maps < 0).any())
    cmap = colormap if style == "faithcam" else "jet"
    for i, axis in enumerate(axes.flat):
        axis.axis("off")
        if i >= len(maps):
            continue
        if images is None:
            axis.imshow(
                maps[i], cmap="RdBu_r" if signed else cmap, vmin=-1 if signed else 0, vmax=1
            )
        else:
            axis.imshow(overlay(_display_image(images[i]), maps[i], alpha, colormap, style))
        target = "callable" if result.targets is None else int(result.targets[i])
        axis.set_title(f"target {target}, score {float(result.scores[i]):.3g}", fontsize=9)
    _colorbar(figure, axes, "RdBu_r" if signed else cmap, style if images is not None else "")
    more = f" (first {len(maps)} of {len(result.maps)})" if len(result.maps) > len(maps) else ""
    figure.suptitle(f"{result.method} at layer {result.layer}{more}", fontsize=10)
    return figure


def result_png(result, images: np.ndarray | torch.Tensor | None = None, **options) -> bytes:
    """:func:`result_figure` rendered to PNG bytes (no pyplot, no backend change)."""
    return result_bytes(result, images, "png", **options)


def image_format(path: str | Path) -> str:
    """The file format a path's extension names (``x.jpg`` -> ``"jpg"``), checked against the
    formats matplotlib writes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    suffix = Path(path).suffix.lower().lstrip(".")
    formats = FigureCanvasAgg.get_supported_filetypes()
    if suffix not in formats:
        raise FaithcamValueError(
            f"path: {Path(path).name!r} names no image format faithcam writes; use one of the "
            f"extensions {', '.join('.' + f for f in sorted(formats))}"
        )
    return suffix


def result_bytes(
    result, images: np.ndarray | torch.Tensor | None = None, fmt: str = "png", **options
) -> bytes:
    """:func:`result_figure` rendered in the file format ``fmt`` (``"png"``, ``"jpg"``,
    ``"pdf"``, ``"svg"``...; no pyplot, no backend change)."""
    import io

    figure = result_figure(result, images, **options)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=80)
    return buffer.getvalue()
