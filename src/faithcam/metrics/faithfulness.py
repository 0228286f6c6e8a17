"""Perturbation faithfulness: deletion / insertion AUC, Average Drop, Increase in Confidence.

A faithful map ranks first the pixels the model actually relies on: removing them in that order
should destroy the score fast (deletion), adding them to an empty canvas should restore it fast
(insertion), and keeping only what the map highlights should preserve the score.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from faithcam.engine.model_state import model_guard
from faithcam.errors import FaithcamValueError
from faithcam.metrics._common import (
    ArrayLike,
    MetricResult,
    NormalizationSpec,
    Score,
    Targets,
    _as_logits,
    black_like,
    check_images,
    check_maps,
    check_model,
    check_positive_int,
    chunks,
    descending_ranks,
    minmax_normalise,
    resolve_targets,
    scores_of,
    substrate,
    target_scores,
    trapezoid_auc,
)

__all__ = ["average_drop", "deletion", "increase_in_confidence", "insertion"]


def _pixel_counts(n_pixels: int, steps: int | None, pixels_per_step: int | None) -> Tensor:
    """Number of pixels moved at each point of the curve: 0, p, 2p, ..., n_pixels."""
    if steps is not None and pixels_per_step is not None:
        raise FaithcamValueError("give either steps or pixels_per_step, not both")
    if pixels_per_step is None:
        steps = check_positive_int(100 if steps is None else steps, "steps")
        pixels_per_step = math.ceil(n_pixels / steps)
    else:
        pixels_per_step = check_positive_int(pixels_per_step, "pixels_per_step")
    n_points = math.ceil(n_pixels / pixels_per_step) + 1
    return (torch.arange(n_points) * pixels_per_step).clamp(max=n_pixels)


def _perturbation_curves(
    model: Callable[[Tensor], Tensor],
    start: Tensor,
    end: Tensor,
    ranks: Tensor,
    counts: Tensor,
    targets: Tensor,
    score: Score,
    batch_size: int,
) -> Tensor:
    """Scores (B, T) of images where the ``counts[t]`` top-ranked pixels come from ``end``.

    All B·T perturbed images are built batch-wise from rank thresholds (one argsort of each map,
    then ``ranks < count`` masks), ``batch_size`` images per forward pass.
    """
    b, _, h, w = start.shape
    t = counts.numel()
    counts = counts.to(ranks.device)
    flat_scores = torch.empty(b * t, dtype=torch.float64)
    with torch.inference_mode(), model_guard(model):
        for sl in chunks(b * t, batch_size):
            idx = torch.arange(sl.start, sl.stop, device=ranks.device)
            img, step = idx // t, idx % t
            keep_end = (ranks[img] < counts[step, None]).view(-1, 1, h, w)
            batch = torch.where(keep_end, end[img], start[img])
            flat_scores[sl] = (
                target_scores(_as_logits(model(batch)), targets[img], score).double().cpu()
            )
    return flat_scores.view(b, t)


def _curve_metric(
    name: str,
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    maps: ArrayLike,
    targets: Targets,
    steps: int | None,
    pixels_per_step: int | None,
    substrate_kind: str | Tensor,
    score: Score,
    batch_size: int,
    normalization: NormalizationSpec,
) -> MetricResult:
    check_model(model)
    images = check_images(images)
    maps = check_maps(maps, images)
    batch_size = check_positive_int(batch_size, "batch_size")
    h, w = images.shape[-2:]
    counts = _pixel_counts(h * w, steps, pixels_per_step)
    base = substrate(images, substrate_kind, normalization)
    targets_t = resolve_targets(model, images, targets, batch_size)
    ranks = descending_ranks(maps)
    start, end = (images, base) if name == "deletion" else (base, images)
    curves = _perturbation_curves(model, start, end, ranks, counts, targets_t, score, batch_size)
    fraction = counts.double() / (h * w)
    return MetricResult(
        name,
        trapezoid_auc(curves, fraction),
        {"curves": curves, "fraction": fraction, "targets": targets_t.cpu()},
        bounds=(0.0, 1.0) if score == "probability" else None,
    )


def deletion(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    maps: ArrayLike,
    targets: Targets = None,
    *,
    steps: int | None = None,
    pixels_per_step: int | None = None,
    substrate: str | Tensor = "black",
    score: Score = "probability",
    batch_size: int = 64,
    normalization: NormalizationSpec = None,
) -> MetricResult:
    """Deletion AUC (Petsiuk et al., RISE, BMVC 2018). Lower is better.

    Pixels are replaced by the substrate in decreasing order of the map, ``pixels_per_step`` at a
    time (default ``ceil(H·W / steps)``, ``steps`` = 100): the curve is
    ``s_t = score_c(x with its k_t most important pixels replaced)`` for
    ``k_t = 0, p, 2p, ..., H·W``, and the value is its trapezoidal area over the fraction of
    pixels removed, ``AUC = Σ_t (s_t + s_{t+1})/2 · (k_{t+1} − k_t)/(H·W)``. The score is the
    softmax probability of the target class (``score="logit"`` for the logit). Substrates:
    ``"black"`` (RISE's deletion default; pixel black when ``normalization=(mean, std)`` is
    given, else the input value 0), ``"blur"``, ``"mean"`` or a tensor.

    ``details``: ``curves`` (B, T), ``fraction`` (T,), ``targets``.
    """
    return _curve_metric(
        "deletion", model, images, maps, targets, steps, pixels_per_step, substrate, score,
        batch_size, normalization,
    )  # fmt: skip


def insertion(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    maps: ArrayLike,
    targets: Targets = None,
    *,
    steps: int | None = None,
    pixels_per_step: int | None = None,
    substrate: str | Tensor = "blur",
    score: Score = "probability",
    batch_size: int = 64,
    normalization: NormalizationSpec = None,
) -> MetricResult:
    """Insertion AUC (Petsiuk et al., RISE, BMVC 2018). Higher is better.

    Starting from the substrate (default ``"blur"``: Gaussian blur, kernel 11, σ = 5, as RISE),
    pixels of the image are put back in decreasing order of the map; same curve, steps and
    trapezoidal area as :func:`deletion`.
    """
    return _curve_metric(
        "insertion", model, images, maps, targets, steps, pixels_per_step, substrate, score,
        batch_size, normalization,
    )  # fmt: skip


def _masked_confidence(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    maps: ArrayLike,
    targets: Targets,
    score: Score,
    batch_size: int,
    normalization: NormalizationSpec,
) -> tuple[Tensor, Tensor, Tensor]:
    """Scores Y on the images and O on the explanation-masked images
    ``b + minmax(map) ⊙ (x − b)``, b pixel black (0 without a normalisation: ``x ⊙ M``)."""
    check_model(model)
    images = check_images(images)
    maps = minmax_normalise(check_maps(maps, images))
    batch_size = check_positive_int(batch_size, "batch_size")
    targets_t = resolve_targets(model, images, targets, batch_size)
    full = scores_of(model, images, targets_t, score, batch_size).double().cpu()
    black = black_like(images, normalization)
    masked_images = black + maps[:, None] * (images - black)
    masked = scores_of(model, masked_images, targets_t, score, batch_size)
    return full, masked.double().cpu(), targets_t.cpu()


def average_drop(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    maps: ArrayLike,
    targets: Targets = None,
    *,
    score: Score = "probability",
    batch_size: int = 64,
    normalization: NormalizationSpec = None,
) -> MetricResult:
    """Average Drop % (Chattopadhyay et al., Grad-CAM++, WACV 2018). Lower is better.

    Per image ``100 · max(0, Y − O) / Y``, where Y is the target score on the image and O on the
    explanation-masked image ``x ⊙ M`` with M the map min-max scaled to [0, 1]; the mean over
    images is Average Drop. It is also the "Drop %" / drop rate reported by Score-CAM and
    Integrated Grad-CAM (Sattarzadeh et al., ICASSP 2021), which use this same definition.
    Use the default probability score: with logits Y may be negative and the ratio meaningless.
    """
    full, masked, _ = _masked_confidence(
        model, images, maps, targets, score, batch_size, normalization
    )
    values = 100 * (full - masked).clamp_min(0) / full
    return MetricResult("average_drop", values, {"full": full, "masked": masked})


def increase_in_confidence(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    maps: ArrayLike,
    targets: Targets = None,
    *,
    score: Score = "probability",
    batch_size: int = 64,
    normalization: NormalizationSpec = None,
) -> MetricResult:
    """Increase in Confidence % (Chattopadhyay et al., Grad-CAM++, WACV 2018). Higher is better.

    Per image ``100 · [O > Y]`` with Y, O as in :func:`average_drop`; the mean is the percentage
    of images whose score rises when only the explained region is kept ("Increase %" / increase
    rate in Score-CAM and Integrated Grad-CAM).
    """
    full, masked, _ = _masked_confidence(
        model, images, maps, targets, score, batch_size, normalization
    )
    values = 100 * (masked > full).double()
    return MetricResult("increase_in_confidence", values, {"full": full, "masked": masked})
