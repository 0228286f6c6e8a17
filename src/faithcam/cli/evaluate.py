"""`faithcam evaluate`: a folder of images (and their annotations) through the methods and
metrics, the papers' way (:mod:`faithcam.cli.evaluate_items`), into a resumable SQLite store,
then results.csv and report.html (:mod:`faithcam.cli.evaluate_report`)."""

from __future__ import annotations

import argparse
import csv
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from faithcam.cli.commands import (
    Session,
    check_class_count,
    open_session,
    predict,
    prepare_out,
    unique_stems,
)
from faithcam.cli.evaluate_items import (
    EvalItem,
    FolderDataset,
    label_classes,
    name_key,
    plan_items,
    warn_unlabelled,
)
from faithcam.cli.presets import apply_preset
from faithcam.errors import FaithcamValueError
from faithcam.io.annotations import Annotation, read_annotations
from faithcam.io.images import find_images, load_image
from faithcam.io.model_sources import model_source_file
from faithcam.outputs import check_inputs_kept, write_fresh
from faithcam.studies.settings import file_sha256

DEFAULT_METHODS = "gradcam,hirescam,expected-gradcam"
BOX_METRICS = ["pointing_game", "energy_pointing_game"]
RESULT_COLUMNS = ["method", "metric", "mean", "ci_low", "ci_high", "n", "images"]


def run_evaluate(args: argparse.Namespace) -> int:
    """`faithcam evaluate`: stream a folder through the methods and metrics into a resumable
    SQLite store (``--resume`` continues it; under torchrun the folder is sharded across ranks),
    then write results.csv and report.html (rank 0)."""
    from faithcam.metrics.registry import METRICS

    apply_preset(args)
    args.method = args.method or DEFAULT_METHODS
    grids = _grid_count(args.grids)
    session = open_session(args)
    folder = Path(args.folder)
    if not folder.is_dir():
        raise FaithcamValueError(f"FOLDER: no such folder: {folder}")
    annotations = _annotations(args.annotations, folder)
    paths = _images(folder, annotations)
    metrics = parse_metrics(args.metrics, bool(annotations), METRICS)
    out = prepare_out(args.out)
    items, mode = _items(session, args.target, paths, folder, annotations)
    dataset = FolderDataset(items, session.prep, folder)
    session.use_references(paths)
    store = Path(args.store) if args.store else out / "results.sqlite"
    stems = unique_stems([Path(item.id.replace("#", "-")) for item in items])
    shown = stems[: len(items) if grids is None else grids]
    check_outputs(out, store, [out / f"{s}.compare.png" for s in shown], paths, args.resume)
    rows = _study(args, session, dataset, metrics, store, mode)
    if rows is None:  # a torchrun rank other than 0: rank 0 writes the results
        return 0
    rows = _with_image_counts(rows, store, items)
    csv_path = write_results_csv(out / "results.csv", rows)
    from faithcam.cli.evaluate_report import EvaluationRun, write_report

    run = EvaluationRun(session, dataset, rows, store, folder, mode, args, stems)
    html = write_report(out, run, len(shown))
    if not session.quiet:
        for row in rows:
            print(
                f"{row['method']:<22}{row['metric']:<24}{row['mean']:>10.4g}  "
                f"[{row['ci_low']:.4g}, {row['ci_high']:.4g}] (n={row['n']}, "
                f"{row['images']} images)"
            )
        print(f"wrote {csv_path} and {html}")
    return 0


def _grid_count(text: str) -> int | None:
    """``--grids``: a number of explanations to draw, or ``all`` (None)."""
    if str(text).strip().lower() == "all":
        return None
    try:
        count = int(text)
    except ValueError:
        raise FaithcamValueError(f"--grids: expected a number or all, got {text!r}") from None
    if count < 0:
        raise FaithcamValueError(f"--grids: must be >= 0, got {count}")
    return count


def _annotations(source: str | None, folder: Path) -> dict[Path, Annotation]:
    if not source:
        return {}
    return {a.image: a for a in read_annotations(source, folder)}


def _images(folder: Path, annotations: dict[Path, Annotation]) -> list[Path]:
    """Every image of the folder (with boxes or not), then annotated images found elsewhere
    (a name the folder scan does not list), each once."""
    try:
        found = find_images([folder])
    except FaithcamValueError:
        if not annotations:
            raise
        found = []
    known = {path.resolve() for path in found}
    extra = [path for path in annotations if path.resolve() not in known]
    return [*found, *extra]


def _class_count(session: Session, first: Path) -> int:
    """The model's number of classes, read from its output on the first image (and the class
    names checked against it)."""
    inputs = session.prep.normalise(session.prep.crop(load_image(first))[None])
    n_classes = predict(session, inputs).shape[1]
    check_class_count(session.loaded, n_classes)
    return n_classes


