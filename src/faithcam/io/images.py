"""Reading the user's image files: any PIL mode to RGB, clear errors, model preprocessing.

Grayscale, palette, RGBA/LA (composited over white), CMYK, 16-bit and 32-bit integer and float
images all become (H, W, 3) float32 arrays in [0, 1]. 8- and 16-bit images are scaled by their
bit depth; 32-bit integer and float images, whose type fixes no range, by the smallest of 1
(floats only), 255 and 65535 that holds their maximum (a 0-255 float TIFF is not read as
near-black), or by their maximum beyond that. A missing, unreadable, non-image or truncated
file, NaN or infinite pixels, and an image over :data:`MAX_PIXELS` (a decompression bomb) raise
:class:`ImageError` naming the file. :func:`find_images` lists each file once, even when two
paths (a link, a hard link) name it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from faithcam.engine.caller import caller_stacklevel
from faithcam.errors import FaithcamValueError
from faithcam.io.pretrained import IMAGENET_MEAN, IMAGENET_STD, resize_center_crop, to_chw_float

MAX_SIZE = 4096  # pixels: 3 x 4096 x 4096 float32 is 0.2 GB per image before any activation
MAX_PIXELS = 89_478_485  # PIL's decompression-bomb limit: 1.1 GB as a float32 RGB array
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


class ImageError(FaithcamValueError):
    """An image file is missing, unreadable, not an image or truncated."""


class _NonFinitePixels(ValueError):
    """A float image holds NaN or infinite values."""


def find_images(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders expanded to the image files inside them (sorted, recursive);
    a file named twice (two paths, a link) is kept once, with a warning."""
    found: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            inside = sorted(
                p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
            )
            if not inside:
                raise ImageError(
                    f"{path}: the folder holds no image files ({', '.join(IMAGE_SUFFIXES)})"
                )
            found.extend(inside)
        elif not path.exists():
            raise ImageError(f"{path}: no such file or folder")
        else:
            found.append(path)
    if not found:
        raise ImageError("no input images given")
    return distinct_files(found, "input image")


def distinct_files(paths: Sequence[Path], what: str) -> list[Path]:
    """``paths`` without repeats of one file (same device and inode: a second path, a symbolic
    or hard link); each repeat is named in one warning."""
    seen: dict[tuple[int, int], Path] = {}
    kept, repeats = [], []
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            kept.append(path)  # reported by whoever reads it
            continue
        first = seen.setdefault((info.st_dev, info.st_ino), path)
        if first is path:
            kept.append(path)
        else:
            repeats.append(f"{path} (= {first})")
    if repeats:
        more = f" (+{len(repeats) - 3} more)" if len(repeats) > 3 else ""
        warnings.warn(
            f"{len(repeats)} {what}(s) named twice, each used once: {', '.join(repeats[:3])}{more}",
            stacklevel=caller_stacklevel(),
        )
    return kept


def _to_array(image) -> np.ndarray:
    """A decoded PIL image (any mode) -> (H, W, 3) float32 in [0, 1]."""
    from PIL import Image

    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        array = np.asarray(image, dtype=np.float32) / 65535.0
    elif image.mode in ("I", "F"):
        array = np.asarray(image, dtype=np.float64)
        bad = int((~np.isfinite(array)).sum())
        if bad:
            raise _NonFinitePixels(f"{bad} pixel(s) NaN or infinite; expected finite values")
        peak = float(array.max()) if array.size else 1.0
        ranges = (1.0, 255.0, 65535.0) if image.mode == "F" else (255.0, 65535.0)
        scale = next((r for r in ranges if peak <= r), peak)
        array = np.clip(array / scale, 0.0, 1.0)
    else:
        if image.mode in ("RGBA", "LA", "PA"):
            background = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, image.convert("RGBA"))
        array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    return np.ascontiguousarray(array, dtype=np.float32)


def load_image(path: str | Path) -> np.ndarray:
    """Read one image file as an (H, W, 3) float32 RGB array in [0, 1]."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    too_large = ImageError(
        f"{path}: more than {MAX_PIXELS:,} pixels (a decompression bomb, or an image that "
        "needs over 1 GB as floats); downscale it first"
    )
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise too_large
            image.load()
            return _to_array(image)
    except Image.DecompressionBombError:
        raise too_large from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file (PIL cannot identify it)") from None
    except _NonFinitePixels as error:
        raise ImageError(f"{path}: {error}") from None
    except (OSError, SyntaxError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ImageError(f"{path}: truncated or corrupt image ({reason})") from None


@dataclass(frozen=True)
class Preprocessing:
    """Resize the shorter side to ``size``, centre-crop, normalise with ``mean`` / ``std``.

    ``channels``: 3 (RGB), 1 (grey = the mean of R, G, B) or 4 (RGB + an opaque alpha
    channel of ones); ``mean`` and ``std`` have one value per channel.
    """

    size: int = 224
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    channels: int = 3

    def __post_init__(self) -> None:
        if self.size < 8:
            raise FaithcamValueError(f"--size: expected at least 8 pixels, got {self.size}")
        if self.size > MAX_SIZE:
            gigabytes = 3 * self.size**2 * 4 / 1e9
            raise FaithcamValueError(
                f"--size {self.size}: too large: one image alone takes {gigabytes:.1f} GB as a "
                "float tensor, and the network's activations need tens of times more; use at "
                f"most {MAX_SIZE}"
            )
        if self.channels not in (1, 3, 4):
            raise FaithcamValueError(f"--channels: expected 1, 3 or 4, got {self.channels}")
        for name, values in (("--mean", self.mean), ("--std", self.std)):
            if len(values) != self.channels:
                raise FaithcamValueError(
                    f"{name}: expected {self.channels} values (one per input channel, "
                    f"--channels {self.channels}), got {values}"
                )
            if not all(math.isfinite(v) for v in values):
                raise FaithcamValueError(f"{name}: values must be finite numbers, got {values}")
        if min(self.std) <= 0:
            raise FaithcamValueError(f"--std: values must be > 0, got {self.std}")

    def crop(self, image: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(H, W, 3) image -> (3, size, size) float in [0, 1], as shown in overlays."""
        return resize_center_crop(to_chw_float(image), self.size).clamp(0, 1)

    def normalise(self, crops: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) RGB crops in [0, 1] -> the model's (B, channels, S, S) input."""
        if self.channels == 1:
            crops = crops.mean(dim=1, keepdim=True)
        elif self.channels == 4:
            crops = torch.cat([crops, torch.ones_like(crops[:, :1])], dim=1)
        mean = torch.tensor(self.mean, dtype=crops.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=crops.dtype).view(1, -1, 1, 1)
        return (crops - mean) / std

    def load(self, paths: Sequence[str | Path]) -> tuple[torch.Tensor, torch.Tensor]:
        """Read ``paths``: (model inputs, display crops in [0, 1]), both (B, 3, S, S)."""
        crops = torch.stack([self.crop(load_image(path)) for path in paths])
        return self.normalise(crops), crops
