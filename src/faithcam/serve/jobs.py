"""Comparisons run in the background, so that no method blocks the page.

A :class:`Job` is one click of "Compare": one image, one model, one class, one layer, several
methods. It runs in a worker thread on a private copy of the model (hooks and forwards of
two tabs never meet), fast methods before slow ones, and within each group every map before
any number, so the maps appear first. Each method's state, map and numbers are readable at
any moment (:meth:`Job.snapshot`), which the page polls. Progress counts finished units: one
map, one deletion and one insertion per method.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from faithcam.serve import analysis
from faithcam.serve.analysis import Box
from faithcam.serve.catalogue import ServedModel
from faithcam.serve.choices import SLOW_METHODS
from faithcam.serve.render import overlay_png
from faithcam.serve.store import BoundedStore
from faithcam.serve.workers import Workers

UNITS = ("map", "deletion", "insertion")  # the finished units a method adds to the progress


@dataclass
class MethodRun:
    """One method's progress and results within a job."""

    method: str
    state: str = "queued"  # queued, explaining, scoring, done, failed, cancelled
    phase_started: float | None = None
    seconds: float | None = None
    heatmap: torch.Tensor | None = None
    overlay: bytes | None = None
    deletion: float | None = None
    insertion: float | None = None
    energy: float | None = None
    error: str | None = None

    def units(self) -> int:
        """Finished units (map, deletion, insertion); all of them once nothing more will come."""
        if self.state in ("done", "failed", "cancelled"):
            return len(UNITS)
        return sum(v is not None for v in (self.heatmap, self.deletion, self.insertion))


@dataclass
class JobSpec:
    """What a job computes; every field was checked before the job was made."""

    image_name: str
    served: ServedModel
    inputs: torch.Tensor
    crop: torch.Tensor
    target: int
    layer: str
    methods: list[str]
    steps: int
    box: Box | None = None


