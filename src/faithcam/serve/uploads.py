"""Checking and decoding an uploaded image before anything else touches it.

The header is read first (PIL reads only the header on ``open``): an empty or oversized body,
a file PIL cannot identify, too few pixels or too many (a small file that declares 20000 x 20000
pixels is a decompression bomb: decoding it would take gigabytes) are refused with one line
naming the limit. Accepted images are decoded by :func:`faithcam.io.images.load_image`, the
command line's reader (grey, palette, RGBA over white, CMYK, 16-bit, float): each conversion is
reported as a note shown on the page. What is kept is RGB uint8 with its shorter side at most
``stored_side`` pixels: every model resizes the shorter side and centre-crops, so detail beyond
that never reaches a model.
"""

from __future__ import annotations

import io
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faithcam.io.images import ImageError, load_image
from faithcam.serve.errors import RequestError, TooLarge

MEGABYTE = 2**20
# What each PIL mode becomes (and so what the page tells the user).
MODE_NOTES = {
    "1": "black-and-white image: shown to the model as grey RGB",
    "L": "grayscale image: its grey channel is repeated to RGB",
    "I;16": "16-bit grayscale image: scaled to [0, 1] and repeated to RGB",
    "I": "32-bit integer grayscale image: scaled to [0, 1] and repeated to RGB",
    "F": "floating-point grayscale image: scaled to [0, 1] and repeated to RGB",
    "LA": "grayscale image with transparency: composited over white, repeated to RGB",
    "RGBA": "RGBA image: transparent pixels are composited over white",
    "PA": "palette image with transparency: composited over white",
    "CMYK": "CMYK image: converted to RGB",
    "YCbCr": "YCbCr image: converted to RGB",
}


@dataclass(frozen=True)
class UploadLimits:
    """What the server accepts: bytes per upload, decoded pixels, the smallest side, and the
    shorter side of the copy it keeps."""

    max_bytes: int = 25 * MEGABYTE
    max_pixels: int = 40_000_000
    min_side: int = 8
    stored_side: int = 768


@dataclass(frozen=True)
class DecodedImage:
    """An accepted image: ``pixels`` (H, W, 3) uint8, its original ``width`` x ``height``, the
    file ``format`` and the conversions made (``notes``)."""

    pixels: np.ndarray
    width: int
    height: int
    format: str
    notes: tuple[str, ...]


def _too_many_pixels(pixels: int | None, limits: UploadLimits, size: str = "") -> TooLarge:
    declared = f"{size}{pixels / 1e6:.0f} megapixels" if pixels else "too many pixels"
    return TooLarge(
        f"image: {declared}, over the limit of {limits.max_pixels / 1e6:.0f} megapixels; a "
        "small file declaring this many pixels is a decompression bomb. Resize it first"
    )


def _header(data: bytes, limits: UploadLimits):
    """The PIL image with only its header read; refuses non-images and bombs."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise RequestError(
            "image: not an image file (PIL cannot identify it); upload a PNG, JPEG, WebP, BMP, "
            "GIF or TIFF picture"
        ) from None
    except Image.DecompressionBombError as error:  # PIL's own, looser limit
        declared = re.search(r"\((\d+) pixels\)", str(error))
        raise _too_many_pixels(int(declared.group(1)) if declared else None, limits) from None
    width, height = image.size
    if width * height > limits.max_pixels:
        raise _too_many_pixels(width * height, limits, f"{width} x {height} pixels, ")
    if min(width, height) < limits.min_side:
        raise RequestError(
            f"image: {width} x {height} pixels is too small; both sides need at least "
            f"{limits.min_side} pixels"
        )
    return image


def _notes(image) -> tuple[str, ...]:
    notes = []
    mode = "I;16" if image.mode.startswith("I;16") else image.mode
    if mode == "P":
        transparent = "transparency" in image.info
        notes.append(
            "palette image with transparency: composited over white"
            if transparent
            else "palette image: converted to RGB"
        )
    elif mode in MODE_NOTES:
        notes.append(MODE_NOTES[mode])
    if getattr(image, "n_frames", 1) > 1:
        notes.append(f"{image.n_frames} frames (animated or multi-page): the first one is used")
    return tuple(notes)


def _decode(data: bytes, suffix: str) -> np.ndarray:
    """Full decoding through the command line's reader (it takes a path, so a private temp
    file); its messages name the upload, not the temp file."""
    with tempfile.TemporaryDirectory(prefix="faithcam-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            return load_image(path)
        except ImageError as error:
            raise RequestError(str(error).replace(str(path), "image")) from None


def _shrink(pixels: np.ndarray, side: int) -> np.ndarray:
    """Resize (antialiased bicubic) so that the shorter side is at most ``side``."""
    height, width = pixels.shape[:2]
    if min(height, width) <= side:
        return pixels
    from PIL import Image

    scale = side / min(height, width)
    size = (max(side, round(width * scale)), max(side, round(height * scale)))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BICUBIC))


def decode_image(data: bytes, limits: UploadLimits | None = None) -> DecodedImage:
    """Check and decode an uploaded file; raises :class:`RequestError` (or :class:`TooLarge`)
    with a message for the page."""
    limits = limits or UploadLimits()
    if not data:
        raise RequestError("image: the file is empty")
    if len(data) > limits.max_bytes:
        raise too_large(limits.max_bytes)
    with _header(data, limits) as image:
        width, height, file_format = image.width, image.height, image.format or "image"
        notes = _notes(image)
    floats = _decode(data, f".{file_format.lower()}")
    pixels = (np.clip(floats, 0.0, 1.0) * 255).round().astype(np.uint8)
    del floats
    return DecodedImage(_shrink(pixels, limits.stored_side), width, height, file_format, notes)


def too_large(limit: int) -> TooLarge:
    """The error for an upload body over ``limit`` bytes."""
    return TooLarge(f"image: the file is larger than the limit of {limit / MEGABYTE:.0f} MB")
