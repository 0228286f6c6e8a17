"""Run every method on every case and score its maps against the truth, image by image.

Each finished case is saved to ``<store>/<case>.json`` (its truth's summary and every row), so
that an interrupted run resumes where it stopped (``resume=True``) when the case, the image
count, the quick flag and the method list are the same. Within a case, the rows of each
finished method go to ``<store>/<case>.partial.json`` as they come, so that a resumed run
recomputes the case's truth (seeded: the same values) and only the methods not yet scored.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from faithcam.api import explain
from faithcam.errors import FaithcamError
from faithcam.outputs import write_fresh
from faithcam.truth.cases import Case, CaseData
from faithcam.truth.entries import Entry
from faithcam.truth.ranking import Place, places
from faithcam.truth.scores import SCORES, agreement, interval
from faithcam.truth.shapley import ShapleyResult, shapley


@dataclass
class CaseTruth:
    """What the report says about a case's truth (``status`` says why a case failed)."""

    case: str
    family: str
    hard: str
    images: int
    grid: tuple[int, int]
    exact: bool
    permutations: int
    baseline: str
    route: str
    relative_error: float  # median over images of ‖stderr‖ / ‖φ‖ (0 for exact truths)
    seconds: float
    status: str = "ok"


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


def compute_truth(
    case: Case, images: int, quick: bool
) -> tuple[CaseTruth, CaseData, ShapleyResult]:
    start = time.perf_counter()
    data = case.load(images, quick)
    truth = shapley(data.model, data.images, data.targets, data.layer, seed=0, **data.truth)
    norms = truth.values.flatten(1).norm(dim=1).clamp(min=1e-300)
    error = float((truth.stderr.flatten(1).norm(dim=1) / norms).median())
    summary = CaseTruth(
        case.name, case.family, case.hard, len(data.images), tuple(truth.values.shape[-2:]),
        truth.exact, truth.permutations, str(data.truth.get("baseline", "zero")), truth.route,
        error, time.perf_counter() - start,
    )  # fmt: skip
    return summary, data, truth


def layer_maps(raw_maps: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Raw maps at the layer's grid: pixel-resolution maps (FullGrad, Guided Grad-CAM) are
    average-pooled to it."""
    if tuple(raw_maps.shape[-2:]) == grid:
        return raw_maps
    return F.adaptive_avg_pool2d(raw_maps[:, None].double(), grid)[:, 0]


def _not_applicable(case: Case, entry: Entry, reason: str) -> Row:
    nan = dict.fromkeys(SCORES, math.nan)
    return Row(case.name, case.family, entry.label, entry.family, -1, nan, 0.0, f"n/a: {reason}")


def score_entry(case: Case, data: CaseData, truth: ShapleyResult, entry: Entry) -> list[Row]:
    """Explain the case's images with ``entry`` and score each map; a method that cannot run
    on the case gives one row whose status says why."""
    if entry.method in case.skip:
        return [_not_applicable(case, entry, "skipped on this case (too many forwards)")]
    targets = truth.targets if truth.targets is not None else data.targets
    start = time.perf_counter()
    try:
        layer = data.layer if entry.uses_layer else None
        result = explain(data.model, data.images, entry.method, targets, layer, seed=0,
                         normalization=data.normalization, **entry.options)  # fmt: skip
    except (FaithcamError, RuntimeError) as error:
        return [_not_applicable(case, entry, str(error).splitlines()[0][:200])]
    seconds = (time.perf_counter() - start) / len(data.images)
    maps = layer_maps(result.raw_maps, tuple(truth.values.shape[-2:]))
    return [
        Row(case.name, case.family, entry.label, entry.family, b,
            agreement(maps[b], truth.values[b]), seconds)
        for b in range(len(data.images))
    ]  # fmt: skip


def run_case(
    case: Case,
    entries: list[Entry],
    images: int,
    quick: bool,
    progress=None,
    done: list[Row] | None = None,
    checkpoint: Callable[[list[Row]], None] | None = None,
):
    """(CaseTruth, rows) of one case; a case that cannot be built or explained gives a
    CaseTruth whose status says why, and no rows. Entries whose rows are in ``done`` are not
    run again; ``checkpoint(rows)`` is called after each entry that was."""
    try:
        summary, data, truth = compute_truth(case, images, quick)
    except Exception as error:  # a batch run goes on; the report names the failure
        reason = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
        failed = CaseTruth(case.name, case.family, case.hard, images, (0, 0), False, 0, "", "",
                           math.nan, 0.0, reason)  # fmt: skip
        return failed, []
    rows, finished = [], {row.method for row in done or []}
    for entry in entries:
        if progress is not None:
            progress(f"{case.name}: {entry.label}")
        if entry.label in finished:
            rows += [row for row in done or [] if row.method == entry.label]
            continue
        rows += score_entry(case, data, truth, entry)
        if checkpoint is not None:
            checkpoint(rows)
    return summary, rows


def run(
    cases: list[Case],
    entries: list[Entry],
    images: int,
    quick: bool,
    progress: Callable[[str], None] | None = None,
    store: Path | None = None,
    resume: bool = False,
) -> tuple[list[CaseTruth], list[Row]]:
    """The truth of each case, then every entry's rows on it (saved per case in ``store``)."""
    truths, rows = [], []
    key = {"images": images, "quick": quick, "methods": [e.label for e in entries]}
    for case in cases:
        saved = _load(store, case.name, key) if resume else None
        if saved is None:
            if progress is not None:
                progress(f"{case.name}: truth")
            done = _load_partial(store, case.name, key) if resume else None
            saved = run_case(case, entries, images, quick, progress, done,
                             _partial_saver(store, case.name, key))  # fmt: skip
            _save(store, case.name, key, *saved)
        elif progress is not None:
            progress(f"{case.name}: resumed", len(entries) + 1)
        truths.append(saved[0])
        rows += saved[1]
    return truths, rows


def _save(store: Path | None, name: str, key: dict, truth: CaseTruth, rows: list[Row]) -> None:
    if store is None or truth.status != "ok":
        return
    store.mkdir(parents=True, exist_ok=True)
    payload = {"key": key, "truth": asdict(truth), "rows": [asdict(r) for r in rows]}
    (store / f"{name}.json").write_text(json.dumps(payload), encoding="utf-8")
    (store / f"{name}.partial.json").unlink(missing_ok=True)


def _partial_saver(store: Path | None, name: str, key: dict):
    """A checkpoint that writes the rows of a case's finished entries (None without a store);
    one rename (:func:`faithcam.outputs.write_fresh`), so an interruption leaves the last one."""
    if store is None:
        return None

    def save(rows: list[Row]) -> None:
        store.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"key": key, "rows": [asdict(r) for r in rows]})
        write_fresh(store / f"{name}.partial.json", lambda fresh: fresh.write_text(text, "utf-8"))

    return save


