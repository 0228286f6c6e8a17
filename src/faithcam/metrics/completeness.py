"""Completeness: does the map account for the score it explains?

A map M (at the layer's resolution, signed, as the method computes it) is *complete* when
Σ_ij M_ij = y^c(x) − E_{x'~D}[y^c(x')] (Sundararajan et al., 2017, for attributions; Buono
et al., "Not All CAMs Are Complete", TMLR 2026, for CAMs, where completeness is the axiom that
governs faithfulness). For a Grad-CAM map on a GAP + linear head, Σ M = y^c(x) − bias_c, the
score against a zero feature map. This metric reports, per image, the relative gap

    |Σ_ij M_ij − (y^c(x) − E[y^c(x')])| / |y^c(x) − E[y^c(x')]|

(0 = complete) and keeps the two sides in ``details``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from faithcam.engine.defaults import BATCH_SIZE
from faithcam.engine.model_state import model_guard
from faithcam.engine.normalization import NormalizationSpec
from faithcam.errors import FaithcamValueError
from faithcam.metrics._common import (
    MetricResult,
    black_like,
    check_images,
    check_model,
    check_positive_int,
    chunks,
)
from faithcam.metrics.scoring import MetricTarget, Targets, forward, metric_target, scores_of

__all__ = ["completeness"]


def reference_scores(
    model: Callable[[Tensor], Tensor], references: Tensor, target: MetricTarget, batch_size: int
) -> Tensor:
    """Every reference scored for every image's target, (B, R): R forward passes (in chunks,
    under ``inference_mode``), each output scored once per image."""
    with torch.inference_mode(), model_guard(model):
        parts = [model(references[s]) for s in chunks(len(references), batch_size)]
        sizes = [s.stop - s.start for s in chunks(len(references), batch_size)]
        return torch.stack([
            torch.cat([
                target.scores(out, torch.full((n,), i, device=references.device))
                for out, n in zip(parts, sizes, strict=True)
            ])
            for i in range(target.n_images)
        ])  # fmt: skip


def completeness(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    raw_maps: Tensor,
    targets: Targets = None,
    *,
    references: Tensor | None = None,
    normalization: NormalizationSpec = None,
    batch_size: int = BATCH_SIZE,
) -> MetricResult:
    """Relative completeness gap of raw maps (B, h, w) (``CamResult.raw_maps``).

    The baseline expectation E[y^c(x')] is the mean logit over ``references`` (R, C, H, W) — the
    data distribution D — or, by default, the logit of pixel black (``normalization`` gives
    black's model-space value; without it the input 0). A reference identical to the image
    itself is left out of that image's mean, as Expected Grad-CAM's
    :class:`~faithcam.cams.baselines.ReferenceSet` never draws an image as its own baseline
    (so ``references=images`` matches the method's data-aware D). Scores are logits by
    default: the score the gradient methods differentiate (a Target that names another score,
    e.g. ``ClassProbability``, is scored as it says). Values are >= 0 (0 = complete).
    """
    check_model(model)
    images = check_images(images)
    batch_size = check_positive_int(batch_size, "batch_size")
    if not isinstance(raw_maps, Tensor) or raw_maps.dim() != 3 or len(raw_maps) != len(images):
        shape = tuple(raw_maps.shape) if isinstance(raw_maps, Tensor) else type(raw_maps)
        raise FaithcamValueError(
            f"raw_maps: expected ({len(images)}, h, w) maps (CamResult.raw_maps), got {shape}"
        )
    target = metric_target(
        targets, images, lambda: forward(model, images, batch_size),
        score=None, default="logit", metric="completeness",
    )  # fmt: skip
    rows = torch.arange(len(images), device=images.device)
    full = scores_of(model, images, target, rows, batch_size).double().cpu()
    if references is None:
        base = scores_of(model, black_like(images, normalization), target, rows, batch_size)
        expected = base.double().cpu()
    else:
        references = check_images(references)
        if references.shape[1:] != images.shape[1:]:
            raise FaithcamValueError(
                f"references: images of shape {tuple(references.shape[1:])} expected "
                f"{tuple(images.shape[1:])}"
            )
        references = references.to(images.device, images.dtype)  # scored by the images' model
        expected = _reference_mean(model, images, references, target, batch_size)
    sums = raw_maps.detach().double().sum(dim=(1, 2)).cpu()
    difference = full - expected
    gap = (sums - difference).abs() / difference.abs()
    return MetricResult(
        "completeness",
        gap,
        {"map_sum": sums, "score": full, "baseline_score": expected, "difference": difference},
        bounds=(0.0, math.inf),
    )


def _reference_mean(model, images, references, target, batch_size) -> Tensor:
    """(B,) mean score of each image's target over the references other than the image."""
    same = (images[:, None] == references[None]).flatten(2).all(2).cpu()
    if same.all(1).any():
        raise FaithcamValueError(
            "references: every reference equals an image itself; an image is no reference for "
            "itself (pass at least one other image)"
        )
    per_image = reference_scores(model, references, target, batch_size).double().cpu()
    kept = (~same).double()
    return (per_image * kept).sum(1) / kept.sum(1)
