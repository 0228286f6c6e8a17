"""Bytes the page downloads or shows: PNGs (crops, overlays, the colour bar, thumbnails),
``.npy`` maps and the CSV of numbers."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from faithcam.viz import colorize, overlay

CSV_COLUMNS = (
    "method", "model", "layer", "target", "target_name", "deletion_auc", "insertion_auc",
    "energy_in_box", "box", "steps", "seconds", "error",
)  # fmt: skip


def png_bytes(pixels: np.ndarray) -> bytes:
    """(H, W, 3) uint8 -> PNG file bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
    return buffer.getvalue()


def crop_png(crop: torch.Tensor) -> bytes:
    """The model's (3, S, S) view of the image in [0, 1], as PNG."""
    pixels = (crop.clamp(0, 1).permute(1, 2, 0) * 255).round().byte().numpy()
    return png_bytes(pixels)


def overlay_png(crop: torch.Tensor, heatmap: torch.Tensor) -> bytes:
    """The map over the crop in faithcam's overlay style (turbo, opacity following the map)."""
    return png_bytes(overlay(crop, heatmap))


def colorbar_png(width: int = 256, height: int = 14) -> bytes:
    """The overlay colour map from 0 (left) to 1 (right)."""
    ramp = np.repeat(np.linspace(0.0, 1.0, width, dtype=np.float32)[None], height, axis=0)
    return png_bytes((colorize(ramp) * 255).round().astype(np.uint8))


def thumbnail_png(pixels: np.ndarray, side: int = 96) -> bytes:
    """A small PNG preview whose longer side is ``side`` pixels."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(pixels))
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def npy_bytes(heatmap: torch.Tensor) -> bytes:
    """The (S, S) float32 map as a ``.npy`` file."""
    buffer = io.BytesIO()
    np.save(buffer, heatmap.detach().cpu().numpy().astype(np.float32), allow_pickle=False)
    return buffer.getvalue()


def numbers_csv(rows: Sequence[dict[str, Any]]) -> str:
    """One CSV row per method (columns :data:`CSV_COLUMNS`; empty where not computed)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in CSV_COLUMNS})
    return buffer.getvalue()
