"""Dataset-level evaluation: streamed, resumable, and sharded with torch.distributed.

A *study* explains every image of a data set with several methods and scores the maps with
several metrics (:func:`faithcam.metrics.evaluate` on each batch). Per-image rows
``(image_id, method, metric, settings, value)`` are appended to a SQLite store, one transaction
per batch, so a run killed at any moment loses at most the batch in flight; the primary key
makes a row impossible to write twice, and ``resume=True`` skips every image whose rows are all
there. A store holds one study: its settings key (:mod:`faithcam.studies.settings`) covers the
weights and the data, and :mod:`faithcam.studies.store` refuses a mismatch or a damaged file.

Under ``torchrun --nproc-per-node N`` (gloo on CPU, NCCL on GPU) the data set is split across
ranks with a ``DistributedSampler``; each rank writes its own store file
(``<store>.rank<r>``), and rank 0 merges them into the main store and computes the summary.
The same call without torchrun runs in one process.
"""

from __future__ import annotations

import ctypes
import functools
import inspect
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from faithcam.engine.model_state import model_guard
from faithcam.engine.normalization import NormalizationSpec, as_normalization
from faithcam.engine.validation import model_device
from faithcam.errors import FaithcamValueError
from faithcam.studies.settings import image_seed, study_settings
from faithcam.studies.store import ResultStore

STOCHASTIC_ESTIMATORS = ("expected", "smooth")
PR_SET_PDEATHSIG = 1


def _collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "image": torch.stack([item["image"] for item in items]),
        "target": torch.tensor([int(item.get("target", -1)) for item in items]),
        "boxes": [item.get("boxes") for item in items],
        "id": [str(item["id"]) for item in items],
    }


def _rank_file(store: str | Path, rank: int) -> str:
    """The result file of one process of a ``torchrun`` study."""
    return f"{store}.rank{rank}"


def image_ids(dataset: Dataset) -> list[str]:
    """Stable, unique ids: ``dataset.ids`` when the data set has them, else the indices."""
    ids = getattr(dataset, "ids", None)
    ids = [str(i) for i in (ids if ids is not None else range(len(dataset)))]
    repeated = [(i, n) for i, n in Counter(ids).items() if n > 1]
    if repeated:
        first, count = repeated[0]
        raise FaithcamValueError(
            f"dataset: image id {first!r} appears {count} times ({len(repeated)} ids repeat); "
            "ids key the stored rows and must be unique (two annotation files for one image?)"
        )
    return ids


def _die_with_parent(parent: int, worker_id: int) -> None:
    """DataLoader worker init: end this worker when the study's process dies (even by
    SIGKILL): ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` on Linux, a watchdog thread elsewhere."""
    armed = False
    if sys.platform.startswith("linux"):
        try:
            armed = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL) == 0
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            armed = False
    if not armed:  # pragma: no cover - macOS / Windows

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def _stochastic(method: str, explain_kwargs: dict[str, Any]) -> bool:
    from faithcam.cams.methods import method_spec

    estimator = explain_kwargs.get("estimator") or method_spec(method)[1].estimator
    return getattr(estimator, "name", estimator) in STOCHASTIC_ESTIMATORS