def _load_partial(store: Path | None, name: str, key: dict) -> list[Row] | None:
    """The checkpointed rows of ``name`` for ``key``; None when there are none, or the file is
    not one this module wrote (the case's methods then run again)."""
    path = None if store is None else store / f"{name}.partial.json"
    if path is None or not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        if payload.get("key") != key:
            return None
        return [Row(**row) for row in payload["rows"]]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _load(store: Path | None, name: str, key: dict) -> tuple[CaseTruth, list[Row]] | None:
    path = None if store is None else store / f"{name}.json"
    if path is None or not path.is_file():
        return None
    payload = json.loads(path.read_text(encoding="utf-8"))
    if payload.get("key") != key:
        return None
    truth = payload["truth"]
    truth["grid"] = tuple(truth["grid"])
    return CaseTruth(**truth), [Row(**row) for row in payload["rows"]]


def case_seconds(truths: list[CaseTruth], rows: list[Row]) -> float:
    """Wall seconds the cases took when they were computed (truths and methods), whether in this
    run or in the run that a resumed one reuses."""
    methods = {(r.case, r.method): r.seconds * t.images for t in truths for r in rows
               if r.case == t.case}  # fmt: skip
    return sum(t.seconds for t in truths if math.isfinite(t.seconds)) + sum(methods.values())


@dataclass
class Summary:
    """Mean and 95 % bootstrap interval of each score for one (case, method), the method's rank
    on the case and its mean rank over all cases (:mod:`faithcam.truth.ranking`)."""

    case: str
    case_family: str
    method: str
    method_family: str
    n: int
    means: dict[str, tuple[float, float, float]]  # score -> (mean, low, high)
    seconds: float
    status: str
    place: Place | None = None
    mean_place: Place | None = None


def summarise(rows: list[Row]) -> list[Summary]:
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.case, row.method), []).append(row)
    per_case, overall = places(rows)
    summaries = []
    for (case, method), group in groups.items():
        first = group[0]
        means = {}
        n = 0
        for score in SCORES:
            mean, low, high, count = interval([r.scores[score] for r in group], score)
            means[score] = (mean, low, high)
            n = max(n, count)
        summaries.append(Summary(case, first.case_family, method, first.method_family, n, means,
                                 first.seconds, first.status, per_case.get((case, method)),
                                 overall.get(method)))  # fmt: skip
    return summaries
