"""What `faithcam explain`, `compare` and `evaluate` do, given parsed command-line options.

Every check on the user's input (model, weights, layer, methods, device, output folder, images,
target class) runs before the first explanation. Images are processed ``--batch-size`` at a
time, so a large folder never sits in memory at once.
"""

from __future__ import annotations

import argparse
import ast
import json
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faithcam.api import explain
from faithcam.cams.baselines import ReferenceSet, data_aware_references
from faithcam.cams.registry import METHODS, method_spec
from faithcam.engine.inputs import ChannelError, input_channels_checked
from faithcam.engine.layers import resolve_layer
from faithcam.engine.progress import Progress
from faithcam.engine.progress import current as current_progress
from faithcam.engine.result import CamResult
from faithcam.engine.targets import DetectionTarget, SegmentationTarget, select_output
from faithcam.engine.validation import check_seed
from faithcam.errors import FaithcamError, FaithcamValueError
from faithcam.io.images import Preprocessing, find_images
from faithcam.io.model_sources import LoadedModel, load_model, missing_file_message
from faithcam.outputs import check_inputs_kept, check_writable, fit_name, write_fresh
from faithcam.studies.settings import jsonable
from faithcam.viz import method_grid, overlay_alpha, save_overlay

# Methods with their own layer policy: the model's default layer (or --layer) is not theirs.
OWN_LAYERS = {"fullgrad": "it uses the biases of every Conv2d / BatchNorm2d"}


@dataclass
class Session:
    """A loaded model and the options shared by every command."""

    loaded: LoadedModel
    prep: Preprocessing
    device: torch.device
    layer: str | None
    methods: list[str]
    options: dict[str, dict[str, Any]]
    batch_size: int
    seed: int | None
    quiet: bool
    task: str = "classify"
    output_selector: str | int | None = None
    references: ReferenceSet | None = None  # Expected Grad-CAM's D: see use_references
    reference_key: Any = None  # the SHA-256 of its images (a study's rows depend on them)

    def use_references(self, paths: Sequence[Path]) -> None:
        """The data-aware D of Expected Grad-CAM from the user's images
        (:func:`~faithcam.cams.baselines.data_aware_references`; nothing to do without a
        sampling method)."""
        if not any(METHODS[m].estimator == "expected" for m in self.methods):
            return
        loaded: list[torch.Tensor] = []

        def load(picks: list[int]) -> torch.Tensor:
            loaded.append(self._load(paths, picks))
            return loaded[-1]

        found = data_aware_references(len(paths), load)
        self.references = found[0] if found is not None else None
        self.reference_key = jsonable(loaded[-1], "references") if loaded else None

    def _load(self, paths: Sequence[Path], picks: list[int]) -> torch.Tensor:
        return self.prep.load([paths[i] for i in picks])[0]

    def explain(
        self, images: torch.Tensor, method: str, targets: Any, seed: int | None = None
    ) -> CamResult:
        """One method on a batch of model inputs, with the session's settings (and seed, unless
        one is given)."""
        options = dict(self.options[method])
        if self.references is not None and METHODS[method].estimator == "expected":
            options["baseline"] = self.references
        return explain(
            self.loaded.model,
            images.to(self.device),
            method,
            targets,
            None if method in OWN_LAYERS else self.layer,
            batch_size=self.batch_size,
            seed=self.seed if seed is None else seed,
            progress=False,
            output_selector=self.output_selector,
            normalization=(self.prep.mean, self.prep.std),
            **options,
        )

    def settings(self) -> dict[str, Any]:
        return {
            "model": self.loaded.name,
            "size": self.prep.size,
            "mean": list(self.prep.mean),
            "std": list(self.prep.std),
            "device": str(self.device),
            "seed": self.seed,
            "batch_size": self.batch_size,
            "task": self.task,
            "channels": self.prep.channels,
        }


