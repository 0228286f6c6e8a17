"""Run every method on every case and score its maps against the truth, image by image."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from faithcam.cams.methods import explain
from faithcam.errors import FaithcamError
from faithcam.truth.cases import Case, CaseData
from faithcam.truth.entries import Entry
from faithcam.truth.scores import SCORES, agreement, bootstrap_interval
from faithcam.truth.shapley import ShapleyResult, shapley


@dataclass
class CaseTruth:
    """A loaded case, its truth and the seconds the truth took."""

    case: Case
    data: CaseData
    truth: ShapleyResult
    seconds: float

    @property
    def relative_error(self) -> float:
        """Median over images of ‖stderr‖ / ‖φ‖ (0 for exact truths)."""
        norms = self.truth.values.flatten(1).norm(dim=1)
        errors = self.truth.stderr.flatten(1).norm(dim=1) / norms.clamp(min=1e-300)
        return float(errors.median())


@dataclass
class Row:
    """The scores of one method's map of one image."""

    case: str
    case_family: str
    method: str
    method_family: str
    image: int
    scores: dict[str, float]
    seconds: float  # the method's time for the whole case, divided by its images
    status: str = "ok"


def compute_truth(case: Case, images: int, quick: bool) -> CaseTruth:
    start = time.perf_counter()
    data = case.load(images, quick)
    truth = shapley(data.model, data.images, data.targets, data.layer, seed=0, **data.truth)
    return CaseTruth(case, data, truth, time.perf_counter() - start)


def layer_maps(raw_maps: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Raw maps at the layer's grid: pixel-resolution maps (FullGrad, Guided Grad-CAM) are
    average-pooled to it."""
    if tuple(raw_maps.shape[-2:]) == grid:
        return raw_maps
    return F.adaptive_avg_pool2d(raw_maps[:, None].double(), grid)[:, 0]


def _not_applicable(case: Case, entry: Entry, reason: str) -> Row:
    nan = dict.fromkeys(SCORES, math.nan)
    return Row(case.name, case.family, entry.label, entry.family, -1, nan, 0.0, f"n/a: {reason}")


def score_entry(truth: CaseTruth, entry: Entry) -> list[Row]:
    """Explain the case's images with ``entry`` and score each map; a method that cannot run
    on the case gives one row whose status says why."""
    data, case = truth.data, truth.case
    if entry.method in case.skip:
        return [_not_applicable(case, entry, "skipped on this case (too many forwards)")]
    targets = truth.truth.targets if truth.truth.targets is not None else data.targets
    start = time.perf_counter()
    try:
        layer = data.layer if entry.uses_layer else None
        result = explain(data.model, data.images, entry.method, targets, layer, seed=0,
                         normalization=data.normalization, **entry.options)  # fmt: skip
    except (FaithcamError, RuntimeError) as error:
        return [_not_applicable(case, entry, str(error).splitlines()[0][:200])]
    seconds = (time.perf_counter() - start) / len(data.images)
    maps = layer_maps(result.raw_maps, tuple(truth.truth.values.shape[-2:]))
    values = truth.truth.values
    return [
        Row(case.name, case.family, entry.label, entry.family, b, agreement(maps[b], values[b]),
            seconds)
        for b in range(len(data.images))
    ]


def run(
    cases: list[Case],
    entries: list[Entry],
    images: int,
    quick: bool,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[CaseTruth], list[Row]]:
    """The truth of each case, then every entry's rows on it."""
    truths, rows = [], []
    for case in cases:
        if progress is not None:
            progress(f"{case.name}: truth")
        truth = compute_truth(case, images, quick)
        truths.append(truth)
        for entry in entries:
            if progress is not None:
                progress(f"{case.name}: {entry.label}")
            rows += score_entry(truth, entry)
    return truths, rows


@dataclass
class Summary:
    """Mean and 95 % bootstrap interval of each score for one (case, method)."""

    case: str
    case_family: str
    method: str
    method_family: str
    n: int
    means: dict[str, tuple[float, float, float]]  # score -> (mean, low, high)
    seconds: float
    status: str


def summarise(rows: list[Row]) -> list[Summary]:
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.case, row.method), []).append(row)
    summaries = []
    for (case, method), group in groups.items():
        first = group[0]
        means = {}
        n = 0
        for score in SCORES:
            mean, low, high, count = bootstrap_interval([r.scores[score] for r in group])
            means[score] = (mean, low, high)
            n = max(n, count)
        summaries.append(Summary(case, first.case_family, method, first.method_family, n, means,
                                 first.seconds, first.status))  # fmt: skip
    return summaries
