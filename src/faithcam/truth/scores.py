"""Scores of a map against the truth, per image, at the layer's resolution.

The truth φ is signed (a location can lower the score); most CAMs are shown after a ReLU and
say nothing about negative evidence. So a map m is scored as the user sees it, m = ReLU(raw
map), against the *positive part* of the truth, φ⁺ = max(φ, 0), for ranks, top-k and distance,
and against the sign of φ for sign agreement:

- ``spearman``: Spearman's rank correlation of m and φ⁺ over the locations (ties share ranks).
  Undefined (NaN, the image is left out) when φ⁺ is constant; 0 when m is constant (a flat map
  ranks nothing).
- ``topk``: of the k = ⌈n/4⌉ locations with the largest positive truth, the share that are
  among the k largest positive values of m (fewer than k when fewer are positive).
- ``sign``: Σ_l |φ_l| · [m_l > 0 ⟺ φ_l > 0] / Σ_l |φ_l|: the share of the truth's absolute
  mass whose sign the map shows right (a location that adds to the score must be shown, one
  that lowers it must be left at zero). Weighting by |φ| keeps near-zero locations, whose sign
  is noise, from counting.
- ``distance``: min_{s ≥ 0} ‖s·m − φ⁺‖₂ / ‖φ⁺‖₂ = √(1 − cos²(m, φ⁺)) ∈ [0, 1]: the relative L2
  error of the best rescaled map. Scale-free because maps are shown rescaled (each image by its
  maximum), so only the shape can be right; L2 because the eye weighs strong locations most and
  the best scale has a closed form. 0 = the right shape; 1 = nothing in common (a flat map).

"Positive" means above 10⁻⁶ × the largest absolute value (rounding noise is not evidence).
Intervals across images (:func:`interval`): those of :class:`faithcam.metrics.MetricResult` for
a metric bounded to the score's range, which never leave it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import stats

from faithcam.metrics import MetricResult

SCORES = ("spearman", "topk", "sign", "distance")
# Higher is better for every score but the distance.
HIGHER_IS_BETTER = {"spearman": True, "topk": True, "sign": True, "distance": False}
RELATIVE_ZERO = 1e-6


def _positive(values: np.ndarray) -> np.ndarray:
    scale = float(np.abs(values).max()) if values.size else 0.0
    return values > RELATIVE_ZERO * scale if scale > 0 else np.zeros(values.shape, bool)


def rank_correlation(shown: np.ndarray, positive_truth: np.ndarray) -> float:
    if np.ptp(positive_truth) == 0:
        return math.nan
    if np.ptp(shown) == 0:
        return 0.0
    return float(stats.spearmanr(shown, positive_truth).statistic)


def top_k_overlap(shown: np.ndarray, truth: np.ndarray, k: int) -> float:
    truth_set = _top_positive(truth, k)
    if not truth_set:
        return math.nan
    return len(truth_set & _top_positive(shown, k)) / len(truth_set)


def _top_positive(values: np.ndarray, k: int) -> set[int]:
    order = np.argsort(-values, kind="stable")[:k]
    return {int(i) for i in order if _positive(values)[i]}


def sign_agreement(shown: np.ndarray, truth: np.ndarray) -> float:
    mass = np.abs(truth)
    if mass.sum() == 0:
        return math.nan
    agree = _positive(shown) == _positive(truth)
    return float((mass * agree).sum() / mass.sum())


def scaled_distance(shown: np.ndarray, positive_truth: np.ndarray) -> float:
    norm_truth = float(np.linalg.norm(positive_truth))
    if norm_truth == 0:
        return math.nan
    norm_shown = float(np.linalg.norm(shown))
    if norm_shown == 0:
        return 1.0
    cosine = float(shown @ positive_truth) / (norm_shown * norm_truth)
    return math.sqrt(max(0.0, 1.0 - min(1.0, cosine) ** 2))


def agreement(raw_map: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    """The four scores of one (h, w) raw map against one (h, w) truth."""
    shown = np.clip(raw_map.detach().double().cpu().numpy().ravel(), 0, None)
    phi = truth.detach().double().cpu().numpy().ravel()
    positive = np.clip(phi, 0, None)
    k = math.ceil(len(phi) / 4)
    return {
        "spearman": rank_correlation(shown, positive),
        "topk": top_k_overlap(shown, phi, k),
        "sign": sign_agreement(shown, phi),
        "distance": scaled_distance(shown, positive),
    }


# The range of each score: its intervals stay inside it.
BOUNDS = {"spearman": (-1.0, 1.0), "topk": (0.0, 1.0), "sign": (0.0, 1.0), "distance": (0.0, 1.0)}


def interval(values: list[float], score: str) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of the finite ``values`` of ``score`` across images: the 95 %
    interval of :class:`faithcam.metrics.MetricResult` for a bounded metric (a seeded
    percentile bootstrap of the mean; Wilson's interval when every value is at a bound)."""
    result = MetricResult(score, torch.tensor(values, dtype=torch.float64), bounds=BOUNDS[score])
    if result.n < 2:
        return (result.mean, math.nan, math.nan, result.n)
    low, high = result.ci
    return (result.mean, low, high, result.n)
