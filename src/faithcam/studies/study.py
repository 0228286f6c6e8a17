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
import glob
import inspect
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from faithcam.engine.defaults import BATCH_SIZE
from faithcam.engine.deprecation import renamed_function
from faithcam.engine.model_state import model_guard
from faithcam.engine.normalization import Normalization, NormalizationSpec, as_normalization
from faithcam.engine.progress import Progress, track
from faithcam.engine.validation import check_batch_size, model_device
from faithcam.errors import FaithcamValueError
from faithcam.studies.items import StudyItems, check_unique, collate, known_ids, select
from faithcam.studies.items import image_ids as image_ids  # re-exported
from faithcam.studies.settings import image_seed, jsonable, study_settings
from faithcam.studies.store import SHOWN, ResultStore, StoreError

if TYPE_CHECKING:  # cams is imported when a study runs, not when studies is imported
    from faithcam.cams.baselines import ReferenceSet

STOCHASTIC_ESTIMATORS = ("expected", "smooth")
PR_SET_PDEATHSIG = 1


def _rank_file(store: str | Path, rank: int) -> str:
    """The result file of one process of a ``torchrun`` study."""
    return f"{store}.rank{rank}"


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


def stochastic(method: str, explain_kwargs: dict[str, Any] | None = None) -> bool:
    """Whether the method draws random numbers (its class's ``draws_random``: SS-CAM's noise,
    RandomCAM's weights) or its estimator does (the name in ``explain_kwargs``, else the
    method's default). A study then explains each image alone, seeded with
    :func:`~faithcam.studies.settings.image_seed`."""
    from faithcam.cams.registry import method_spec

    spec = method_spec(method)[1]
    estimator = (explain_kwargs or {}).get("estimator") or spec.estimator
    return spec.method.draws_random or estimator in STOCHASTIC_ESTIMATORS


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


def _checked_metrics(metrics: Sequence[str]) -> list[str]:
    """Registered metric names (old names resolved to the new ones, with a warning)."""
    from faithcam.metrics.registry import METRICS, RENAMED_METRICS, metric_spec

    unknown = [m for m in metrics if m not in METRICS and m not in RENAMED_METRICS]
    if unknown:
        raise FaithcamValueError(f"metrics: unknown {unknown}; valid: {', '.join(METRICS)}")
    return [metric_spec(m).name for m in metrics]


def _checked_counts(batch_size: Any, num_workers: Any) -> tuple[int, int]:
    """``batch_size`` >= 1 and ``num_workers`` >= 0 (DataLoader worker processes)."""
    batch_size = check_batch_size(batch_size)
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise FaithcamValueError(
            f"num_workers: expected DataLoader worker processes, an int >= 0 (0: load in this "
            f"process), got {num_workers!r}"
        )
    return batch_size, num_workers


def _checked_explain_kwargs(
    explain_kwargs: dict[str, Any] | None, norm: Normalization | None
) -> dict[str, Any]:
    explain_kwargs = dict(explain_kwargs or {})
    if explain_kwargs.get("generator") is not None:
        raise FaithcamValueError(
            "explain_kwargs: a generator cannot be split per image; pass seed= instead"
        )
    if norm is not None:
        explain_kwargs["normalization"] = norm.as_dict()
    return explain_kwargs


def _sampling_methods(methods: Sequence[str]) -> list[str]:
    """The methods that sample baselines (Expected Grad-CAM): they get the data-aware D."""
    from faithcam.cams.registry import method_spec

    return [m for m in methods if method_spec(m)[1].estimator == "expected"]