def parse_methods(text: str) -> list[str]:
    """``"gradcam,hirescam"`` (or ``"all"``) -> canonical method names, checked."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return list(METHODS)
    if not names:
        raise FaithcamValueError("--method: give at least one method name")
    try:
        canonical = [method_spec(n)[0] for n in names]
    except FaithcamValueError as error:
        raise FaithcamValueError(f"--{error}") from None
    return list(dict.fromkeys(canonical))


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when available), ``cpu`` or ``cuda[:N]``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise FaithcamValueError(f"--device {name}: CUDA is not available on this machine")
    try:
        return torch.device(name)
    except RuntimeError:
        raise FaithcamValueError(f"--device: expected auto, cpu or cuda, got {name!r}") from None


def prepare_out(path: str | Path) -> Path:
    """Create the output folder and check that it is writable (OSError otherwise). Files are
    then written through fresh names (:mod:`faithcam.outputs`): links in it are not followed."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        check_writable(out)
    except OSError as error:
        raise OSError(f"--out {out}: cannot write there ({error.strerror or error})") from None
    return out


def parse_option(text: str) -> tuple[str, Any]:
    """``"NAME=VALUE"`` -> (name, value): VALUE is read as a Python literal (``0.1``, ``8``,
    ``(1, 2)``), ``true`` / ``false`` / ``none``, or else kept as a string (``others``)."""
    name, sep, raw = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name.isidentifier():
        raise FaithcamValueError(f"--option: expected NAME=VALUE, got {text!r}")
    raw = raw.strip()
    words = {"true": True, "false": False, "none": None}
    if raw.lower() in words:
        return name, words[raw.lower()]
    try:
        return name, ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return name, raw


def _method_options(
    methods: Sequence[str], steps: int | None, samples: int | None, pairs: Sequence[str] = ()
) -> dict[str, dict[str, Any]]:
    """Each method's options: ``--steps`` / ``--samples`` for the methods that take them, and
    every ``--option NAME=VALUE`` (which at least one of the methods must take)."""
    counts = {k: v for k, v in (("steps", steps), ("samples", samples)) if v is not None}
    given = dict(parse_option(pair) for pair in pairs)
    options: dict[str, dict[str, Any]] = {}
    for name in methods:
        valid = {option.name for option in METHODS[name].options()}
        options[name] = {k: v for k, v in {**counts, **given}.items() if k in valid}
    unused = sorted(set(given) - {k for chosen in options.values() for k in chosen})
    if unused:
        valid = "; ".join(
            f"{m}: {', '.join(o.name for o in METHODS[m].options()) or 'none'}" for m in methods
        )
        raise FaithcamValueError(f"--option {unused[0]}: no method given takes it ({valid})")
    return options


def _check_counts(args: argparse.Namespace) -> None:
    """Counts are >= 1 (``--workers`` >= 0) and ``--seed`` fits torch's 64-bit seed."""
    for name in ("batch_size", "steps", "samples", "size", "top_k", "workers"):
        value = getattr(args, name, None)
        least = 0 if name == "workers" else 1
        if value is not None and value < least:
            raise FaithcamValueError(f"--{name.replace('_', '-')}: must be >= {least}, got {value}")
    if args.seed is not None:
        check_seed(args.seed, "--seed")


