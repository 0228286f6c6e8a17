"""Dataset-level evaluation: streamed, resumable, and sharded with torch.distributed.

A *study* explains every image of a data set with several methods and scores the maps with
several metrics (:func:`faithcam.metrics.evaluate` on each batch). Per-image rows
``(image_id, method, metric, settings, value)`` are appended to a SQLite store, one transaction
per batch, so a run killed at any moment loses at most the batch in flight; the primary key
makes a row impossible to write twice, and ``resume=True`` skips every image whose rows are all
there.

Under ``torchrun --nproc-per-node N`` (gloo on CPU, NCCL on GPU) the data set is split across
ranks with a ``DistributedSampler``; each rank writes its own store file
(``<store>.rank<r>``), and rank 0 merges them into the main store and computes the summary.
The same call without torchrun runs in one process.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from faithcam.engine.validation import model_device
from faithcam.errors import FaithcamValueError

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    image_id TEXT NOT NULL, method TEXT NOT NULL, metric TEXT NOT NULL,
    settings TEXT NOT NULL, value REAL,
    PRIMARY KEY (image_id, method, metric, settings)
)
"""


class ResultStore:
    """Per-image metric values in a SQLite file; rows are never duplicated."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)

    def add(self, rows: Sequence[tuple[str, str, str, str, float]]) -> None:
        """Insert rows in one transaction (all or nothing); existing keys are left alone."""
        with closing(self._connect()) as db, db:
            db.executemany("INSERT OR IGNORE INTO results VALUES (?, ?, ?, ?, ?)", rows)

    def rows(self, settings: str | None = None) -> list[tuple[str, str, str, str, float]]:
        query = "SELECT image_id, method, metric, settings, value FROM results"
        args: tuple = ()
        if settings is not None:
            query += " WHERE settings = ?"
            args = (settings,)
        with closing(self._connect()) as db:
            return db.execute(query + " ORDER BY image_id, method, metric", args).fetchall()

    def done_images(self, settings: str, expected_rows: int) -> set[str]:
        """Images that already have all ``expected_rows`` rows for these settings."""
        with closing(self._connect()) as db:
            found = db.execute(
                "SELECT image_id FROM results WHERE settings = ? GROUP BY image_id "
                "HAVING COUNT(*) >= ?",
                (settings, expected_rows),
            ).fetchall()
        return {image_id for (image_id,) in found}

    def merge_from(self, other: str | Path) -> None:
        """Copy every row of another store into this one (no duplicates)."""
        self.add(ResultStore(other).rows())


@dataclass(frozen=True)
class StudyConfig:
    """What defines a study's rows: its hash is the ``settings`` column."""

    methods: tuple[str, ...]
    metrics: tuple[str, ...]
    metric_kwargs: tuple[tuple[str, str], ...] = ()
    explain_kwargs: str = "{}"

    def key(self) -> str:
        text = json.dumps([self.methods, self.metrics, self.metric_kwargs, self.explain_kwargs])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "image": torch.stack([item["image"] for item in items]),
        "target": torch.tensor([int(item.get("target", -1)) for item in items]),
        "boxes": [item.get("boxes") for item in items],
        "id": [str(item["id"]) for item in items],
    }


def image_ids(dataset: Dataset) -> list[str]:
    """Stable ids: ``dataset.ids`` when the data set has them, else the indices."""
    ids = getattr(dataset, "ids", None)
    return [str(i) for i in (ids if ids is not None else range(len(dataset)))]