def _items(
    session: Session,
    target: str | None,
    paths: Sequence[Path],
    folder: Path,
    annotations: dict[Path, Annotation],
) -> tuple[list[EvalItem], str | int]:
    """The explanations to score and the protocol (``annotated``, ``predicted`` or a class
    id), every class name checked before any explanation."""
    n_classes = _class_count(session, paths[0])
    labels = [label for a in annotations.values() for label in a.labels if label]
    if target is None:
        mode: str | int = "annotated" if annotations else "predicted"
    elif target.strip().lower() in ("predicted", "annotated"):
        mode = target.strip().lower()
        if mode == "annotated" and not annotations:
            raise FaithcamValueError("--target annotated: needs --annotations")
    else:
        mode = session.loaded.class_id(target, n_classes)
    names = session.loaded.class_names
    if mode == "annotated":
        classes = label_classes(labels, names, n_classes)
    else:  # a fixed class: the boxes whose class name is that class's count
        classes = _known_labels(labels, names, n_classes)
    items = plan_items(paths, folder, annotations, mode, classes, session.loaded.class_name)
    warn_unlabelled(items, mode)
    if isinstance(mode, int) and annotations and not any(i.boxes for i in items):
        warnings.warn(
            f"--target {target}: no box is labelled with this class; the metrics that need "
            "boxes have no image to score",
            stacklevel=2,
        )
    return items, mode


def _known_labels(labels: list[str], names: list[str] | None, n_classes: int) -> dict[str, int]:
    known = {name_key(n) for n in names or []}
    matching = [lb for lb in labels if name_key(lb) in known or lb.strip().isdigit()]
    return label_classes(matching, names, n_classes)


def _study(
    args: argparse.Namespace,
    session: Session,
    dataset: FolderDataset,
    metrics: list[str],
    store: Path,
    mode: str | int,
) -> list[dict[str, Any]] | None:
    from faithcam.metrics.registry import METRICS
    from faithcam.studies.study import run_study

    kwargs = {m: {"curve_steps": args.curve_steps} for m in metrics if _has_curve(m, METRICS)}
    return run_study(
        session.loaded.model,
        dataset,
        session.methods,
        metrics,
        store,
        batch_size=session.batch_size,
        num_workers=args.workers,
        resume=args.resume,
        metric_kwargs=kwargs,
        explain_kwargs={**session.settings(), "layer": session.layer, "options": session.options},
        explain_fn=lambda model, images, method, t, seed=None: (
            session.explain(images, method, t, seed).maps
        ),
        fingerprint={
            "target": mode,
            "annotations": file_sha256(args.annotations) if args.annotations else None,
            "weights": file_sha256(args.weights) if args.weights else None,
            "model_source": _source_sha256(args.model),
            "references": session.reference_key,
            "class_names": session.loaded.class_names,
        },
        progress=False if session.quiet else None,
        normalization=(session.prep.mean, session.prep.std),
    )


def _with_image_counts(
    rows: list[dict[str, Any]], store: Path, items: Sequence[EvalItem]
) -> list[dict[str, Any]]:
    """Each summary row with ``images``: how many distinct images its ``n`` explanations come
    from (an image explained for two annotated classes counts once)."""
    from faithcam.studies.store import ResultStore

    image_of = {item.id: item.path for item in items}
    used: dict[tuple[str, str], set[Path]] = {}
    for image_id, method, metric, _settings, value in ResultStore(store).rows():
        if value is not None and not math.isnan(value) and image_id in image_of:
            used.setdefault((method, metric), set()).add(image_of[image_id])
    return [{**row, "images": len(used.get((row["method"], row["metric"]), ()))} for row in rows]


def write_results_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """results.csv: one row per method and metric (mean, 95 % interval, n explanations and
    the images they come from)."""

    def write(fresh: Path) -> None:
        with fresh.open("w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, fieldnames=RESULT_COLUMNS)
            writer.writeheader()
            writer.writerows({c: row[c] for c in RESULT_COLUMNS} for row in rows)

    write_fresh(path, write)
    return path


def check_outputs(
    out: Path, store: Path, grids: list[Path], inputs: Sequence[Path], resume: bool
) -> None:
    """Before any work: the store is no link, an existing store is continued only with
    ``--resume``, and no output of evaluate replaces an input."""
    if store.is_symlink():
        raise FaithcamValueError(f"--store {store}: a symbolic link; refusing to write through it")
    if store.exists() and not resume:
        raise FaithcamValueError(
            f"--store {store} exists (an earlier run); pass --resume to continue it, or choose "
            "another --out or --store"
        )
    check_inputs_kept([*grids, out / "results.csv", out / "report.html", store], inputs, "--out")


def _has_curve(metric: str, registry: dict[str, Any]) -> bool:
    """The metric draws a deletion / insertion curve (``--curve-steps`` sets its steps)."""
    return "curve_steps" in registry[metric].options


def parse_metrics(text: str | None, have_boxes: bool, valid: dict[str, Any]) -> list[str]:
    """``--metrics`` as registered names (default: deletion, insertion and, with boxes, the
    pointing games)."""
    if text is None:
        return ["deletion", "insertion", *(BOX_METRICS if have_boxes else [])]
    from faithcam.metrics.registry import RENAMED_METRICS, metric_spec

    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in valid and n not in RENAMED_METRICS]
    if unknown or not names:
        raise FaithcamValueError(f"--metrics: unknown {unknown}; valid: {', '.join(valid)}")
    names = [metric_spec(n).name for n in names]
    needs = [n for n in names if valid[n].needs_boxes]
    if needs and not have_boxes:
        raise FaithcamValueError(f"--metrics {', '.join(needs)}: need --annotations with boxes")
    return names


def _source_sha256(spec: str) -> str | None:
    """SHA-256 of the model file or the factory's source file (a study's key covers it)."""
    source = model_source_file(spec)
    return None if source is None else file_sha256(source)