def open_session(args: argparse.Namespace) -> Session:
    """Check every option and load the model (before any image is read)."""
    methods = parse_methods(args.method)
    device = resolve_device(args.device)
    _check_counts(args)
    loaded = load_model(
        args.model, args.weights, trust_pickle=args.trust_pickle, num_classes=args.num_classes
    )
    if args.classes:
        loaded.class_names = _read_class_names(args.classes)
    channels = getattr(args, "channels", 3)
    prep = Preprocessing(
        args.size or loaded.size,
        _per_channel(args.mean, loaded.mean, channels, 0.0),
        _per_channel(args.std, loaded.std, channels, 1.0),
        channels,
    )
    task = getattr(args, "task", "classify")
    if task != "classify" and args.command == "evaluate":
        raise FaithcamValueError(f"--task {task}: evaluate supports classify only")
    selector = getattr(args, "output_selector", None)
    if selector is not None and selector.lstrip("-").isdigit():
        selector = int(selector)
    layer = args.layer or loaded.layer
    if layer is not None:
        try:
            layer = resolve_layer(loaded.model, layer, torch.empty(0)).name
        except FaithcamValueError as error:
            raise FaithcamValueError(f"--{error}") from None
    _note_own_layers(methods, layer)
    if args.seed is not None:
        torch.manual_seed(args.seed)
    loaded.model.to(device)
    pairs = getattr(args, "option", None) or ()
    options = _method_options(methods, args.steps, args.samples, pairs)
    return Session(
        loaded,
        prep,
        device,
        layer,
        methods,
        options,
        args.batch_size,
        args.seed,
        args.quiet,
        task,
        selector,
    )


def _note_own_layers(methods: Sequence[str], layer: str | None) -> None:
    """One line for each method that ignores the layer (FullGrad picks its own layers)."""
    for method in methods:
        if method in OWN_LAYERS and layer is not None:
            warnings.warn(
                f"--method {method} ignores the layer {layer}: {OWN_LAYERS[method]}", stacklevel=2
            )


def _per_channel(
    given: Sequence[float] | None, default: Sequence[float], channels: int, alpha: float
) -> tuple[float, ...]:
    """--mean / --std values: given, or the model's RGB defaults made to fit ``channels``
    (grey: their average; RGBA: ``alpha`` for the alpha channel)."""
    if given:
        return tuple(given)
    default = tuple(default)
    if channels == len(default):
        return default
    if channels == 1:
        return (sum(default) / len(default),)
    return (*default[:3], alpha)


def _read_class_names(path: str) -> list[str]:
    """``--classes``: a text file (one name per line), a JSON list or {id: name} object, or
    ``voc`` (PASCAL VOC's 20 classes in the devkit's order)."""
    file = Path(path)
    if path.strip().lower() == "voc" and not file.exists():
        from faithcam.cli.evaluate_items import VOC_CLASSES

        return list(VOC_CLASSES)
    if not file.is_file():
        raise FaithcamValueError(missing_file_message("--classes", file))
    text = file.read_text(encoding="utf-8")
    if file.suffix == ".json":
        try:
            names = json.loads(text)
        except json.JSONDecodeError as error:
            raise FaithcamValueError(f"--classes {file}: not valid JSON ({error})") from None
        if isinstance(names, dict):  # {"0": "cat", "7": "dog"}: ids are kept, never compacted
            try:
                by_id = {int(k): str(v) for k, v in names.items()}
            except ValueError:
                raise FaithcamValueError(
                    f"--classes {file}: a JSON object's keys must be class ids, got "
                    f"{sorted(names)[:3]}"
                ) from None
            if by_id and min(by_id) < 0:
                raise FaithcamValueError(f"--classes {file}: negative class id {min(by_id)}")
            return [by_id.get(i, f"class {i}") for i in range(max(by_id, default=-1) + 1)]
        if not isinstance(names, list):
            raise FaithcamValueError(
                f"--classes {file}: expected a JSON list or object, got {type(names).__name__}"
            )
        return [str(n) for n in names]
    return [line.strip() for line in text.splitlines() if line.strip()]


def check_class_count(loaded: LoadedModel, n_classes: int) -> None:
    """Warn when the class names do not match the model's number of outputs."""
    names = loaded.class_names
    if names and len(names) != n_classes:
        effect = "unnamed classes show as class N" if len(names) < n_classes else "extras unused"
        warnings.warn(
            f"--classes: {len(names)} class names for a model with {n_classes} outputs; {effect}",
            stacklevel=2,
        )


