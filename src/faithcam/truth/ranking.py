"""Leaderboard positions: each method's rank on each case (1 = best) and its mean rank over the
cases, with 95 % intervals.

On a case, the methods that ran are ordered by their mean Spearman correlation with the truth
over the case's images; tied means share the average of their positions. The mean rank of a
method is the mean of its ranks over the cases it ran on (every case weighs the same).

Intervals: a paired bootstrap over images. A resample draws each case's images with replacement,
the same draw for every method (so a hard image is hard for all of them), recomputes every
method's mean and the ranks; the mean rank's resample draws every case at once (independently),
so its interval carries the uncertainty of every case. Percentile interval (2.5 %, 97.5 %) of
:data:`RESAMPLES` seeded resamples. Images where the score is undefined for some method (a flat
positive truth) are left out of the case.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats

RESAMPLES = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class Place:
    """A rank (1 = best) with its 95 % interval, over ``cases`` cases."""

    rank: float
    low: float
    high: float
    cases: int = 1


def _case_matrix(rows: Iterable, score: str) -> tuple[list[str], np.ndarray]:
    """(methods, (methods, images) scores) of one case, images defined for every method."""
    by_method: dict[str, dict[int, float]] = {}
    for row in rows:
        by_method.setdefault(row.method, {})[row.image] = row.scores[score]
    methods = list(by_method)
    images = sorted(set.intersection(*(set(v) for v in by_method.values())))
    matrix = np.array([[by_method[m][i] for i in images] for m in methods], dtype=float)
    keep = np.isfinite(matrix).all(axis=0)
    return methods, matrix[:, keep]


def _positions(means: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Ranks (1 = best, ties averaged) along the last axis."""
    return stats.rankdata(-means if higher_is_better else means, method="average", axis=-1)


def places(
    rows: list, score: str = "spearman", higher_is_better: bool = True, seed: int = 0
) -> tuple[dict[tuple[str, str], Place], dict[str, Place]]:
    """({(case, method): rank on the case}, {method: mean rank over cases}) of the rows whose
    status is ok (rows: :class:`~faithcam.truth.leaderboard.Row`)."""
    cases: dict[str, list] = {}
    for row in rows:
        if row.status == "ok":
            cases.setdefault(row.case, []).append(row)
    rng = np.random.default_rng(seed)
    per_case: dict[tuple[str, str], Place] = {}
    draws: dict[str, list[np.ndarray]] = {}  # method -> its rank in each resample, per case
    point: dict[str, list[float]] = {}
    for case, case_rows in cases.items():
        methods, matrix = _case_matrix(case_rows, score)
        if matrix.shape[1] == 0:
            continue
        ranks = _positions(matrix.mean(axis=1), higher_is_better)
        picks = rng.integers(0, matrix.shape[1], size=(RESAMPLES, matrix.shape[1]))
        sampled = _positions(matrix[:, picks].mean(axis=2).T, higher_is_better)  # (R, methods)
        low, high = np.quantile(sampled, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], axis=0)
        for j, method in enumerate(methods):
            per_case[(case, method)] = Place(float(ranks[j]), float(low[j]), float(high[j]))
            draws.setdefault(method, []).append(sampled[:, j])
            point.setdefault(method, []).append(float(ranks[j]))
    overall = {}
    for method, method_draws in draws.items():
        mean_draws = np.mean(method_draws, axis=0)
        low, high = np.quantile(mean_draws, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
        overall[method] = Place(
            float(np.mean(point[method])), float(low), float(high), len(point[method])
        )
    return per_case, overall


def format_place(place: Place | None) -> str:
    """``"2.0 [1.0, 3.5]"``; ``"n/a"`` for None."""
    if place is None or not math.isfinite(place.rank):
        return "n/a"
    return f"{place.rank:.1f} [{place.low:.1f}, {place.high:.1f}]"
