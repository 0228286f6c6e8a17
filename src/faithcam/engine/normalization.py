"""The model's input normalisation x_model = (x_pixel − mean) / std, so that *black* means black.

Without it, faithcam cannot tell pixel black (x_pixel = 0) from the model input 0, which for an
ImageNet-normalised model is mean grey. With it, ``Black()``, the metrics' ``"black"`` substrate
and the report's un-normalised images use pixel black: (0 − mean_c) / std_c per channel.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from faithcam.errors import FaithcamTypeError, FaithcamValueError


@dataclass(frozen=True)
class Normalization:
    """Per-channel ``mean`` and ``std`` of x_model = (x_pixel − mean) / std."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        for name, values in (("mean", self.mean), ("std", self.std)):
            if not values:
                raise FaithcamValueError(f"normalization: {name} is empty")
            if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
                raise FaithcamValueError(
                    f"normalization: {name} must be finite numbers, got {list(values)}"
                )
        if len(self.mean) != len(self.std):
            raise FaithcamValueError(
                f"normalization: mean has {len(self.mean)} values, std has {len(self.std)}"
            )
        if not all(s > 0 for s in self.std):
            raise FaithcamValueError(f"normalization: std must be > 0, got {list(self.std)}")

    def check(self, images: torch.Tensor) -> None:
        """Raise unless there is one mean/std per channel of ``images``."""
        if len(self.mean) != images.shape[1]:
            raise FaithcamValueError(
                f"normalization: {len(self.mean)} mean/std values for images with "
                f"{images.shape[1]} channels"
            )

    def _view(self, values: tuple[float, ...], like: torch.Tensor) -> torch.Tensor:
        return torch.tensor(values, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)

    def black(self, like: torch.Tensor) -> torch.Tensor:
        """Pixel black in model space, (1, C, 1, 1): −mean_c / std_c."""
        return -self._view(self.mean, like) / self._view(self.std, like)

    def to_pixels(self, images: torch.Tensor) -> torch.Tensor:
        """x_pixel = x_model · std + mean."""
        return images * self._view(self.std, images) + self._view(self.mean, images)

    def to_model(self, pixels: torch.Tensor) -> torch.Tensor:
        """x_model = (x_pixel − mean) / std."""
        return (pixels - self._view(self.mean, pixels)) / self._view(self.std, pixels)

    def as_dict(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}


NormalizationSpec = Normalization | Mapping[str, Sequence[float]] | Sequence[Sequence[float]] | None


def as_normalization(value: Any) -> Normalization | None:
    """None, a :class:`Normalization`, ``{"mean": ..., "std": ...}`` or ``(mean, std)``."""
    if value is None or isinstance(value, Normalization):
        return value
    if isinstance(value, Mapping):
        if set(value) != {"mean", "std"}:
            raise FaithcamValueError(
                f"normalization: expected keys 'mean' and 'std', got {sorted(value)}"
            )
        mean, std = value["mean"], value["std"]
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        mean, std = value
    else:
        raise FaithcamTypeError(
            "normalization: expected a Normalization, {'mean': [...], 'std': [...]} or "
            f"(mean, std), got {value!r}"
        )
    try:
        return Normalization(tuple(float(v) for v in mean), tuple(float(v) for v in std))
    except TypeError:
        raise FaithcamTypeError(
            f"normalization: mean and std must be sequences of numbers, got {value!r}"
        ) from None