def _reference_set(
    dataset: Dataset, limit: int, explain_kwargs: dict[str, Any]
) -> tuple[ReferenceSet | None, dict[str, Any]]:
    """The data-aware D of the data set (:func:`~faithcam.cams.baselines.data_aware_references`),
    its image indices recorded in ``explain_kwargs``, and the SHA-256 of its images (both part
    of the settings key: every sampled row depends on them)."""
    from faithcam.cams.baselines import data_aware_references

    loaded: list[torch.Tensor] = []

    def load(picks: list[int]) -> torch.Tensor:
        loaded.append(torch.stack([dataset[i]["image"] for i in picks]))
        return loaded[-1]

    found = data_aware_references(len(dataset), load, limit)
    if found is None:
        return None, {}
    explain_kwargs["reference_images"] = found[1]
    return found[0], {"reference_content": jsonable(loaded[-1], "references")}


def _rank_files(store: str | Path) -> list[Path]:
    """The rank files of ``store`` on disk (``<store>.rank<r>``), in rank order."""
    path = Path(store)
    found = [
        (int(p.name[len(path.name) + 5 :]), p)
        for p in path.parent.glob(glob.escape(path.name) + ".rank*")
        if p.name[len(path.name) + 5 :].isdigit()
    ]
    return [p for _, p in sorted(found)]


def _check_fresh(store: str | Path, resume: bool, world: int) -> None:
    """A fresh run (``resume=False``) finds neither the store nor rank files of an earlier
    torchrun run of it, which a later resume would read; under torchrun, every rank looks
    before any creates a file."""
    if not resume:
        if Path(store).exists() or Path(store).is_symlink():
            raise FaithcamValueError(
                f"store: {store} exists; pass resume=True to continue it or choose a new file"
            )
        left = _rank_files(store)
        if left:
            raise FaithcamValueError(
                f"store: {', '.join(p.name for p in left[:SHOWN])} are left from an earlier "
                f"torchrun run of {store} (its rank files); a fresh run would mix their rows "
                "in: delete them, pass resume=True, or choose a new file"
            )
    if world > 1:
        dist.barrier()


def _open_stores(
    store: str | Path, settings: str, described: dict[str, Any], rank: int, world: int
) -> tuple[ResultStore, ResultStore]:
    """The main store and this process's store (the same one without torchrun), claimed."""
    main_store = ResultStore(store)
    main_store.claim(settings, described)
    rank_store = ResultStore(_rank_file(store, rank)) if world > 1 else main_store
    if rank_store is not main_store:
        rank_store.claim(settings, described)
    return main_store, rank_store


def _stored(main_store: ResultStore, settings: str, expected: int, world: int):
    """(images with all ``expected`` rows, each stored image's input SHA-256s), over the main
    store and, under torchrun, every rank's file (after a kill they differ)."""
    stores = [main_store]
    if world > 1:
        stores += [ResultStore(_rank_file(main_store.path, r)) for r in range(world)]
    done: set[str] = set()
    inputs: dict[str, set[str]] = {}
    for one in stores:
        done |= one.done_images(settings, expected)
        for image_id, hashes in one.input_hashes(settings).items():
            inputs.setdefault(image_id, set()).update(hashes)
    return done, inputs


def _check_same_images(store: Path, ids: list[str], inputs: dict[str, set[str]], has_ids: bool):
    """Refuse a store holding rows of images that are not in the data set (removed, renamed or
    moved since: a fresh run would not have their rows)."""
    gone = sorted(set(inputs) - set(ids))
    if gone:
        hint = "" if has_ids else " (a data set without ids is keyed by position: now shorter?)"
        raise StoreError(
            f"store: {store} holds rows of {len(gone)} images that are not in the data set "
            f"({', '.join(gone[:SHOWN])}){hint}: removed, renamed or moved since; resume with "
            "the same images, or use a new store"
        )


