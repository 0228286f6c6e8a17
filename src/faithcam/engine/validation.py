"""Checks of user input, raised before any heavy work with a message naming the argument."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

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


def check_model(model: Any) -> nn.Module:
    """An ``nn.Module`` whose parameters and buffers hold data (not on the meta device); a
    ``torch.compile``'d model is explained through its original module (``_orig_mod``: hooks do
    not fire inside a compiled graph)."""
    if not isinstance(model, nn.Module):
        raise FaithcamTypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    for name, tensor in (*model.named_parameters(), *model.named_buffers()):
        if tensor.is_meta:
            raise FaithcamValueError(
                f"model: {name} is on the meta device (no data); load real weights first "
                "(model.to_empty(device=...) then load_state_dict)"
            )
    original = getattr(model, "_orig_mod", None)
    if isinstance(original, nn.Module) and type(model).__name__ == "OptimizedModule":
        return original
    return model


def check_images(images: Any, normalization: Any = None) -> torch.Tensor:
    """A non-empty, finite, floating-point (B, C, H, W) tensor. PIL images and NumPy arrays
    are converted with ``normalization`` (see :func:`pixels_to_tensor`), or refused with the
    two lines that convert them; values that look like 0-255 pixels warn
    (:func:`warn_unnormalised`)."""
    images = pixels_to_tensor(images, normalization)
    if not isinstance(images, torch.Tensor):
        raise FaithcamTypeError(
            f"images: expected a (B, C, H, W) torch.Tensor, got {type(images).__name__}"
        )
    if images.dim() != 4:
        hint = " (add a batch dimension: images[None])" if images.dim() == 3 else ""
        raise FaithcamValueError(
            f"images: expected a 4-D (B, C, H, W) tensor, got shape {tuple(images.shape)}{hint}"
        )
    if not images.is_floating_point():
        raise FaithcamTypeError(
            f"images: expected a floating-point tensor, got dtype {images.dtype} "
            "(convert with images.float() / 255 and normalise as the model expects)"
        )
    if images.is_meta:
        raise FaithcamValueError("images: the tensor is on the meta device (it holds no data)")
    if images.shape[0] == 0:
        raise FaithcamValueError("images: the batch is empty (B = 0)")
    if min(images.shape[2:]) < 1:
        raise FaithcamValueError(f"images: spatial size must be >= 1, got {tuple(images.shape)}")
    if not torch.isfinite(images).all():
        bad = int((~torch.isfinite(images)).flatten(1).any(1).nonzero()[0])
        raise FaithcamValueError(f"images: image {bad} contains NaN or infinite values")
    warn_unnormalised(images, normalization)
    return images


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
            stacklevel=4,
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
            stacklevel=4,
        )


def _first_conv(model: nn.Module) -> tuple[str, nn.Conv2d] | None:
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    return None


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
        return f"images: 1 channel (greyscale) but {where}: repeat it, images.expand(-1, 3, -1, -1)"
    if given == 4 and expected == 3:
        return f"images: 4 channels but {where}: drop the alpha channel, images[:, :3]"
    return f"images: {given} channels but {where}"


@contextlib.contextmanager
def input_channels_checked(model: Any) -> Iterator[None]:
    """While active, the model's first ``Conv2d`` checks the channels of what it receives and
    raises :class:`ChannelError` (before torch's convolution error) when they differ. Only the
    input that reaches it counts, so a model that adapts its input first is never refused."""
    found = _first_conv(model) if isinstance(model, nn.Module) else None
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


def check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise FaithcamTypeError(f"batch_size: expected an int >= 1, got {batch_size!r}")
    if batch_size < 1:
        raise FaithcamValueError(f"batch_size: must be >= 1, got {batch_size}")
    return batch_size


def model_device(model: nn.Module, fallback: torch.device) -> torch.device:
    """The device of the model's first parameter or buffer (``fallback`` if it has none)."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return fallback


def model_dtype(model: nn.Module, fallback: torch.dtype) -> torch.dtype:
    """The floating dtype of the model's first floating parameter or buffer (``fallback`` if
    none): images are cast to it, so float64 / float16 / bfloat16 inputs meet the model's own."""
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return fallback


def make_generator(
    seed: int | None, generator: torch.Generator | None, device: torch.device | None = None
) -> torch.Generator | None:
    """A generator from ``seed`` on ``device`` (CPU by default: draws on the device the images
    live on, so a GPU run does not wait on CPU random numbers; the same seed gives the same
    maps on one device), the given one, or None (torch's global RNG)."""
    if seed is not None and generator is not None:
        raise FaithcamValueError("seed, generator: pass one of them, not both")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise FaithcamTypeError(f"seed: expected an int, got {seed!r}")
        return torch.Generator(device=device or "cpu").manual_seed(seed)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise FaithcamTypeError(f"generator: expected a torch.Generator, got {generator!r}")
    return generator
