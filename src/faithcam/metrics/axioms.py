"""The CAM axioms of XGrad-CAM (Fu et al., "Axiom-based Grad-CAM", BMVC 2020, arXiv 2008.02312).

Both measures work on a layer's activations A (B, K, h, w), the channel weights a CAM method
assigns to them, and a ``head``: a callable mapping activations to the model's class scores
(everything after the layer, e.g. ``lambda a: model.fc(model.avgpool(a).flatten(1))``). They
need no hooks and no faithcam method, so any CAM implementation can be measured.

``weights`` is either (B, K), one weight per channel (Grad-CAM, XGrad-CAM, CAM...), giving the
map ``L = Σ_k w_k A^k``, or (B, K, h, w), per-location channel weights (HiResCAM's G ⊙ ·,
LayerCAM's ReLU(G) ⊙ ·), giving ``L = Σ_k w^k ⊙ A^k``. Channel k's share of the map is
``c_k = Σ_ij (w ⊙ A)^k_ij``. The map is taken before any ReLU or upsampling.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from faithcam.engine.defaults import BATCH_SIZE
from faithcam.errors import FaithcamTypeError, FaithcamValueError
from faithcam.metrics._common import MetricResult, check_positive_int, chunks
from faithcam.metrics.scoring import MetricTarget, Targets, metric_target

__all__ = ["conservation_violation", "sensitivity_violation"]

Head = Callable[[Tensor], Tensor]


def _head_outputs(head: Head, activations: Tensor, batch_size: int) -> Tensor:
    """Class scores (N, classes) of ``head`` on activations, in chunks, under inference_mode."""
    with torch.inference_mode():
        pieces = chunks(len(activations), batch_size)
        return torch.cat([_checked(head(activations[sl])) for sl in pieces])


def _checked(logits: object) -> Tensor:
    if not isinstance(logits, Tensor) or logits.ndim != 2:
        raise FaithcamValueError("head must return class scores of shape (N, classes)")
    return logits


def _head_scores(
    head: Head, activations: Tensor, target: MetricTarget, rows: Tensor, batch_size: int
) -> Tensor:
    """Target scores (N,) of ``head`` on activations (row r of image ``rows[r]``)."""
    out = []
    with torch.inference_mode():
        for sl in chunks(activations.shape[0], batch_size):
            out.append(target.scores(_checked(head(activations[sl])), rows[sl]).double())
    return torch.cat(out)


def _prepare(
    activations: Tensor, weights: Tensor, head: Head, targets: Targets, batch_size: int
) -> tuple[Tensor, MetricTarget, Tensor]:
    """Checked inputs: channel contributions c (B, K), the bound target, full scores y (B,)."""
    if not isinstance(activations, Tensor) or activations.ndim != 4:
        raise FaithcamValueError(
            "activations must be a tensor of shape (B, K, h, w), got "
            f"{tuple(activations.shape) if isinstance(activations, Tensor) else activations!r}"
        )
    if not callable(head):
        raise FaithcamTypeError("head must be a callable mapping activations to class scores")
    b, k, h, w = activations.shape
    weights = torch.as_tensor(weights).to(activations)
    if tuple(weights.shape) == (b, k):
        weights = weights[:, :, None, None]
    elif tuple(weights.shape) != (b, k, h, w):
        raise FaithcamValueError(
            f"weights must have shape (B, K) = {(b, k)} or (B, K, h, w) = {(b, k, h, w)}, "
            f"got {tuple(weights.shape)}"
        )
    batch_size = check_positive_int(batch_size, "batch_size")
    activations = activations.detach()
    contributions = (weights.detach() * activations).sum(dim=(2, 3)).double()
    target = metric_target(
        targets, activations, lambda: _head_outputs(head, activations, batch_size),
        score=None, default="logit", metric="the axioms",
    )  # fmt: skip
    rows = torch.arange(b, device=activations.device)
    scores = _head_scores(head, activations, target, rows, batch_size)
    return contributions, target, scores


def conservation_violation(
    activations: Tensor,
    weights: Tensor,
    head: Head,
    targets: Targets = None,
    *,
    relative: bool = True,
    batch_size: int = BATCH_SIZE,
) -> MetricResult:
    """Violation of the Conservation axiom (XGrad-CAM §3). Lower is better.

    Conservation asks the map to redistribute the class score: ``Σ_ij L_ij = y^c(A)``. The
    violation per image is ``|y^c(A) − Σ_k c_k|``, divided by ``|y^c(A)|`` when ``relative``
    (default) so that models and classes are comparable. y^c is the head's target logit.
    """
    contributions, _, scores = _prepare(activations, weights, head, targets, batch_size)
    gap = (scores - contributions.sum(dim=1)).abs()
    values = gap / scores.abs() if relative else gap
    bounds = (0.0, math.inf)
    return MetricResult("conservation_violation", values.cpu(), {"scores": scores.cpu()}, bounds)


def sensitivity_violation(
    activations: Tensor,
    weights: Tensor,
    head: Head,
    targets: Targets = None,
    *,
    relative: bool = True,
    batch_size: int = BATCH_SIZE,
) -> MetricResult:
    """Violation of the Sensitivity axiom (XGrad-CAM §3). Lower is better.

    Sensitivity asks channel k's share of the map to equal the score drop when the channel is
    removed: ``c_k = S_k = y^c(A) − y^c(A with A^k = 0)``. The violation per image is
    ``Σ_k |S_k − c_k|``, divided by ``Σ_k |S_k|`` when ``relative`` (default). The K ablated
    activations of every image are scored ``batch_size`` at a time (B·K head calls in total).
    ``details["drops"]`` holds S (B, K).
    """
    contributions, target, scores = _prepare(activations, weights, head, targets, batch_size)
    b, k = contributions.shape
    ablated_scores = torch.empty(b * k, dtype=torch.float64, device=activations.device)
    for sl in chunks(b * k, check_positive_int(batch_size, "batch_size")):
        idx = torch.arange(sl.start, sl.stop, device=activations.device)
        ablated = activations.detach()[idx // k].clone()
        ablated[torch.arange(idx.numel()), idx % k] = 0  # the whole channel k of that image
        ablated_scores[sl] = _head_scores(head, ablated, target, idx // k, batch_size)
    drops = scores[:, None] - ablated_scores.view(b, k)
    gap = (drops - contributions).abs().sum(dim=1)
    values = gap / drops.abs().sum(dim=1) if relative else gap
    bounds = (0.0, math.inf)
    return MetricResult("sensitivity_violation", values.cpu(), {"drops": drops.cpu()}, bounds)