def _todo(
    main_store: ResultStore, items: StudyItems, settings: str, expected: int, world: int,
    loading: tuple[int, int],
) -> tuple[list[int], set[str], dict[str, set[str]]]:  # fmt: skip
    """(indices of the images whose rows are not all stored yet, the ids done, each stored
    image's input SHA-256s), once the stored ones are checked where the ids are known before
    loading: the same images (none removed) with the same contents (SHA-256 per image). When
    only the items know their ids, :class:`_Fresh` checks each done image as it loads."""
    done, inputs = _stored(main_store, settings, expected, world)
    if items.ids is None:
        todo = list(range(len(items)))
    else:
        has_ids = getattr(items.dataset, "ids", None) is not None
        _check_same_images(main_store.path, items.ids, inputs, has_ids)
        done_indices = [i for i, image_id in enumerate(items.ids) if image_id in done]
        loader, _ = _loader(items, done_indices, *loading, rank=0, world=1)  # reads them all
        changed = [
            image_id
            for batch in loader
            for image_id, sha in zip(batch["id"], batch["sha256"], strict=True)
            if inputs.get(image_id) != {sha}
        ]
        if changed:
            _refuse_changed(main_store.path, changed, has_ids)
        todo = [i for i, image_id in enumerate(items.ids) if image_id not in done]
    if world > 1:
        dist.barrier()  # every rank checked, and read every file, before any writes
    return todo, done, inputs


def _refuse_changed(store: Path, changed: list[str], has_ids: bool) -> None:
    hint = "" if has_ids else " (a data set without ids is keyed by position: reordered?)"
    raise StoreError(
        f"store: {store}: {len(changed)} images changed since their rows were stored "
        f"({', '.join(changed[:SHOWN])}){hint}; their rows would not be this data's: resume "
        "with the same images, or use a new store"
    )


def _loader(
    dataset: Dataset, todo: list[int], batch_size: int, num_workers: int, rank: int, world: int
) -> tuple[DataLoader, int]:
    """The DataLoader of the to-do images (split across ranks under torchrun) and the number
    of images it gives this process."""
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
        collate_fn=collate,
        worker_init_fn=functools.partial(_die_with_parent, os.getpid()),  # run by workers only
    )
    return loader, len(todo) if sampler is None else len(sampler)


class _Explainer:
    """The study's explain function for :func:`faithcam.metrics.evaluate`: stochastic methods
    explain each image of the current batch alone, with its own seed."""

    def __init__(
        self,
        explain_fn: Callable[..., Any] | None,
        explain_kwargs: dict[str, Any],
        references: ReferenceSet | None,
        sampled: list[str],
    ) -> None:
        self.explain_fn = explain_fn
        self.explain_kwargs = explain_kwargs
        self.references = references
        self.sampled = sampled
        seed = explain_kwargs.get("seed")
        self.base_seed = 0 if seed is None else seed
        self.images: torch.Tensor | None = None  # the current batch and its ids
        self.ids: list[str] = []

    def once(self, model: nn.Module, images, method: str, targets, seed: int | None):
        if self.explain_fn is None:
            from faithcam.api import explain

            kwargs = {k: v for k, v in self.explain_kwargs.items() if k != "reference_images"}
            if seed is not None:
                kwargs["seed"] = seed
            if self.references is not None and method in self.sampled:
                kwargs["baseline"] = self.references
            return explain(model, images, method, targets, **kwargs).maps
        if seed is None:
            return self.explain_fn(model, images, method, targets)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if _takes_seed(self.explain_fn):
                return self.explain_fn(model, images, method, targets, seed=seed)
            return self.explain_fn(model, images, method, targets)

    def __call__(self, model: nn.Module, images: torch.Tensor, method: str, targets):
        if not stochastic(method, self.explain_kwargs) or images is not self.images:
            return self.once(model, images, method, targets, None)
        maps = []
        with track(len(self.ids)) as advance:  # moves the study's own line (_stream)
            for i, id_ in enumerate(self.ids):  # one image at a time, its own random stream
                seed = image_seed(self.base_seed, id_)
                maps.append(self.once(model, images[i : i + 1], method, targets[i : i + 1], seed))
                advance(1)
        return torch.cat([m.maps if hasattr(m, "maps") else m for m in maps])