def _takes_seed(function: Callable[..., Any]) -> bool:
    try:
        return "seed" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


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
    explain_fn: Callable[..., torch.Tensor] | None = None,
    fingerprint: dict[str, Any] | None = None,
    progress: bool = True,
    normalization: NormalizationSpec = None,
    references: int = 32,
) -> list[dict[str, Any]] | None:
    """Evaluate ``methods`` x ``metrics`` over ``dataset``; returns the summary rows on rank 0
    (None on other ranks).

    Items of ``dataset`` are dicts with ``image`` (C, H, W), ``id``, and optionally ``target``
    (class id; -1 or absent = predicted class) and ``boxes`` (ground truth for localisation
    metrics). Maps come from ``faithcam.explain(model, images, method, targets,
    **explain_kwargs)``, or from ``explain_fn(model, images, method, targets)``; either way
    ``explain_kwargs`` is part of the settings hash that keys the stored rows.

    The key also covers a SHA-256 of the model's weights and ``fingerprint`` (anything else that
    changes a row: targets, annotations, class names, preprocessing). A store holds one study:
    resuming it with other settings is refused, naming what differs; a damaged store is
    refused; image ids must be unique. Stochastic methods (expected, smooth estimators) explain
    each image alone with the seed ``image_seed(seed, image_id)`` (``seed`` from
    ``explain_kwargs``, default 0), so rows depend on neither batching nor world size;
    ``explain_fn`` then receives ``seed=`` when it takes one (the global RNG is seeded too).
    DataLoader workers die with the process that started them.
    ``normalization=(mean, std)`` makes black pixel black (explain and metrics). Methods that
    sample baselines (Expected Grad-CAM) draw them from ``references`` images of the data set,
    evenly spaced over it (the data-aware D, part of the key), unless ``explain_kwargs`` sets
    ``baseline``.
    """
    from faithcam.cams.baselines import ReferenceSet
    from faithcam.cams.methods import explain, method_spec
    from faithcam.metrics.evaluate import METRICS, evaluate, metric_bounds

    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise FaithcamValueError(f"metrics: unknown {unknown}; valid: {', '.join(METRICS)}")
    if not resume and Path(store).exists():
        raise FaithcamValueError(
            f"store: {store} exists; pass resume=True to continue it or choose a new file"
        )
    metric_kwargs = metric_kwargs or {}
    norm = as_normalization(normalization)
    explain_kwargs = dict(explain_kwargs or {})
    if explain_kwargs.get("generator") is not None:
        raise FaithcamValueError(
            "explain_kwargs: a generator cannot be split per image; pass seed= instead"
        )
    if norm is not None:
        explain_kwargs["normalization"] = norm.as_dict()
    sampled = [m for m in methods if method_spec(m)[1].estimator == "expected"]
    reference_set = None
    if explain_fn is None and sampled and "baseline" not in explain_kwargs and len(dataset) > 1:
        picks = torch.linspace(0, len(dataset) - 1, min(references, len(dataset))).long()
        reference_set = ReferenceSet(torch.stack([dataset[int(i)]["image"] for i in picks]))
        explain_kwargs["reference_images"] = picks.tolist()
    ids = image_ids(dataset)
    settings, described = study_settings(
        list(methods), list(metrics), metric_kwargs, explain_kwargs, model, fingerprint or {}
    )
    rank, world = _distributed()
    main_store = ResultStore(store)
    main_store.claim(settings, described)
    rank_store = ResultStore(_rank_file(store, rank)) if world > 1 else main_store
    if rank_store is not main_store:
        rank_store.claim(settings, described)
    expected = len(methods) * len(metrics)
    done = main_store.done_images(settings, expected)
    if world > 1:  # one to-do list for all ranks (after a kill their files differ): read them all
        for other in range(world):
            done |= ResultStore(_rank_file(store, other)).done_images(settings, expected)
        dist.barrier()  # before any rank writes
    todo = [i for i, image_id in enumerate(ids) if image_id not in done]
    subset = Subset(dataset, todo)
    sampler = None
    if world > 1:
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(subset, num_replicas=world, rank=rank, shuffle=False)
    loader = DataLoader(
        subset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=_collate,
        worker_init_fn=functools.partial(_die_with_parent, os.getpid()) if num_workers else None,
    )
    base_seed = explain_kwargs.get("seed")
    base_seed = 0 if base_seed is None else base_seed
    batch_ids: list[str] = []

    def explain_once(model_, images, method, targets, seed):
        if explain_fn is None:
            kwargs = {k: v for k, v in explain_kwargs.items() if k != "reference_images"}
            if seed is not None:
                kwargs["seed"] = seed
            if reference_set is not None and method in sampled:
                kwargs["baseline"] = reference_set
            return explain(model_, images, method, targets, **kwargs).maps
        if seed is None:
            return explain_fn(model_, images, method, targets)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if _takes_seed(explain_fn):
                return explain_fn(model_, images, method, targets, seed=seed)
            return explain_fn(model_, images, method, targets)

    def explain_maps(model_, images, method, targets):
        if not _stochastic(method, explain_kwargs) or len(images) != len(batch_ids):
            return explain_once(model_, images, method, targets, None)
        maps = [  # one image at a time, its own random stream
            explain_once(
                model_, images[i : i + 1], method, targets[i : i + 1], image_seed(base_seed, id_)
            )
            for i, id_ in enumerate(batch_ids)
        ]
        return torch.cat([m.maps if hasattr(m, "maps") else m for m in maps])

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
        bar.set_description(f"evaluate {method}")  # refreshed: shown even on fast runs
        bar.update(n_images)

    for batch in loader:
        images = batch["image"].to(device)
        batch_ids[:] = batch["id"]
        targets = batch["target"].to(device)
        if (targets < 0).any():
            with torch.inference_mode(), model_guard(model):
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
            normalization=norm,
            progress=advance,
        )
        rows = [
            (image_id, method, metric, settings, float(value))
            for (method, metric), result in table.results.items()
            for image_id, value in zip(batch["id"], result.values.tolist(), strict=True)
        ]
        rank_store.add(rows, replace_partial=True)
    bar.close()
    if world > 1:
        dist.barrier()
        if rank != 0:
            return None
        for other in range(world):
            main_store.merge_from(_rank_file(store, other))
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
