"""The web page's upload checks at their edges, called directly (no server): the smallest side,
the pixel limit, and the kept copy's size and orientation (issue 25: the edge cases behind the
hand-written mutants of serve/uploads.py). Expected sizes are worked out by hand."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from faithcam.serve.errors import RequestError, TooLarge
from faithcam.serve.uploads import UploadLimits, decode_image


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def test_an_image_with_one_short_side_is_refused() -> None:
    """min_side applies to each side: 100 wide but 4 high is too small."""
    with pytest.raises(RequestError, match="100 x 4 pixels is too small"):
        decode_image(png(np.zeros((4, 100, 3), np.uint8)))
    assert decode_image(png(np.zeros((8, 100, 3), np.uint8))).pixels.shape == (8, 100, 3)


def test_the_kept_copy_is_limited_by_its_shorter_side() -> None:
    """stored_side 16: a 12 × 40 (H × W) image, shorter side 12 ≤ 16, is kept as it is."""
    limits = UploadLimits(stored_side=16)
    kept = decode_image(png(np.zeros((12, 40, 3), np.uint8)), limits)
    assert kept.pixels.shape == (12, 40, 3)


def test_the_kept_copy_keeps_the_orientation() -> None:
    """A 32 × 64 (H × W) image with stored_side 16 becomes 16 × 32 (scale 1/2), top half
    dark, bottom half bright as before."""
    pixels = np.zeros((32, 64, 3), np.uint8)
    pixels[16:] = 255
    kept = decode_image(png(pixels), UploadLimits(stored_side=16))
    assert kept.pixels.shape == (16, 32, 3) and (kept.width, kept.height) == (64, 32)
    assert kept.pixels[:6].max() < 30 and kept.pixels[-6:].min() > 225


def test_exactly_the_pixel_limit_is_accepted() -> None:
    limits = UploadLimits(max_pixels=20 * 30)
    assert decode_image(png(np.zeros((20, 30, 3), np.uint8)), limits).pixels.shape == (20, 30, 3)
    with pytest.raises(TooLarge, match="over the limit"):
        decode_image(png(np.zeros((20, 31, 3), np.uint8)), limits)