def _batch_targets(model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The items' class ids, the predicted class where an item gives none (-1)."""
    if (targets < 0).any():
        with torch.inference_mode(), model_guard(model):
            predicted = model(images).argmax(-1)
        targets = torch.where(targets < 0, predicted, targets)
    return targets


class _Fresh:
    """Drops the items of a batch whose rows are stored already (when only the items know
    their ids), after checking that each is the image its rows were made from (``inputs``: the
    SHA-256s stored in ``store``), and refuses an id seen twice; the reporter forgets the
    dropped items' work."""

    def __init__(
        self, done: set[str], filter_done: bool, inputs: dict[str, set[str]], store: Path
    ) -> None:
        self.done, self.filter_done, self.inputs, self.store = done, filter_done, inputs, store
        self.seen: set[str] = set()
        self.dropped = 0

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any] | None:
        ids = batch["id"]
        for image_id in ids:
            if image_id in self.seen:
                check_unique([image_id, image_id])  # the one message for a repeated id
            self.seen.add(image_id)
        if self.filter_done:  # a done image must be the one its rows were made from
            changed = [
                i for i, sha in zip(ids, batch["sha256"], strict=True)
                if i in self.done and self.inputs.get(i) != {sha}
            ]  # fmt: skip
            if changed:
                _refuse_changed(self.store, changed, True)
        keep = [k for k, i in enumerate(ids) if not (self.filter_done and i in self.done)]
        self.dropped = len(ids) - len(keep)
        return None if not keep else batch if len(keep) == len(ids) else select(batch, keep)


def _stream(loader: DataLoader, run, fresh: _Fresh, n_items: int, progress: bool | None) -> None:
    """Every batch of the loader not done yet through ``run``, with the study's progress line
    (images x methods, each method's explanation and metrics a share: see
    :func:`~faithcam.metrics.evaluate.evaluation_work`)."""
    from faithcam.metrics.evaluate import EVALUATION_UNIT, evaluation_work

    work = functools.partial(evaluation_work, run.methods, run.metrics)
    with Progress(work(n_items), "evaluate", EVALUATION_UNIT, enabled=progress) as reporter:
        for batch in loader:
            batch = fresh(batch)
            if fresh.dropped:
                reporter.drop(work(fresh.dropped))
            if batch is not None:
                run(batch)


@dataclass
class _BatchRun:
    """One batch of the data set evaluated (:func:`_evaluate_batch`) and its rows and curves
    stored in one transaction."""

    model: nn.Module
    methods: list[str]
    metrics: list[str]
    settings: str
    store: ResultStore
    explainer: _Explainer
    evaluation: dict[str, Any]

    def __call__(self, batch: dict[str, Any]) -> None:
        device = model_device(self.model, torch.device("cpu"))
        table = _evaluate_batch(
            self.model, batch, device, self.explainer, self.methods, self.metrics,
            self.evaluation,
        )  # fmt: skip
        ids = batch["id"]
        curves = _curve_rows(table, ids, self.settings)
        inputs = dict(zip(ids, batch["sha256"], strict=True))
        rows = _rows(table, ids, self.settings)
        self.store.add(rows, replace_partial=True, inputs=inputs, curves=curves)


def _evaluate_batch(
    model: nn.Module,
    batch: dict[str, Any],
    device: torch.device,
    explainer: _Explainer,
    methods: Sequence[str],
    metrics: list[str],
    evaluation: dict[str, Any],
) -> Any:
    """:func:`faithcam.metrics.evaluate` on one batch of the data set (an item without boxes
    gets NaN from the metrics that need them)."""
    from faithcam.metrics.evaluate import evaluate
    from faithcam.metrics.registry import metric_spec

    images = explainer.images = batch["image"].to(device)
    explainer.ids = batch["id"]
    boxes = batch["boxes"] if any(metric_spec(m).needs_boxes for m in metrics) else None
    targets = _batch_targets(model, images, batch["target"].to(device))
    return evaluate(
        model, images, list(methods), metrics, boxes=boxes, targets=targets, explain=explainer,
        **evaluation,
    )  # fmt: skip