def _distributed() -> tuple[int, int]:
    """(rank, world size), initialising the process group under torchrun."""
    if dist.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def run_study(
    model: nn.Module,
    dataset: Dataset,
    methods: Sequence[str],
    metrics: Sequence[str],
    store: str | Path,
    *,
    batch_size: int = 16,
    num_workers: int = 0,
    resume: bool = True,
    metric_kwargs: dict[str, dict[str, Any]] | None = None,
    explain_kwargs: dict[str, Any] | None = None,
    explain_fn: Callable[[nn.Module, torch.Tensor, str, torch.Tensor], torch.Tensor] | None = None,
    progress: bool = True,
) -> list[dict[str, Any]] | None:
    """Evaluate ``methods`` x ``metrics`` over ``dataset``; returns the summary rows on rank 0
    (None on other ranks).

    Items of ``dataset`` are dicts with ``image`` (C, H, W), ``id``, and optionally ``target``
    (class id; -1 or absent = predicted class) and ``boxes`` (ground truth for localisation
    metrics). Maps come from ``faithcam.explain(model, images, method, targets,
    **explain_kwargs)``, or from ``explain_fn(model, images, method, targets)``; either way
    ``explain_kwargs`` is part of the settings hash that keys the stored rows.
    """
    from faithcam.cams.methods import explain
    from faithcam.metrics.evaluate import METRICS, evaluate, metric_bounds

    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise FaithcamValueError(f"metrics: unknown {unknown}; valid: {', '.join(METRICS)}")
    if not resume and Path(store).exists():
        raise FaithcamValueError(
            f"store: {store} exists; pass resume=True to continue it or choose a new file"
        )
    metric_kwargs = metric_kwargs or {}
    explain_kwargs = explain_kwargs or {}
    config = StudyConfig(
        tuple(methods),
        tuple(metrics),
        tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in metric_kwargs.items())),
        json.dumps(explain_kwargs, sort_keys=True, default=str),
    )
    settings = config.key()
    rank, world = _distributed()
    main_store = ResultStore(store)
    rank_store = ResultStore(f"{store}.rank{rank}") if world > 1 else main_store
    expected = len(methods) * len(metrics)
    done = main_store.done_images(settings, expected) | rank_store.done_images(settings, expected)
    todo = [i for i, image_id in enumerate(image_ids(dataset)) if image_id not in done]
    subset = Subset(dataset, todo)
    sampler = None
    if world > 1:
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(subset, num_replicas=world, rank=rank, shuffle=False)
    loader = DataLoader(
        subset, batch_size=batch_size, sampler=sampler, num_workers=num_workers, collate_fn=_collate
    )

    def explain_maps(model_, images, method, targets):
        if explain_fn is not None:
            return explain_fn(model_, images, method, targets)
        return explain(model_, images, method, targets, **explain_kwargs).maps

    device = model_device(model, torch.device("cpu"))

    from tqdm.auto import tqdm

    # one step per image and method, the method being explained in the bar's text
    bar = tqdm(
        total=(len(todo) if sampler is None else len(sampler)) * len(methods),
        disable=not progress or rank != 0,
        desc="evaluate",
        unit="image·method",
    )

    def advance(method: str, n_images: int) -> None:
        bar.set_description(f"evaluate {method}", refresh=False)
        bar.update(n_images)

    for batch in loader:
        images = batch["image"].to(device)
        targets = batch["target"].to(device)
        if (targets < 0).any():
            with torch.inference_mode():
                predicted = model(images).argmax(-1)
            targets = torch.where(targets < 0, predicted, targets)
        boxes = batch["boxes"] if any(b is not None for b in batch["boxes"]) else None
        table = evaluate(
            model,
            images,
            list(methods),
            list(metrics),
            boxes=boxes,
            targets=targets,
            explain=explain_maps,
            metric_kwargs=metric_kwargs,
            progress=advance,
        )
        rows = [
            (image_id, method, metric, settings, float(value))
            for (method, metric), result in table.results.items()
            for image_id, value in zip(batch["id"], result.values.tolist(), strict=True)
        ]
        rank_store.add(rows)
    bar.close()
    if world > 1:
        dist.barrier()
        if rank != 0:
            return None
        for other in range(world):
            main_store.merge_from(f"{store}.rank{other}")
    bounds = {m: metric_bounds(m, metric_kwargs.get(m)) for m in metrics}
    return summarise(main_store, settings, methods, metrics, bounds)


def summarise(
    store: ResultStore,
    settings: str,
    methods: Sequence[str],
    metrics: Sequence[str],
    bounds: dict[str, tuple[float, float] | None] | None = None,
) -> list[dict[str, Any]]:
    """Mean and 95 % CI per (method, metric) over the stored per-image values, in the order
    the methods and metrics were asked for; ``bounds[metric]`` keeps a bounded metric's
    interval inside its range (see :class:`~faithcam.metrics.MetricResult`)."""
    from faithcam.metrics import MetricResult

    values: dict[tuple[str, str], list[float]] = {}
    for _image, method, metric, _settings, value in store.rows(settings):
        values.setdefault((method, metric), []).append(float("nan") if value is None else value)
    rows = []
    for method in methods:
        for metric in metrics:
            vals = values.get((method, metric), [])
            result = MetricResult(
                metric,
                torch.tensor(vals, dtype=torch.float64),
                bounds=(bounds or {}).get(metric),
            )
            rows.append({"method": method, **result.summary()})
    return rows
