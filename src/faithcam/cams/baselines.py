"""Baselines: the reference images x' that path estimators and perturbation metrics start from.

A baseline is called with the rows' images (N, C, H, W), the index of the image each row belongs
to, and a ``torch.Generator``; it returns N baseline images. Noise amplitudes are fractions of
each image's value range (max − min), as in SmoothGrad, so they mean the same thing for raw
[0, 1] images and for mean/std-normalised ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from faithcam.engine.normalization import Normalization
from faithcam.errors import FaithcamTypeError, FaithcamValueError


def value_range(images: torch.Tensor) -> torch.Tensor:
    """Per-image value range max − min, shape (N, 1, 1, 1)."""
    flat = images.flatten(1)
    return (flat.amax(1) - flat.amin(1)).view(-1, 1, 1, 1)


class Baseline:
    """Base class of baselines."""

    stochastic = False

    def validate(self, images: torch.Tensor) -> None:
        """Raise a specific error if this baseline cannot serve ``images``."""

    def bind(self, images: torch.Tensor, normalization: Normalization | None) -> Baseline:
        """This baseline for one call: its images and the model's input normalisation."""
        return self

    def __call__(
        self, images: torch.Tensor, image_index: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class Black(Baseline):
    """A black image.

    ``Black()`` is pixel black: −mean_c / std_c in model space when the input normalisation
    is known (``normalization=`` on :func:`faithcam.explain`), else 0 (black for raw [0, 1]
    inputs, but mean grey for mean/std-normalised ones: pass the normalisation).
    ``Black(value)`` is the constant ``value`` (one number or one per channel) in model space.
    """

    def __init__(self, value: float | Sequence[float] | None = None) -> None:
        self.value = value

    @classmethod
    def from_normalization(cls, mean: Sequence[float], std: Sequence[float]) -> Black:
        """Black in a space normalised by ``(x - mean) / std``: value_c = -mean_c / std_c."""
        if len(mean) != len(std):
            raise FaithcamValueError(
                f"Black.from_normalization: mean has {len(mean)} values but std has {len(std)}; "
                "expected one of each per channel"
            )
        return cls([-m / s for m, s in zip(mean, std, strict=True)])

    def validate(self, images: torch.Tensor) -> None:
        if isinstance(self.value, Sequence) and len(self.value) != images.shape[1]:
            raise FaithcamValueError(
                f"baseline: Black has {len(self.value)} channel values, images have "
                f"{images.shape[1]} channels"
            )

    def bind(self, images, normalization):
        if self.value is not None or normalization is None:
            return self
        normalization.check(images)
        return Black(normalization.black(images.float()).flatten().tolist())

    def __call__(self, images, image_index, generator):
        value = torch.as_tensor(
            0.0 if self.value is None else self.value, dtype=images.dtype, device=images.device
        )
        return value.reshape(1, -1, 1, 1).expand_as(images).clone()


class Blur(Baseline):
    """A Gaussian-blurred copy of the input (σ in pixels), as in the Blur-IG baselines."""

    def __init__(self, sigma: float = 10.0) -> None:
        if not sigma > 0:
            raise FaithcamValueError(f"sigma: Blur needs sigma > 0 pixels, got {sigma}")
        self.sigma = float(sigma)

    def __call__(self, images, image_index, generator):
        return gaussian_blur(images, self.sigma)


class UniformNoise(Baseline):
    """Uniform noise between each image's minimum and maximum value."""

    stochastic = True

    def __call__(self, images, image_index, generator):
        return self.from_uniform(images, random_like(images, generator, uniform=True))

    def from_uniform(self, images: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
        """min + (max − min) · u per image, u ∈ [0, 1) shaped like ``images``."""
        flat = images.flatten(1)
        low = flat.amin(1).view(-1, 1, 1, 1)
        high = flat.amax(1).view(-1, 1, 1, 1)
        return low + (high - low) * uniform


class GaussianNoise(Baseline):
    """The input plus Gaussian noise of standard deviation ``std`` × the image's value range."""

    stochastic = True

    def __init__(self, std: float = 0.2) -> None:
        if not std >= 0:
            raise FaithcamValueError(f"std: GaussianNoise needs std >= 0, got {std}")
        self.std = float(std)

    def __call__(self, images, image_index, generator):
        return images + gaussian_noise(images, self.std, generator)

    def from_normal(self, images: torch.Tensor, normal: torch.Tensor) -> torch.Tensor:
        """x + std · range(x) · z, z ~ N(0, 1) shaped like ``images``."""
        return images + normal * (self.std * value_range(images))


class ReferenceSet(Baseline):
    """Baselines drawn uniformly at random from a set of reference images (Expected Gradients):
    the data distribution D. A pick identical to the row's own image is redrawn among the
    others (an image is no reference for itself). A set of one image is a point mass.
    """

    stochastic = True

    def __init__(self, images: torch.Tensor) -> None:
        if not isinstance(images, torch.Tensor) or images.dim() != 4:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images)
            raise FaithcamValueError(
                f"baseline: ReferenceSet expects a (R, C, H, W) tensor of images, got {shape}"
            )
        if images.shape[0] == 0:
            raise FaithcamValueError("baseline: ReferenceSet needs at least one image")
        if not images.is_floating_point() or not torch.isfinite(images).all():
            raise FaithcamValueError(
                "baseline: ReferenceSet images must be finite floating-point values"
            )
        self._images = images

    @property
    def images(self) -> torch.Tensor:
        """The (R, C, H, W) reference images."""
        return self._images

    def validate(self, images: torch.Tensor) -> None:
        _check_same_image_shape("ReferenceSet", self._images, images)

    def __call__(self, images, image_index, generator):
        device = generator.device if generator is not None else None
        count = len(self._images)
        picks = torch.randint(count, (len(images),), generator=generator, device=device)
        picks = picks.to(self._images.device)
        chosen = self._images[picks].to(device=images.device, dtype=images.dtype)
        if count > 1:
            itself = (chosen == images).flatten(1).all(1).to(self._images.device)
            if itself.any():
                shift = torch.randint(1, count, (len(images),), generator=generator, device=device)
                picks = torch.where(itself, (picks + shift.to(picks.device)) % count, picks)
                chosen = self._images[picks].to(device=images.device, dtype=images.dtype)
        return chosen

    def __repr__(self) -> str:
        return f"ReferenceSet({len(self._images)} images)"


class OtherImages(Baseline):
    """D = the other images of the same call (``baseline="others"``): a data-aware reference
    distribution without a separate data set. Needs at least two images."""

    stochastic = True

    def validate(self, images: torch.Tensor) -> None:
        if len(images) < 2:
            raise FaithcamValueError(
                "baseline: 'others' draws from the other images of the call; got one image "
                "(pass ReferenceSet(images) of your data instead)"
            )

    def bind(self, images, normalization):
        return ReferenceSet(images)

    def __call__(self, images, image_index, generator):
        raise FaithcamValueError("baseline: OtherImages must be bound to a call's images")


class FixedBaseline(Baseline):
    """A given baseline image (C, H, W), or one per image (B, C, H, W)."""

    def __init__(self, image: torch.Tensor) -> None:
        if image.dim() == 3:
            image = image.unsqueeze(0)
        if image.dim() != 4:
            raise FaithcamValueError(
                f"baseline: expected a (C, H, W) or (B, C, H, W) tensor, got {tuple(image.shape)}"
            )
        if not image.is_floating_point():
            raise FaithcamValueError(
                f"baseline: expected a floating-point tensor, got {image.dtype}"
            )
        if not torch.isfinite(image).all():
            raise FaithcamValueError(
                "baseline: the baseline tensor contains NaN or infinite values"
            )
        self._image = image

    def validate(self, images: torch.Tensor) -> None:
        _check_same_image_shape("the baseline tensor", self._image, images)
        if len(self._image) not in (1, len(images)):
            raise FaithcamValueError(
                f"baseline: got {len(self._image)} baseline images for {len(images)} images"
            )

    def __call__(self, images, image_index, generator):
        index = image_index if len(self._image) > 1 else torch.zeros_like(image_index)
        return self._image.to(images.device)[index.to(self._image.device)].to(images.dtype)

    def __repr__(self) -> str:
        return f"FixedBaseline({tuple(self._image.shape)})"


BASELINES: dict[str, type[Baseline]] = {
    "black": Black,
    "others": OtherImages,
    "blur": Blur,
    "uniform": UniformNoise,
    "gaussian": GaussianNoise,
}


def as_baseline(baseline: Baseline | str | torch.Tensor | None, default: Baseline) -> Baseline:
    """Normalise a ``baseline`` argument: an object, a name, a tensor, or None (``default``)."""
    if baseline is None:
        return default
    if isinstance(baseline, Baseline):
        return baseline
    if isinstance(baseline, str):
        if baseline not in BASELINES:
            raise FaithcamValueError(
                f"baseline: unknown name {baseline!r}; valid: {', '.join(BASELINES)}"
            )
        return BASELINES[baseline]()
    if isinstance(baseline, torch.Tensor):
        return FixedBaseline(baseline)
    raise FaithcamTypeError(
        f"baseline: expected a Baseline, a name, a tensor or None, got {type(baseline).__name__}"
    )


def _check_same_image_shape(what: str, reference: torch.Tensor, images: torch.Tensor) -> None:
    if reference.shape[1] != images.shape[1]:
        raise FaithcamValueError(
            f"baseline: {what} has {reference.shape[1]} channels, images have {images.shape[1]}"
        )
    if reference.shape[2:] != images.shape[2:]:
        raise FaithcamValueError(
            f"baseline: {what} has size {tuple(reference.shape[2:])}, images have "
            f"{tuple(images.shape[2:])}"
        )


def gaussian_noise(
    images: torch.Tensor, std: float, generator: torch.Generator | None
) -> torch.Tensor:
    """N(0, (std · value range)²) noise shaped like ``images``."""
    return random_like(images, generator) * (std * value_range(images))


def random_like(
    images: torch.Tensor, generator: torch.Generator | None, uniform: bool = False
) -> torch.Tensor:
    """Standard normal (or U(0, 1)) noise like ``images``, drawn on the generator's device."""
    device = generator.device if generator is not None else images.device
    draw = torch.rand if uniform else torch.randn
    return draw(images.shape, generator=generator, device=device).to(images.device, images.dtype)


def gaussian_blur(images: torch.Tensor, sigma: float, radius: int | None = None) -> torch.Tensor:
    """Separable Gaussian blur, kernel truncated at ``radius`` pixels (default ⌈3σ⌉); reflect
    padding (replicate where the image is too small to reflect)."""
    radius = max(1, math.ceil(3 * sigma)) if radius is None else radius
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    mode = "reflect" if min(images.shape[-2:]) > radius else "replicate"
    padded = F.pad(images, (radius, radius, radius, radius), mode=mode)
    blurred = F.conv2d(padded, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(blurred, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


REFERENCE_IMAGES = 32  # the largest data-aware D drawn from the user's images


def data_aware_references(
    n_images: int, load: Callable[[list[int]], torch.Tensor], limit: int = REFERENCE_IMAGES
) -> tuple[ReferenceSet, list[int]] | None:
    """The data-aware D of Expected Grad-CAM, the one policy of the CLI, the studies,
    :func:`faithcam.metrics.evaluate` and the demo: up to ``limit`` (32) of the user's
    ``n_images`` images, evenly spaced over them (indices ``⌊linspace(0, n − 1, k)⌋``,
    k = min(limit, n)), as a :class:`ReferenceSet`, which never draws an image as its own
    baseline. ``load(indices)`` returns those images (k, C, H, W). Returns the set and the
    indices, or None for fewer than two images (an image is no reference for itself)."""
    if n_images < 2:
        return None
    picks = torch.linspace(0, n_images - 1, min(limit, n_images)).long().tolist()
    return ReferenceSet(load(picks)), picks
