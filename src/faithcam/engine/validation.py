"""Checks of user input, raised before any heavy work with a message naming the argument."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.nn.parameter import is_lazy

from faithcam.engine.caller import warn_at_caller
from faithcam.engine.inputs import UNNORMALISED_MAX, pixels_to_tensor, warn_unnormalised
from faithcam.errors import FaithcamTypeError, FaithcamValueError, FaithcamWarning


def check_model(model: Any) -> nn.Module:
    """An ``nn.Module`` whose parameters and buffers hold data (not on the meta device); a
    ``torch.compile``'d model is explained through its original module (``_orig_mod``: hooks do
    not fire inside a compiled graph)."""
    if not isinstance(model, nn.Module):
        raise FaithcamTypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    # every module's own tensors, unnamed (naming them costs more than the check); the named
    # walk below runs only when one is uninitialised or on the meta device
    for module in model.modules():
        for tensor in (*module._parameters.values(), *module._buffers.values()):
            if tensor is not None and (is_lazy(tensor) or tensor.is_meta):
                refuse_uninitialised(model)
    original = getattr(model, "_orig_mod", None)
    if isinstance(original, nn.Module) and type(model).__name__ == "OptimizedModule":
        return original
    return model


def refuse_uninitialised(model: nn.Module) -> None:
    """Raise naming the model's first lazy or meta-device parameter or buffer."""
    for name, tensor in (*model.named_parameters(), *model.named_buffers()):
        if is_lazy(tensor):
            raise FaithcamValueError(
                f"model: {name} is not initialised yet (a lazy module); run one forward pass "
                "first, model(images), so that its shapes are known"
            )
        if tensor.is_meta:
            raise FaithcamValueError(
                f"model: {name} is on the meta device (no data); load real weights first "
                "(model.to_empty(device=...) then load_state_dict)"
            )


def check_images(images: Any, normalization: Any = None) -> torch.Tensor:
    """A non-empty, finite, floating-point (B, C, H, W) tensor. PIL images and NumPy pixels
    are converted with ``normalization``, or refused with the two lines that convert them;
    values that look like pixels warn (:mod:`faithcam.engine.inputs`)."""
    if not isinstance(images, torch.Tensor):
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
    if normalization is not None or float(images.detach().abs().amax()) > UNNORMALISED_MAX:
        warn_unnormalised(images, normalization)  # pixels passed as the model's input?
    return images


# torch's convolution error for an input of the wrong channel count
_CHANNEL_MISMATCH = re.compile(
    r"expected input\[([\d, ]+)\] to have (\d+) channels, but got (\d+) channels"
)


def channel_mismatch(images: Any, error: RuntimeError) -> FaithcamValueError | None:
    """The one-line error naming ``images`` for torch's convolution ``error`` about images of
    the wrong channel count (a grayscale image for an RGB model); None for any other error, and
    for the same error about an inner tensor of another shape (the model's own bug)."""
    found = _CHANNEL_MISMATCH.search(str(error))
    if found is None or not hasattr(images, "shape"):
        return None
    shape = tuple(int(size) for size in found.group(1).split(","))
    expected, got = int(found.group(2)), int(found.group(3))
    if shape[1:] != tuple(images.shape[1:]):
        return None
    return FaithcamValueError(
        f"images: {got} channel(s) per image {tuple(images.shape)}, but the model expects "
        f"{expected} (its convolution said so); convert the images (e.g. repeat a grayscale "
        "channel) or pass a model made for them"
    )


@contextmanager
def naming_channel_mismatch(images: torch.Tensor) -> Iterator[None]:
    """Raise :func:`channel_mismatch`'s error in place of torch's inside the body."""
    try:
        yield
    except RuntimeError as error:
        named = channel_mismatch(images, error)
        if named is None:
            raise
        raise named from error


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
    seed: int | None, generator: torch.Generator | None, device: torch.device | None
) -> torch.Generator | None:
    """A generator from ``seed`` on ``device`` (the images' device, so a GPU run does not wait
    on CPU random numbers; None is the CPU; the same seed gives the same maps on one device),
    the given one, or None (torch's global RNG)."""
    if seed is not None and generator is not None:
        raise FaithcamValueError("seed, generator: pass one of them, not both")
    if seed is not None:
        return torch.Generator(device=device or "cpu").manual_seed(check_seed(seed))
    if generator is not None and not isinstance(generator, torch.Generator):
        raise FaithcamTypeError(f"generator: expected a torch.Generator, got {generator!r}")
    return generator


SEED_RANGE = (-(2**63), 2**64 - 1)  # what torch.manual_seed accepts


def check_seed(seed: Any, name: str = "seed") -> int:
    """``seed`` if it is an int torch can seed with (64 bits: -2**63 to 2**64 - 1)."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise FaithcamTypeError(f"{name}: expected an int, got {seed!r}")
    if not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        text = str(seed)
        shown = text if len(text) <= 24 else f"{text[:20]}... ({len(text)} digits)"
        raise FaithcamValueError(
            f"{name}: {shown} does not fit torch's 64-bit seed; pass an int from -2**63 to "
            "2**64 - 1"
        )
    return seed


# Forward rows (model inputs) one call may run: above WARN_ROWS a warning states the cost,
# above MAX_ROWS the call is refused before any work (10**8 rows: days on a CPU, hours on a GPU).
WARN_ROWS = 10**6
MAX_ROWS = 10**8


def check_cost(n_images: int, per_image: int, option: str, batch_size: int) -> None:
    """Refuse (above :data:`MAX_ROWS`) or warn about (above :data:`WARN_ROWS`) a call that
    runs ``n_images`` x ``per_image`` forward rows; ``option`` names what sets ``per_image``
    (``"samples=1000000000"``)."""
    rows = n_images * per_image
    if rows <= WARN_ROWS:
        return
    cost = (
        f"{option}: {n_images} images x {per_image:,} rows = {rows:,} forward rows through the "
        f"model, {-(-rows // batch_size):,} passes of batch_size={batch_size}"
    )
    if rows > MAX_ROWS:
        raise FaithcamValueError(
            f"{cost}; faithcam runs at most {MAX_ROWS:,} rows per call: pass a smaller value"
        )
    warn_at_caller(f"{cost}: this call will take long", FaithcamWarning)


def check_finite(values: torch.Tensor, what: str, image_index: torch.Tensor | None = None) -> None:
    """Refuse NaN or infinite ``values`` (activations, gradients or scores of sample rows),
    naming ``what`` and the first image (``image_index[row]``) they belong to: a NaN must never
    become a finite map."""
    rows = values.detach().reshape(len(values), -1) if values.dim() else values.reshape(1, 1)
    bad = ~torch.isfinite(rows).all(1)
    if bool(bad.any()):
        row = int(bad.nonzero()[0])
        image = row if image_index is None else int(image_index[row])
        raise FaithcamValueError(
            f"{what} of image {image} are NaN or infinite ({int(bad.sum())} of {len(rows)} "
            "rows): NaN or infinite weights, inputs or baselines?"
        )