@dataclass
class Explained:
    """One image and its explanations."""

    path: Path
    stem: str
    crop: torch.Tensor
    predictions: list[dict[str, Any]]
    target: int
    results: dict[str, CamResult]  # one-image results, per method


def unique_stems(paths: Sequence[Path]) -> list[str]:
    """One output name per input path: its stem, or ``stem-2``, ``stem-3``... where inputs share
    a stem, skipping names taken by other inputs (``a/x.png``, ``b/x.png``, ``x-2.png`` give
    ``x``, ``x-3``, ``x-2``). Names compare case-insensitively (macOS and Windows disks). A stem
    too long for an output name is shortened (:func:`~faithcam.outputs.fit_name`)."""
    fitted = [fit_name(path.stem) for path in paths]
    counts = Counter(stem.casefold() for stem in fitted)
    used = {stem for stem, n in counts.items() if n == 1}
    stems = []
    for stem in fitted:
        name, k = stem, 1
        if counts[name.casefold()] > 1:
            while name.casefold() in used:
                k += 1
                name = f"{stem}-{k}"
            used.add(name.casefold())
        stems.append(name)
    return stems


def _outputs(session: Session, inputs: torch.Tensor) -> Any:
    model = session.loaded.model
    try:
        with torch.inference_mode(), input_channels_checked(model):
            raw = model(inputs.to(session.device))
    except ChannelError as error:
        raise FaithcamValueError(
            f"--channels {session.prep.channels}: the model's first convolution "
            f"({error.module}) takes {error.expected} channels; pass --channels {error.expected}"
            + " (and one --mean / --std value per channel, if you give them)"
        ) from None
    try:
        return select_output(raw, session.output_selector)
    except FaithcamError as error:
        detail = str(error).split(": ", 1)[-1].split("; pass")[0]
        raise FaithcamValueError(
            f"--output-selector: {detail}; pass --output-selector (an index or a key)"
        ) from None


def predict(session: Session, inputs: torch.Tensor) -> torch.Tensor:
    """Class probabilities (B, classes): softmax, or σ(z) for a single-logit model."""
    logits = _outputs(session, inputs)
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise FaithcamValueError(
            f"--model: expected (batch, classes) logits from the model, got {shape} "
            "(--task segment / detect for dense outputs, --output-selector for tuples)"
        )
    logits = logits.float().cpu()
    return torch.sigmoid(logits) if logits.shape[1] == 1 else logits.softmax(-1)


def _dense_targets(
    session: Session, inputs: torch.Tensor, target: str | None, top_k: int
) -> tuple[Any, list[list[dict[str, Any]]], list[int]]:
    """Targets, predictions and explained class of each image for --task segment / detect.

    segment: the target class (default: the class covering most pixels) over the pixels
    predicted as it; detect: the highest-scoring detection (of the target class, if given).
    """
    outputs = _outputs(session, inputs)
    name = session.loaded.class_name
    if session.task == "segment":
        if not isinstance(outputs, torch.Tensor) or outputs.dim() != 4:
            raise FaithcamValueError("--task segment: the model must output (B, classes, H, W)")
        labels = outputs.argmax(1).cpu()
        n_classes = outputs.shape[1]
        counts = torch.stack([torch.bincount(m.flatten(), minlength=n_classes) for m in labels])
        fractions = counts.float() / labels[0].numel()
        if target is None:
            classes = counts.argmax(1)
        else:
            classes = torch.full((len(labels),), session.loaded.class_id(target, n_classes))
        masks = labels == classes[:, None, None]
        predictions = [
            [{"class": int(c), "name": name(int(c)), "pixels": float(f[c])}
             for c in f.argsort(descending=True)[:top_k]]
            for f in fractions
        ]  # fmt: skip
        return SegmentationTarget(classes, masks), predictions, classes.tolist()
    if not isinstance(outputs, list):
        raise FaithcamValueError("--task detect: the model must output per-image detections")
    boxes, labels, predictions = [], [], []
    for detections in outputs:
        keep = torch.ones(len(detections["scores"]), dtype=torch.bool)
        if target is not None:
            wanted = session.loaded.class_id(target, 10**9)
            keep = detections["labels"].cpu() == wanted
        if not keep.any():
            raise FaithcamValueError("--task detect: no detection to explain in an image")
        best = int(torch.nonzero(keep)[detections["scores"].cpu()[keep].argmax()])
        boxes.append(detections["boxes"][best : best + 1].cpu())
        labels.append(detections["labels"][best : best + 1].cpu())
        predictions.append(
            [{"class": int(c), "name": name(int(c)), "probability": float(p), "box": b.tolist()}
             for c, p, b in zip(detections["labels"][:top_k], detections["scores"][:top_k],
                                detections["boxes"][:top_k], strict=True)]
        )  # fmt: skip
    return DetectionTarget(boxes, labels), predictions, [int(x[0]) for x in labels]