@dataclass(frozen=True)
class _Plan:
    """A study's checked settings: registered metric names and their options, the explain
    options (normalization, reference images), and the data-aware D of sampling methods."""

    metrics: list[str]
    metric_kwargs: dict[str, dict[str, Any]]
    explain_kwargs: dict[str, Any]
    normalization: Normalization | None
    sampled: list[str]
    references: ReferenceSet | None
    data_key: dict[str, Any]


def _plan(
    dataset: Dataset,
    methods: Sequence[str],
    metrics: Sequence[str],
    metric_kwargs: dict[str, dict[str, Any]] | None,
    explain_kwargs: dict[str, Any] | None,
    explain_fn: Callable[..., Any] | None,
    normalization: NormalizationSpec,
    references: int,
) -> _Plan:
    """Check the metrics (against the registry) and options before any work."""
    from faithcam.metrics.evaluate import metric_options

    names = _checked_metrics(metrics)
    options = {m: o for m, o in metric_options(names, metric_kwargs).items() if o}
    norm = as_normalization(normalization)
    explain_kwargs = _checked_explain_kwargs(explain_kwargs, norm)
    sampled = _sampling_methods(methods)
    reference_set, data_key = None, {}
    if explain_fn is None and sampled and "baseline" not in explain_kwargs:
        reference_set, data_key = _reference_set(dataset, references, explain_kwargs)
    return _Plan(names, options, explain_kwargs, norm, sampled, reference_set, data_key)


def _rows(table: Any, ids: list[str], settings: str) -> list[tuple[str, str, str, str, float]]:
    """The store's rows of one evaluated batch: (image id, method, metric, settings, value)."""
    return [
        (image_id, method, metric, settings, float(value))
        for (method, metric), result in table.results.items()
        for image_id, value in zip(ids, result.values.tolist(), strict=True)
    ]


def _curve_rows(table: Any, ids: list[str], settings: str) -> list[tuple[str, str, str, str, str]]:
    """The curves of one evaluated batch (deletion, insertion: ``details["curves"]`` (B, T) over
    ``details["fraction"]``), one JSON ``{"x", "y"}`` per image, method and metric."""
    rows = []
    for (method, metric), result in table.results.items():
        curves, fraction = result.details.get("curves"), result.details.get("fraction")
        if curves is None or fraction is None:
            continue
        x = [round(float(v), 6) for v in fraction]
        for image_id, curve in zip(ids, curves.tolist(), strict=True):
            points = json.dumps({"x": x, "y": [round(float(v), 6) for v in curve]})
            rows.append((image_id, method, metric, settings, points))
    return rows


