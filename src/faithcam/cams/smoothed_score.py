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
  coefficient c_i = Σ_{j=1}^{i} j/N of the paper's algorithm (N = 10; as torchcam). Identical
  masks (constant channels all give the zero mask) are forwarded once, as in Score-CAM.

Cost: one capture forward plus B·K·N masked forwards (IS-CAM: B·N per distinct mask) under
``torch.inference_mode``.
"""

from __future__ import annotations

import torch

from faithcam.cams.call import Call, make_result
from faithcam.cams.gradient_free import _distinct_masks, _masks, combine
from faithcam.engine.result import CamResult
from faithcam.engine.targets import select_output
from faithcam.engine.validation import check_cost
from faithcam.errors import FaithcamTypeError, FaithcamValueError


def _check(options: dict) -> None:
    samples = options["samples"]
    if isinstance(samples, bool) or not isinstance(samples, int):
        raise FaithcamTypeError(f"samples: expected an int >= 1, got {samples!r}")
    if samples < 1:
        raise FaithcamValueError(f"samples: must be >= 1, got {samples}")
    sigma = options.get("sigma", 0.0)
    if isinstance(sigma, bool) or not isinstance(sigma, int | float):
        raise FaithcamTypeError(f"sigma: expected a number >= 0, got {sigma!r}")
    if not sigma >= 0:
        raise FaithcamValueError(f"sigma: must be >= 0, got {sigma}")
    if not isinstance(options["align_corners"], bool):
        raise FaithcamTypeError(f"align_corners: expected a bool, got {options['align_corners']!r}")


def _distinct_rows(activations: torch.Tensor):
    """(distinct low-resolution masks (R, h, w), image of each row (R,), row of each of the
    B·K channels (B·K,)): Score-CAM's de-duplication, s(constant) = 0 shared."""
    maps, images, channel_row, offset = [], [], [], 0
    for b, per_image in enumerate(activations):
        unique, inverse, _ = _distinct_masks(per_image, baseline=False)
        maps.append(unique)
        images.append(torch.full((len(unique),), b, dtype=torch.long))
        channel_row.append(inverse + offset)
        offset += len(unique)
    device = activations.device
    return torch.cat(maps), torch.cat(images).to(device), torch.cat(channel_row).to(device)


def _run(call: Call, defaults: dict, noise: bool) -> CamResult:
    options = call.take_options(defaults)
    _check(options)  # then its cost: at least one forward per sample and image (x channels)
    check_cost(
        len(call.images), options["samples"], f"samples={options['samples']}", call.batch_size
    )
    target, layer = call.bind(), call.resolve()
    captured = call.forward_capture(layer, target)
    activations, images = captured.activations, call.images
    n_images, channels = activations.shape[:2]
    size = (images.shape[-2], images.shape[-1])
    samples = options["samples"]
    coefficients = torch.arange(1, samples + 1, dtype=torch.float64).cumsum(0) / samples
    if noise:  # every (image, channel) row has its own noisy masks
        flat = activations.flatten(0, 1)
        row_image = torch.arange(n_images, device=images.device).repeat_interleave(channels)
        channel_row = torch.arange(len(flat), device=images.device)
    else:  # identical masks (constant channels, duplicates) share their forwards
        flat, row_image, channel_row = _distinct_rows(activations)
    totals = torch.zeros(len(row_image), dtype=torch.float64, device=images.device)
    generator = call.generator
    device = generator.device if generator is not None else images.device
    with torch.inference_mode():
        for start in range(0, len(row_image), call.batch_size):
            rows = slice(start, start + call.batch_size)
            index = row_image[rows]
            masks = _masks(flat[rows], size, options["align_corners"]).to(images.dtype)
            not_input = torch.zeros(len(index), dtype=torch.bool, device=images.device)
            inputs = images[index]
            for n in range(samples):
                if noise:
                    delta = torch.randn(masks.shape, generator=generator, device=device)
                    mask = masks + options["sigma"] * delta.to(masks.device, masks.dtype)
                else:
                    mask = float(coefficients[n]) * masks
                outputs = select_output(call.model(inputs * mask), call.output_selector)
                totals[rows] += target.scores(outputs, index, not_input).double()
    scores = (totals / samples)[channel_row].view(n_images, channels)
    alpha = torch.softmax(scores, dim=1).to(activations.dtype)
    raw = combine(alpha, activations, call.eigen_smooth)
    settings = {**options, "eigen_smooth": call.eigen_smooth, "forwards": samples * len(flat)}
    return make_result(call, raw, target, captured.scores, layer.name, settings)


def run_sscam(call: Call) -> CamResult:
    """SS-CAM maps (options ``samples`` = 35, ``sigma`` = 2.0, ``align_corners``)."""
    return _run(call, {"samples": 35, "sigma": 2.0, "align_corners": False}, noise=True)


def run_iscam(call: Call) -> CamResult:
    """IS-CAM maps (options ``samples`` = 10, ``align_corners``)."""
    return _run(call, {"samples": 10, "align_corners": False}, noise=False)