def _slice(result: CamResult, i: int) -> CamResult:
    return CamResult(
        result.maps[i : i + 1],
        result.raw_maps[i : i + 1],
        None if result.targets is None else result.targets[i : i + 1],
        result.scores[i : i + 1],
        result.layer,
        result.method,
        result.settings,
    )


def _class_targets(
    session: Session, inputs: torch.Tensor, target: str | None, top_k: int, check_count: bool
) -> tuple[torch.Tensor, list[list[dict[str, Any]]], list[int]]:
    """Class ids, top-k predictions and explained class of each image (--task classify);
    ``check_count``: warn (once, on the first chunk) when the class names do not match."""
    probs = predict(session, inputs)
    n_classes = probs.shape[1]
    if check_count:
        check_class_count(session.loaded, n_classes)
    if target is None:
        targets = probs.argmax(1)
    else:
        targets = torch.full((len(inputs),), session.loaded.class_id(target, n_classes))
    values, ids = probs.topk(min(top_k, n_classes), dim=1)
    predictions = [
        [
            {"class": int(c), "name": session.loaded.class_name(int(c)), "probability": p}
            for p, c in zip(values[i].tolist(), ids[i].tolist(), strict=True)
        ]
        for i in range(len(inputs))
    ]
    return targets, predictions, targets.tolist()


def explain_images(
    session: Session, paths: Sequence[Path], target: str | None, top_k: int = 5, desc: str = ""
) -> Iterator[Explained]:
    """Explain every image with every method, ``batch_size`` images at a time, with a
    progress line of images x methods (:mod:`faithcam.engine.progress`: shown in a terminal
    for runs over 2 s, unless ``--quiet``; active while the items are handled, so their
    output lines go through it)."""
    stems = unique_stems(paths)
    work = {method: float(len(paths)) for method in session.methods}
    enabled = False if session.quiet else None
    with Progress(work, desc, "image·method", enabled=enabled) as reporter:
        for start in range(0, len(paths), session.batch_size):
            chunk = paths[start : start + session.batch_size]
            inputs, crops = session.prep.load(chunk)
            if session.task == "classify":
                targets, predictions, explained = _class_targets(
                    session, inputs, target, top_k, check_count=start == 0
                )
            else:
                targets, predictions, explained = _dense_targets(session, inputs, target, top_k)
            results = {}
            for method in session.methods:
                with reporter.task(len(chunk), method, label=method):
                    results[method] = session.explain(inputs, method, targets)
            for i, path in enumerate(chunk):
                yield Explained(
                    path,
                    stems[start + i],
                    crops[i],
                    predictions[i],
                    explained[i],
                    {m: _slice(r, i) for m, r in results.items()},
                )


def _image_record(session: Session, item: Explained, files: dict[str, dict[str, str]]):
    return {
        "image": str(item.path),
        "predictions": item.predictions,
        "target": {"class": item.target, "name": session.loaded.class_name(item.target)},
        "methods": {
            m: {"score": float(r.scores[0]), "layer": r.layer, **files.get(m, {})}
            for m, r in item.results.items()
        },
    }


