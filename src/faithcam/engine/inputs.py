"""Images as users have them: PIL images and NumPy pixels converted with the model's
normalisation (or refused with the two lines that convert them), a warning for tensors that
look un-normalised, and a clear error when the images' channels do not fit the model's first
convolution, raised before torch's own. :func:`~faithcam.engine.validation.check_images`
calls the first two; :func:`~faithcam.engine.model_state.model_guard` the third."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from faithcam.engine.caller import caller_stacklevel
from faithcam.errors import FaithcamTypeError, FaithcamValueError

UNNORMALISED_MAX = 25.0  # |value| above this: pixels in 0-255, not a normalised input
CONVERT = (
    "convert it with the model's normalisation (or pass normalization=(mean, std) and faithcam "
    "converts it):\n"
    "    x = torchvision.transforms.functional.to_tensor(image)[None]\n"
    "    x = torchvision.transforms.functional.normalize(x, mean, std)"
)


class ChannelError(FaithcamValueError):
    """The images' channels do not fit the model's first convolution (greyscale into an RGB
    model, an alpha channel, a channels-last tensor)."""

    def __init__(self, message: str, given: int, expected: int, module: str) -> None:
        super().__init__(message)
        self.given, self.expected, self.module = given, expected, module


def _is_pil(value: Any) -> bool:
    return type(value).__module__.startswith("PIL.") and hasattr(value, "getbands")


def pixels_to_tensor(images: Any, normalization: Any = None) -> Any:
    """A PIL image, a NumPy array (H, W), (H, W, C) or (B, H, W, C) of pixels (integers
    scaled by their dtype's maximum, floats in [0, 1]), or a list of them, as the model's
    (B, C, H, W) input: x = (pixels − mean) / std with ``normalization = (mean, std)`` (grey
    repeated to its channel count, an alpha channel dropped). Without ``normalization`` they
    are refused with the two lines that convert them. Anything else is returned unchanged."""
    items = images if isinstance(images, list | tuple) else [images]
    if not items or not all(_is_pil(i) or isinstance(i, np.ndarray) for i in items):
        return images
    kind = "a PIL image" if _is_pil(items[0]) else f"a NumPy array {np.shape(items[0])}"
    if normalization is None:
        raise FaithcamTypeError(f"images: got {kind}, not a (B, C, H, W) tensor; {CONVERT}")
    from faithcam.engine.normalization import as_normalization

    norm = as_normalization(normalization)
    pixels = torch.cat([_pixels(np.asarray(item), kind) for item in items])
    channels = len(norm.mean)
    if pixels.shape[1] == 1 and channels > 1:
        pixels = pixels.expand(-1, channels, -1, -1)
    elif pixels.shape[1] == 4 and channels == 3:
        pixels = pixels[:, :3]
    return norm.to_model(pixels.contiguous())


def _pixels(array: np.ndarray, kind: str) -> torch.Tensor:
    """(H, W), (H, W, C) or (B, H, W, C) pixels -> (B, C, H, W) floats in [0, 1]."""
    if np.issubdtype(array.dtype, np.integer) or array.dtype == bool:
        scale = 1.0 if array.dtype == bool else float(np.iinfo(array.dtype).max)
        values = array.astype(np.float32) / scale
    elif np.issubdtype(array.dtype, np.floating):
        values = array.astype(np.float32)
        if values.size and (values.min() < 0 or values.max() > 1):
            raise FaithcamValueError(
                f"images: {kind} of floats outside [0, 1]: faithcam reads a NumPy array as "
                "pixels; pass a normalised input as a tensor, torch.from_numpy(array)"
            )
    else:
        raise FaithcamTypeError(f"images: {kind} of dtype {array.dtype}; expected pixels")
    if values.ndim == 2:
        values = values[:, :, None]
    if values.ndim == 3:
        values = values[None]
    if values.ndim != 4 or values.shape[-1] not in (1, 3, 4):
        raise FaithcamValueError(
            f"images: {kind}: expected pixels (H, W), (H, W, C) or (B, H, W, C) with C = 1, 3 "
            "or 4"
        )
    return torch.from_numpy(np.ascontiguousarray(values)).permute(0, 3, 1, 2)


def warn_unnormalised(images: torch.Tensor, normalization: Any = None) -> None:
    """Warn when ``images`` look like pixels, not the model's normalised input: values beyond
    ±25 (0-255 pixels), or, with a ``normalization`` whose mean is positive, every value in
    [0, 1] (pixels in [0, 1], never normalised)."""
    largest = float(images.detach().abs().amax())
    if largest > UNNORMALISED_MAX:
        warnings.warn(
            f"images: values reach {largest:.0f}; this looks like 0-255 pixels, not the model's "
            "normalised input (the prediction and the map then describe another image): pass "
            "(images / 255 - mean) / std",
            stacklevel=caller_stacklevel(),
        )
        return
    if normalization is None:
        return
    from faithcam.engine.normalization import as_normalization

    norm = as_normalization(normalization)
    if min(norm.mean) > 0 and float(images.amin()) >= 0 and largest <= 1:
        warnings.warn(
            "images: every value lies in [0, 1] although normalization has mean "
            f"{list(norm.mean)}: these look like pixels that were never normalised; pass "
            "(images - mean) / std",
            stacklevel=caller_stacklevel(),
        )


def channel_message(shape: tuple[int, ...], expected: int, name: str) -> str:
    """What to do when images of ``shape`` meet a first convolution taking ``expected``."""
    given = shape[1]
    where = f"the model's first convolution ({name}) takes {expected} channels"
    if len(shape) == 4 and shape[-1] == expected and given != expected:
        return (
            f"images: shape {tuple(shape)} looks channels-last (B, H, W, C), but {where}, "
            "channels first: pass images.permute(0, 3, 1, 2)"
        )
    if given == 1 and expected in (3, 4):
        return (
            f"images: 1 channel (greyscale) but {where}: repeat it, "
            f"images.expand(-1, {expected}, -1, -1)"
        )
    if given == 4 and expected == 3:
        return f"images: 4 channels but {where}: drop the alpha channel, images[:, :3]"
    return f"images: {given} channels but {where}"


@contextlib.contextmanager
def input_channels_checked(model: Any) -> Iterator[None]:
    """While active, the model's first ``Conv2d`` checks the channels of what it receives and
    raises :class:`ChannelError` (before torch's convolution error) when they differ. Only the
    input that reaches it counts, so a model that adapts its input first is never refused."""
    found = None
    if isinstance(model, nn.Module):  # its first convolution (a loop: no helper per call)
        for name, module in model.named_modules():
            if isinstance(module, nn.Conv2d):
                found = name, module
                break
    if found is None:
        yield
        return
    name, conv = found

    def check(module: nn.Module, inputs: tuple[Any, ...]) -> None:
        x = inputs[0] if inputs else None
        if isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[1] != module.in_channels:
            message = channel_message(tuple(x.shape), module.in_channels, name)
            raise ChannelError(message, int(x.shape[1]), module.in_channels, name)

    handle = conv.register_forward_pre_hook(check)
    try:
        yield
    finally:
        handle.remove()
