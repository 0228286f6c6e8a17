"""Smoothed Score-CAMs: Score-CAM's channel scores averaged over N perturbed masks.

Both start from Score-CAM's masks H_k = s(Up(A^k)) (bilinear upsampling to the input size, then
min-max scaling to [0, 1]; :mod:`faithcam.cams.gradient_free`) and end as Score-CAM does,
α = softmax_k(C), map = ReLU(Σ_k α_k A^k) (the baseline score f^c(X_b) cancels in the softmax):

- SS-CAM (Wang et al., "SS-CAM: Smoothed Score-CAM for Sharper Visual Feature Localization",
  2020, arXiv 2006.14255), noise on the mask: C_k = (1/N) Σ_n f^c(X ∘ (H_k + δ_n)),
  δ_n ~ N(0, σ²) i.i.d. per pixel (σ = 2, N = 35 as torchcam). The draws come from the call's
  generator, one (rows, 1, H, W) tensor per sample n within each chunk of ``batch_size``
  (image, channel) rows, so a single chunk reproduces torchcam's draws for the same seed.
- IS-CAM (Naidu et al., "IS-CAM: Integrated Score-CAM for axiomatic-based explanations", 2020,
  arXiv 2010.03023): C_k = (1/N) Σ_{i=1}^{N} f^c(X ∘ (c_i H_k)) with the accumulated mask
  coefficient c_i = Σ_{j=1}^{i} j/N of the paper's algorithm (N = ``steps`` = 10; as
  torchcam). Identical masks (constant channels all give the zero mask) are forwarded once,
  as in Score-CAM.

Cost: one capture forward plus B·K·N masked forwards (IS-CAM: B·N per distinct mask) under
``torch.inference_mode``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from faithcam.cams.gradient_free import combine, distinct_masks, score_masks
from faithcam.cams.method import Method, Raw
from faithcam.engine.capture import capture_inputs
from faithcam.engine.request import Request
from faithcam.engine.targets import select_output
from faithcam.engine.validation import check_cost, check_count
from faithcam.errors import FaithcamTypeError, FaithcamValueError


def _check_align_corners(value: object) -> None:
    if not isinstance(value, bool):
        raise FaithcamTypeError(f"align_corners: expected a bool, got {value!r}")


@dataclass(frozen=True)
class NoisyMaskOptions:
    """SS-CAM: ``samples`` noisy masks per channel, noise σ (on masks in [0, 1]), upsampling."""

    samples: int = 35
    sigma: float = 2.0
    align_corners: bool = False

    def __post_init__(self) -> None:
        check_count("samples", self.samples)
        if isinstance(self.sigma, bool) or not isinstance(self.sigma, int | float):
            raise FaithcamTypeError(f"sigma: expected a number >= 0, got {self.sigma!r}")
        if not self.sigma >= 0:
            raise FaithcamValueError(f"sigma: must be >= 0, got {self.sigma}")
        _check_align_corners(self.align_corners)


@dataclass(frozen=True)
class ScaledMaskOptions:
    """IS-CAM: ``steps`` mask scalings c_i = Σ_{j≤i} j/N along the path, upsampling."""

    steps: int = 10
    align_corners: bool = False

    def __post_init__(self) -> None:
        check_count("steps", self.steps)
        _check_align_corners(self.align_corners)


def _distinct_rows(activations: torch.Tensor):
    """(distinct low-resolution masks (R, h, w), image of each row (R,), row of each of the
    B·K channels (B·K,)): Score-CAM's de-duplication, s(constant) = 0 shared."""
    maps, images, channel_row, offset = [], [], [], 0
    for b, per_image in enumerate(activations):
        unique, inverse, _ = distinct_masks(per_image, baseline=False)
        maps.append(unique)
        images.append(torch.full((len(unique),), b, dtype=torch.long))
        channel_row.append(inverse + offset)
        offset += len(unique)
    device = activations.device
    return torch.cat(maps), torch.cat(images).to(device), torch.cat(channel_row).to(device)


def _smoothed_scores(
    request: Request, activations: torch.Tensor, count: int, sigma: float | None, align: bool
) -> tuple[torch.Tensor, int]:
    """(B, K) channel scores averaged over ``count`` noisy (``sigma``) or scaled (None) masks,
    and the number of distinct mask rows."""
    images, generator = request.images, request.generator
    n_images, channels = activations.shape[:2]
    size = (images.shape[-2], images.shape[-1])
    coefficients = torch.arange(1, count + 1, dtype=torch.float64).cumsum(0) / count
    if sigma is not None:  # every (image, channel) row has its own noisy masks
        flat = activations.flatten(0, 1)
        row_image = torch.arange(n_images, device=images.device).repeat_interleave(channels)
        channel_row = torch.arange(len(flat), device=images.device)
    else:  # identical masks (constant channels, duplicates) share their forwards
        flat, row_image, channel_row = _distinct_rows(activations)
    totals = torch.zeros(len(row_image), dtype=torch.float64, device=images.device)
    device = generator.device if generator is not None else images.device
    with torch.inference_mode():
        for start in range(0, len(row_image), request.batch_size):
            rows = slice(start, start + request.batch_size)
            index = row_image[rows]
            masks = score_masks(flat[rows], size, align).to(images.dtype)
            not_input = torch.zeros(len(index), dtype=torch.bool, device=images.device)
            inputs = images[index]
            for n in range(count):
                if sigma is not None:
                    delta = torch.randn(masks.shape, generator=generator, device=device)
                    mask = masks + sigma * delta.to(masks.device, masks.dtype)
                else:
                    mask = float(coefficients[n]) * masks
                outputs = select_output(request.model(inputs * mask), request.output_selector)
                totals[rows] += request.target.scores(outputs, index, not_input).double()
    return (totals / count)[channel_row].view(n_images, channels), len(flat)


class _SmoothedScore(Method):
    def run(self, request: Request) -> Raw:
        count, sigma = self._perturbation()  # the cost first: one forward per mask and image
        option = f"{'samples' if sigma is not None else 'steps'}={count}"
        check_cost(len(request.images), count, option, request.batch_size)
        captured = capture_inputs(request)
        activations = captured.activations
        scores, rows = _smoothed_scores(
            request, activations, count, sigma, self.options.align_corners
        )
        alpha = torch.softmax(scores, dim=1).to(activations.dtype)
        raw = combine(alpha, activations, request.eigen_smooth)
        settings = {**self.settings(), "eigen_smooth": request.eigen_smooth}
        settings["forwards"] = count * rows
        return Raw(raw, captured.scores, request.layer.name, settings, request.target)

    def _perturbation(self) -> tuple[int, float | None]:
        raise NotImplementedError


class SSCAM(_SmoothedScore):
    """SS-CAM maps (options ``samples`` = 35, ``sigma`` = 2.0, ``align_corners``)."""

    Options = NoisyMaskOptions
    draws_random = True

    def _perturbation(self) -> tuple[int, float | None]:
        return self.options.samples, float(self.options.sigma)


class ISCAM(_SmoothedScore):
    """IS-CAM maps (options ``steps`` = 10, ``align_corners``; ``samples`` is the deprecated
    name of ``steps``)."""

    Options = ScaledMaskOptions
    renamed = {"samples": "steps"}  # noqa: RUF012 - read-only class table

    def _perturbation(self) -> tuple[int, float | None]:
        return self.options.steps, None
