"""Checks of user input, raised before any heavy work with a message naming the argument."""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn

from faithcam.engine.inputs import pixels_to_tensor, warn_unnormalised
from faithcam.errors import FaithcamTypeError, FaithcamValueError


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
    """A non-empty, finite, floating-point (B, C, H, W) tensor. PIL images and NumPy pixels
    are converted with ``normalization``, or refused with the two lines that convert them;
    values that look like pixels warn (:mod:`faithcam.engine.inputs`)."""
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


def check_count(name: str, value: Any) -> int:
    """``value`` if it is an int >= 1 (``batch_size``, ``steps``, ``samples``)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaithcamTypeError(f"{name}: expected an int >= 1, got {value!r}")
    if value < 1:
        raise FaithcamValueError(f"{name}: must be >= 1, got {value}")
    return value


def check_batch_size(batch_size: Any) -> int:
    return check_count("batch_size", batch_size)


def check_flag(name: str, value: Any) -> bool:
    """``value`` if it is True or False (not 1, "yes", ...)."""
    if not isinstance(value, bool):
        raise FaithcamTypeError(f"{name}: expected True or False, got {value!r}")
    return value


def model_placement(
    model: nn.Module, fallback_device: torch.device, fallback_dtype: torch.dtype | None
) -> tuple[torch.device, torch.dtype | None]:
    """(device, dtype) that inputs of ``model`` take: the device of its first parameter or
    buffer and the dtype of its first floating one (the fallbacks where it has none), so that
    float64 / float16 / bfloat16 inputs meet the model's own."""
    device = dtype = None
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        device = tensor.device if device is None else device
        if tensor.is_floating_point():
            dtype = tensor.dtype
            break
    return (fallback_device if device is None else device), (dtype or fallback_dtype)


def model_device(model: nn.Module, fallback: torch.device) -> torch.device:
    """The device of the model's first parameter or buffer (``fallback`` if it has none)."""
    return model_placement(model, fallback, None)[0]


def model_dtype(model: nn.Module, fallback: torch.dtype) -> torch.dtype:
    """The floating dtype of the model's first floating parameter or buffer (``fallback`` if
    none): images are cast to it."""
    return model_placement(model, torch.device("cpu"), fallback)[1]


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
