"""Perturbation faithfulness: deletion / insertion AUC, Average Drop, Increase in Confidence.

A faithful map ranks first the pixels the model actually relies on: removing them in that order
should destroy the score fast (deletion), adding them to an empty canvas should restore it fast
(insertion), and keeping only what the map highlights should preserve the score.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from faithcam.engine.defaults import BATCH_SIZE, CURVE_STEPS
from faithcam.engine.deprecation import renamed_keywords
from faithcam.engine.model_state import model_guard
from faithcam.engine.progress import track
from faithcam.engine.validation import naming_channel_mismatch
from faithcam.errors import FaithcamValueError
from faithcam.metrics._common import (
    ArrayLike,
    MetricResult,
    NormalizationSpec,
    black_like,
    check_images,
    check_maps,
    check_model,
    check_positive_int,
    chunks,
    descending_ranks,
    minmax_normalize,
    substrate,
    trapezoid_auc,
)
from faithcam.metrics.scoring import (
    MetricTarget,
    Score,
    Targets,
    forward,
    metric_target,
    scores_of,
)

__all__ = ["average_drop", "deletion", "increase_in_confidence", "insertion"]


def _pixel_counts(n_pixels: int, curve_steps: int | None, pixels_per_step: int | None) -> Tensor:
    """Number of pixels moved at each point of the curve: 0, p, 2p, ..., n_pixels."""
    if curve_steps is not None and pixels_per_step is not None:
        raise FaithcamValueError("give either curve_steps or pixels_per_step, not both")
    if pixels_per_step is None:
        steps = CURVE_STEPS if curve_steps is None else curve_steps
        pixels_per_step = math.ceil(n_pixels / check_positive_int(steps, "curve_steps"))
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
    target: MetricTarget,
    batch_size: int,
) -> Tensor:
    """Scores (B, T) of images where the ``counts[t]`` top-ranked pixels come from ``end``.

    All B·T perturbed images are built batch-wise from rank thresholds (one argsort of each map,
    then ``ranks < count`` masks), ``batch_size`` images per forward pass; each forward pass
    reports progress (:func:`~faithcam.engine.progress.track`).
    """
    b, _, h, w = start.shape
    t = counts.numel()
    counts = counts.to(ranks.device)
    flat_scores = torch.empty(b * t, dtype=torch.float64)
    with (
        torch.inference_mode(),
        model_guard(model),
        naming_channel_mismatch(start),
        track(b * t, "curves", "image") as advance,
    ):
        for sl in chunks(b * t, batch_size):
            idx = torch.arange(sl.start, sl.stop, device=ranks.device)
            img, step = idx // t, idx % t
            keep_end = (ranks[img] < counts[step, None]).view(-1, 1, h, w)
            batch = torch.where(keep_end, end[img], start[img])
            flat_scores[sl] = target.scores(model(batch), img).double().cpu()
            advance(sl.stop - sl.start)
    return flat_scores.view(b, t)


def _predictions(model: Callable[[Tensor], Tensor], images: Tensor, batch_size: int):
    """The outputs on the clean images, computed only if the predicted class is asked for."""
    return lambda: forward(model, images, batch_size)


def _curve_metric(
    name: str,
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    maps: ArrayLike,
    targets: Targets,
    options: dict[str, Any],
) -> MetricResult:
    check_model(model)
    images = check_images(images)
    maps = check_maps(maps, images)
    batch_size = check_positive_int(options["batch_size"], "batch_size")
    h, w = images.shape[-2:]
    counts = _pixel_counts(h * w, options["curve_steps"], options["pixels_per_step"])
    base = substrate(images, options["substrate"], options["normalization"])
    target = metric_target(
        targets, images, _predictions(model, images, batch_size),
        score=options["score"], default="probability", metric=name,
    )  # fmt: skip
    ranks = descending_ranks(maps)
    start, end = (images, base) if name == "deletion" else (base, images)
    curves = _perturbation_curves(model, start, end, ranks, counts, target, batch_size)
    fraction = counts.double() / (h * w)
    class_ids = None if target.class_ids is None else target.class_ids.cpu()
    return MetricResult(
        name,
        trapezoid_auc(curves, fraction),
        {"curves": curves, "fraction": fraction, "targets": class_ids},
        bounds=target.bounds,
    )


@renamed_keywords(steps="curve_steps")
def deletion(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    maps: ArrayLike,
    targets: Targets = None,
    *,
    curve_steps: int | None = None,
    pixels_per_step: int | None = None,
    substrate: str | Tensor = "black",
    score: Score | None = None,
    batch_size: int = BATCH_SIZE,
    normalization: NormalizationSpec = None,
) -> MetricResult:
    """Deletion AUC (Petsiuk et al., RISE, BMVC 2018). Lower is better.

    Pixels are replaced by the substrate in decreasing order of the map, ``pixels_per_step`` at a
    time (default ``ceil(H·W / curve_steps)``, ``curve_steps`` = :data:`CURVE_STEPS` = 100 when
    neither is given): the curve is
    ``s_t = score_c(x with its k_t most important pixels replaced)`` for
    ``k_t = 0, p, 2p, ..., H·W``, and the value is its trapezoidal area over the fraction of
    pixels removed, ``AUC = Σ_t (s_t + s_{t+1})/2 · (k_{t+1} − k_t)/(H·W)``. Substrates:
    ``"black"`` (RISE's deletion default; pixel black when ``normalization=(mean, std)`` is
    given, else the input value 0), ``"blur"``, ``"mean"`` or a tensor.

    ``targets``: anything :func:`faithcam.explain` takes (see :mod:`faithcam.metrics.scoring`).
    ``score`` defaults to the softmax probability of the target class, as RISE scores it (so
    the AUC lies in [0, 1] and is comparable across images); ``"logit"`` or a ``ClassLogit``
    target scores the logit. ``curve_steps`` (formerly ``steps``) counts the curve's steps, not
    the path steps of :func:`faithcam.explain`.

    ``details``: ``curves`` (B, T), ``fraction`` (T,), ``targets`` (class ids, or None).
    """
    options = {
        "curve_steps": curve_steps, "pixels_per_step": pixels_per_step, "substrate": substrate,
        "score": score, "batch_size": batch_size, "normalization": normalization,
    }  # fmt: skip
    return _curve_metric("deletion", model, images, maps, targets, options)


@renamed_keywords(steps="curve_steps")
def insertion(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    maps: ArrayLike,
    targets: Targets = None,
    *,
    curve_steps: int | None = None,
    pixels_per_step: int | None = None,
    substrate: str | Tensor = "blur",
    score: Score | None = None,
    batch_size: int = BATCH_SIZE,
    normalization: NormalizationSpec = None,
) -> MetricResult:
    """Insertion AUC (Petsiuk et al., RISE, BMVC 2018). Higher is better.

    Starting from the substrate (default ``"blur"``: Gaussian blur, kernel 11, σ = 5, as RISE),
    pixels of the image are put back in decreasing order of the map; same curve, steps,
    trapezoidal area and score (default: the probability, as RISE) as :func:`deletion`.
    """
    options = {
        "curve_steps": curve_steps, "pixels_per_step": pixels_per_step, "substrate": substrate,
        "score": score, "batch_size": batch_size, "normalization": normalization,
    }  # fmt: skip
    return _curve_metric("insertion", model, images, maps, targets, options)


def _masked_confidence(
    name: str,
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    maps: ArrayLike,
    targets: Targets,
    score: Score | None,
    batch_size: int,
    normalization: NormalizationSpec,
) -> tuple[Tensor, Tensor, MetricTarget]:
    """Scores Y on the images and O on the explanation-masked images
    ``b + minmax(map) ⊙ (x − b)``, b pixel black (0 without a normalization: ``x ⊙ M``)."""
    check_model(model)
    images = check_images(images)
    maps = minmax_normalize(check_maps(maps, images))
    batch_size = check_positive_int(batch_size, "batch_size")
    target = metric_target(
        targets, images, _predictions(model, images, batch_size),
        score=score, default="probability", metric=name,
    )  # fmt: skip
    index = torch.arange(images.shape[0], device=images.device)
    full = scores_of(model, images, target, index, batch_size).double().cpu()
    black = black_like(images, normalization)
    masked_images = black + maps[:, None] * (images - black)
    masked = scores_of(model, masked_images, target, index, batch_size)
    return full, masked.double().cpu(), target


def average_drop(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    maps: ArrayLike,
    targets: Targets = None,
    *,
    score: Score | None = None,
    batch_size: int = BATCH_SIZE,
    normalization: NormalizationSpec = None,
) -> MetricResult:
    """Average Drop % (Chattopadhyay et al., Grad-CAM++, WACV 2018). Lower is better.

    Per image ``100 · max(0, Y − O) / Y``, where Y is the target score on the image and O on the
    explanation-masked image ``x ⊙ M`` with M the map min-max scaled to [0, 1]; the mean over
    images is Average Drop. It is also the "Drop %" / drop rate reported by Score-CAM and
    Integrated Grad-CAM (Sattarzadeh et al., ICASSP 2021), which use this same definition.
    ``score`` defaults to the softmax probability, as Grad-CAM++ defines Y and O ("the model's
    output score (confidence)"): then each value lies in [0, 100]. With logits Y may be negative
    and the ratio meaningless.
    """
    full, masked, target = _masked_confidence(
        "average_drop", model, images, maps, targets, score, batch_size, normalization
    )
    values = 100 * (full - masked).clamp_min(0) / full
    bounds = (0.0, 100.0) if target.bounds is not None else None
    return MetricResult("average_drop", values, {"full": full, "masked": masked}, bounds=bounds)


def increase_in_confidence(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    maps: ArrayLike,
    targets: Targets = None,
    *,
    score: Score | None = None,
    batch_size: int = BATCH_SIZE,
    normalization: NormalizationSpec = None,
) -> MetricResult:
    """Increase in Confidence % (Chattopadhyay et al., Grad-CAM++, WACV 2018). Higher is better.

    Per image ``100 · [O > Y]`` with Y, O as in :func:`average_drop` (same default score, the
    probability, as Grad-CAM++); the mean is the percentage of images whose score rises when
    only the explained region is kept ("Increase %" / increase rate in Score-CAM and Integrated
    Grad-CAM). Each value is 0 or 100, so the interval is Wilson's.
    """
    full, masked, _ = _masked_confidence(
        "increase_in_confidence", model, images, maps, targets, score, batch_size, normalization
    )
    values = 100 * (masked > full).double()
    return MetricResult(
        "increase_in_confidence", values, {"full": full, "masked": masked}, bounds=(0.0, 100.0)
    )