@dataclass
class Job:
    """A running or finished comparison; all reads and writes go through its lock."""

    spec: JobSpec
    runs: dict[str, MethodRun] = field(default_factory=dict)
    cancelled: threading.Event = field(default_factory=threading.Event)
    finished: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.runs = {m: MethodRun(m) for m in self.spec.methods}

    # ------------------------------------------------------------------ reading (any thread)
    def snapshot(self) -> dict[str, Any]:
        """JSON-ready state: per method its state, elapsed seconds and numbers."""
        now = time.monotonic()
        with self._lock:
            methods = [_describe(run, now) for run in self.runs.values()]
            done = sum(run.units() for run in self.runs.values())
            state = "running"
            if self.finished:
                state = "cancelled" if self.cancelled.is_set() else "finished"
            return {
                "state": state,
                "progress": done / (len(UNITS) * len(self.runs)),
                "layer": self.spec.layer,
                "target": self.spec.target,
                "target_name": self.spec.served.class_name(self.spec.target),
                "box": list(self.spec.box) if self.spec.box else None,
                "steps": self.spec.steps,
                "methods": methods,
            }

    def result(self, method: str) -> MethodRun:
        with self._lock:
            return self.runs[method]

    def rows(self) -> list[dict[str, Any]]:
        """One flat record per method, for the CSV."""
        with self._lock:
            spec = self.spec
            return [
                {
                    "method": run.method,
                    "model": spec.served.name,
                    "layer": spec.layer,
                    "target": spec.target,
                    "target_name": spec.served.class_name(spec.target),
                    "deletion_auc": run.deletion,
                    "insertion_auc": run.insertion,
                    "energy_in_box": run.energy,
                    "steps": spec.steps,
                    "seconds": run.seconds,
                    "box": " ".join(map(str, spec.box)) if spec.box else None,
                    "error": run.error,
                }
                for run in self.runs.values()
            ]

    # ------------------------------------------------------------------ changes (any thread)
    def set_box(self, box: Box | None) -> None:
        """A new box (or none): the energy of every finished map is recomputed (no model)."""
        with self._lock:
            self.spec.box = box
            for run in self.runs.values():
                run.energy = self._energy(run.heatmap)

    def cancel(self) -> None:
        self.cancelled.set()

    def _energy(self, heatmap: torch.Tensor | None) -> float | None:
        if heatmap is None or self.spec.box is None:
            return None
        return analysis.box_energy(self.spec.inputs, heatmap, self.spec.box)

    # ------------------------------------------------------------------ the work (one thread)
    def run(self) -> None:
        """Compute everything; never raises (a method's failure is shown on its card)."""
        served = self.spec.served
        if self.cancelled.is_set():  # cancelled (or dropped) while it waited for a worker
            self._close()
            return
        with served.lock:  # no other request's hooks are on the model while it is copied
            model = served.replica()
        guard = served.lock if model is served.model else contextlib.nullcontext()
        try:
            fast = [m for m in self.spec.methods if m not in SLOW_METHODS]
            slow = [m for m in self.spec.methods if m in SLOW_METHODS]
            for group in (fast, *([m] for m in slow)):
                for method in group:
                    self._step(method, "explaining", lambda m=method: self._map(model, m), guard)
                for method in group:
                    self._step(method, "scoring", lambda m=method: self._score(model, m), guard)
        finally:
            self._close()

    def _close(self) -> None:
        with self._lock:
            self.finished = True
            for run in self.runs.values():
                if run.state in ("queued", "explaining", "scoring"):
                    run.state = "cancelled"

    def _step(self, method: str, state: str, work: Callable[[], None], guard) -> None:
        run = self.runs[method]
        with self._lock:
            if run.state == "failed" or self.cancelled.is_set():
                return
            run.state, run.phase_started = state, time.monotonic()
        try:
            with guard:
                work()
        except Exception as error:  # shown on the method's card; the job goes on
            with self._lock:
                run.state, run.error = "failed", _one_line(error)

    def _map(self, model: torch.nn.Module, method: str) -> None:
        spec, start = self.spec, time.perf_counter()
        heatmap = analysis.explain_map(
            model, spec.inputs, method, spec.target, spec.layer, spec.served.normalization
        )
        picture = overlay_png(spec.crop, heatmap)
        with self._lock:
            run = self.runs[method]
            run.heatmap, run.overlay = heatmap, picture
            run.seconds = time.perf_counter() - start
            run.energy = self._energy(heatmap)

    def _score(self, model: torch.nn.Module, method: str) -> None:
        spec, run = self.spec, self.runs[method]
        removed = analysis.deletion_auc(
            model, spec.inputs, run.heatmap, spec.target, spec.steps, spec.served.normalization
        )
        with self._lock:
            run.deletion = removed
        if self.cancelled.is_set():
            return
        added = analysis.insertion_auc(model, spec.inputs, run.heatmap, spec.target, spec.steps)
        with self._lock:
            run.insertion, run.state = added, "done"


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def _describe(run: MethodRun, now: float) -> dict[str, Any]:
    running = run.state in ("explaining", "scoring") and run.phase_started is not None
    return {
        "method": run.method,
        "state": run.state,
        "slow": run.method in SLOW_METHODS,
        "elapsed": now - run.phase_started if running else None,
        "seconds": run.seconds,
        "map": run.heatmap is not None,
        "deletion": _number(run.deletion),
        "insertion": _number(run.insertion),
        "energy": _number(run.energy),
        "energy_undefined": run.energy is not None and math.isnan(run.energy),
        "error": run.error,
    }


class JobRunner:
    """Runs jobs on ``workers`` threads and keeps the last ``capacity`` of them; a job pushed
    out of the store is cancelled."""

    def __init__(self, workers: int = 2, capacity: int = 16) -> None:
        self._workers = Workers(workers, "faithcam-job")
        self.jobs: BoundedStore[Job] = BoundedStore(capacity, "job", on_evict=Job.cancel)

    def submit(self, job: Job) -> str:
        key = self.jobs.add(job)
        self._workers.submit(job.run)
        return key

    def shutdown(self) -> None:
        for job in self.jobs.values():
            job.cancel()
        self._workers.shutdown()