def _write_summary(session: Session, out: Path, records: list[dict], layer: str | None) -> Path:
    methods = {m: {"citation": METHODS[m].citation, **session.options[m]} for m in session.methods}
    summary = {**session.settings(), "layer": layer, "methods": methods, "images": records}
    path = out / "summary.json"
    text = json.dumps(summary, indent=2, default=str) + "\n"
    write_fresh(path, lambda p: p.write_text(text, encoding="utf-8"))
    return path


def _title(session: Session, item: Explained) -> str:
    top = item.predictions[0]
    text = f"{item.stem}: {top['name']} ({top.get('probability', top.get('pixels', 0)):.2f})"
    if item.target != top["class"]:
        text += f", explaining {session.loaded.class_name(item.target)}"
    return text


def _report_line(session: Session, item: Explained) -> None:
    """The item's line on stdout, through the progress line when one is active."""
    if not session.quiet:
        reporter = current_progress()
        (reporter.write if reporter is not None else print)(_title(session, item))


def _start_explainer(args: argparse.Namespace, kind: str) -> tuple[list[Path], Path, Session]:
    """What explain and compare share before the first image: the overlay options, the
    images, the output folder (whose outputs must not replace an input), the session and
    Expected Grad-CAM's data-aware D."""
    overlay_alpha(args.style, args.alpha)
    paths = find_images(args.images)
    out = prepare_out(args.out)
    session = open_session(args)
    tails = [".compare.png"] if kind == "compare" else [
        f".{m}{ext}" for m in session.methods for ext in (".png", ".npy")
    ]  # fmt: skip
    planned = [out / f"{stem}{tail}" for stem in unique_stems(paths) for tail in tails]
    check_inputs_kept([*planned, out / "summary.json"], paths, "--out")
    session.use_references(paths)
    return paths, out, session


def run_explain(args: argparse.Namespace) -> int:
    """`faithcam explain`: overlays, raw maps and summary.json."""
    paths, out, session = _start_explainer(args, "explain")
    records, layer = [], None
    for item in explain_images(session, paths, args.target, args.top_k, "explain"):
        files = {}
        for method, result in item.results.items():
            png = out / f"{item.stem}.{method}.png"
            draw = partial(
                save_overlay, item.crop, result.maps[0], alpha=args.alpha, style=args.style
            )
            write_fresh(png, draw)
            npy = out / f"{item.stem}.{method}.npy"
            raw = result.raw_maps[0].float().cpu().numpy()
            write_fresh(npy, partial(np.save, arr=raw))
            files[method] = {"overlay": png.name, "raw_map": npy.name, "settings": result.settings}
            layer = result.layer
        records.append(_image_record(session, item, files))
        _report_line(session, item)
    summary = _write_summary(session, out, records, layer)
    if not session.quiet:
        print(f"wrote {len(records) * len(session.methods)} overlays and {summary}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    """`faithcam compare`: one grid per image with every method side by side."""
    paths, out, session = _start_explainer(args, "compare")
    records, layer = [], None
    for item in explain_images(session, paths, args.target, args.top_k, "compare"):
        maps = {m: r.maps[0] for m, r in item.results.items()}
        grid = out / f"{item.stem}.compare.png"
        title = _title(session, item)
        write_fresh(
            grid,
            partial(
                method_grid, item.crop, maps, title=title, alpha=args.alpha, style=args.style
            ),
        )
        layer = next(iter(item.results.values())).layer
        files = {m: {"grid": grid.name, "settings": r.settings} for m, r in item.results.items()}
        records.append(_image_record(session, item, files))
        _report_line(session, item)
    summary = _write_summary(session, out, records, layer)
    if not session.quiet:
        print(f"wrote {len(records)} grids and {summary}")
    return 0