def run_study(
    model: nn.Module,
    dataset: Dataset,
    methods: Sequence[str],
    metrics: Sequence[str],
    store: str | Path,
    *,
    batch_size: int = BATCH_SIZE,
    num_workers: int = 0,
    resume: bool = True,
    metric_kwargs: dict[str, dict[str, Any]] | None = None,
    explain_kwargs: dict[str, Any] | None = None,
    explain_fn: Callable[..., torch.Tensor] | None = None,
    fingerprint: dict[str, Any] | None = None,
    progress: bool | None = None,
    normalization: NormalizationSpec = None,
    references: int = 32,
) -> list[dict[str, Any]] | None:
    """Evaluate ``methods`` x ``metrics`` over ``dataset``; returns the summary rows on rank 0
    (None on other ranks).

    Items of ``dataset`` are dicts with ``image`` (C, H, W), ``id``, and optionally ``target``
    (class id; -1 or absent = predicted class) and ``boxes`` (ground truth; None: NaN from the
    metrics that need it), or ``(image, label)`` pairs (ids, resuming: :mod:`.items`). Maps
    come from ``faithcam.explain(model, images, method, targets, **explain_kwargs)``, or from
    ``explain_fn(model, images, method, targets)``; either way ``explain_kwargs`` is part of the
    settings hash that keys the stored rows. Metrics and ``metric_kwargs`` are checked against
    the registry first. ``batch_size``: images per batch (one transaction) and forward pass.

    A store holds one study, keyed (:mod:`faithcam.studies.settings`) by the options, the
    model's weights, buffers and code, the code version and ``fingerprint`` (targets,
    annotations, class names, preprocessing); resuming with other settings is refused, naming
    what differs. Each row records its image's SHA-256: a resume re-reads the stored images,
    refuses changed ones and rows of images no longer in the data set, and explains added
    ones. Edited or damaged stores are refused. Stochastic methods explain each image alone
    with the seed ``image_seed(seed, image_id)`` (``seed`` from ``explain_kwargs``, default
    0), so rows depend on neither batching nor world size; ``explain_fn`` then receives
    ``seed=`` when it takes one. DataLoader workers die with the process that started them.
    ``normalization=(mean, std)`` makes black pixel black (explain and metrics). Methods that
    sample baselines (Expected Grad-CAM) draw them from the data-aware D: ``references``
    images of the data set (:func:`~faithcam.cams.baselines.data_aware_references`, part of
    the key), unless ``explain_kwargs`` sets ``baseline``. ``progress``: an ETA line
    (:mod:`faithcam.engine.progress`; None: in a terminal, for runs over 2 s).
    """
    from faithcam.metrics.registry import metric_bounds

    batch_size, num_workers = _checked_counts(batch_size, num_workers)
    rank, world = _distributed()
    _check_fresh(store, resume, world)
    items = StudyItems(dataset, known_ids(dataset))
    plan = _plan(
        items, methods, metrics, metric_kwargs, explain_kwargs, explain_fn, normalization,
        references,
    )  # fmt: skip
    metrics, metric_kwargs, explain_kwargs = plan.metrics, plan.metric_kwargs, plan.explain_kwargs
    settings, described = study_settings(
        list(methods), metrics, metric_kwargs, explain_kwargs, model,
        {**(fingerprint or {}), **plan.data_key},
    )  # fmt: skip
    main_store, rank_store = _open_stores(store, settings, described, rank, world)
    loading = (batch_size, num_workers)
    expected = len(methods) * len(metrics)
    todo, done, inputs = _todo(main_store, items, settings, expected, world, loading)
    loader, n_items = _loader(items, todo, batch_size, num_workers, rank, world)
    run = _BatchRun(
        model, list(methods), metrics, settings, rank_store,
        _Explainer(explain_fn, explain_kwargs, plan.references, plan.sampled),
        {"metric_kwargs": metric_kwargs, "batch_size": batch_size,
         "normalization": plan.normalization},
    )  # fmt: skip
    fresh = _Fresh(done, items.ids is None, inputs, main_store.path)
    _stream(loader, run, fresh, n_items, progress if rank == 0 else False)
    if world > 1:
        dist.barrier()
        if rank != 0:
            return None
        for other in range(world):
            main_store.merge_from(_rank_file(store, other))
    bounds = {m: metric_bounds(m, metric_kwargs.get(m)) for m in metrics}
    return summarize(main_store, settings, methods, metrics, bounds)


def summarize(
    store: ResultStore,
    settings: str,
    methods: Sequence[str],
    metrics: Sequence[str],
    bounds: dict[str, tuple[float, float] | None] | None = None,
) -> list[dict[str, Any]]:
    """Mean and 95 % CI per (method, metric) over the stored per-image values, in the order
    the methods and metrics were asked for; ``bounds[metric]`` keeps a bounded metric's
    interval inside its range (see :func:`~faithcam.metrics._common.mean_interval`; without
    bounds, Student's t)."""
    from faithcam.metrics import MetricResult

    values: dict[tuple[str, str], list[float]] = {}
    for _image, method, metric, _settings, value in store.rows(settings):
        values.setdefault((method, metric), []).append(math.nan if value is None else value)
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


summarise = renamed_function(summarize, "summarise")
