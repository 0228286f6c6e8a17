"""Load the model named on the command line, from wherever it comes from.

``--model`` accepts, in this order:

- one of the offline pretrained names of :mod:`faithcam.io.pretrained`
  (``mobilenet_v2-imagenet``...);
- a file: a ``torch.export`` program (``.pt2``, hookable after ``torch.export.unflatten``; an
  archive with pickled weights or other code only with ``trust_pickle``), or a pickled
  ``nn.Module`` (only with ``trust_pickle``). TorchScript archives are recognised
  and refused with advice: their sub-modules cannot take the forward hooks a CAM needs;
- ``package.module:factory``: a callable returning an ``nn.Module`` (custom models);
- a torchvision classification model name (``resnet18``);
- a timm model name, as ``timm/NAME`` or a bare name when timm is installed.

Weights (``--weights FILE``) are read with ``torch.load(weights_only=True)``; a full pickle needs
``trust_pickle=True``. Key and shape mismatches are reported by name before anything runs.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import io
import logging
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from faithcam.errors import FaithcamValueError
from faithcam.io.export_archive import describe, untrusted_content
from faithcam.io.graph_ops import disallowed_operators
from faithcam.io.pretrained import IMAGENET_MEAN, IMAGENET_STD, PRETRAINED, load_pretrained

SHOWN = 5  # names listed in a mismatch message


class ModelError(FaithcamValueError):
    """The model or its weights cannot be loaded as asked."""


@dataclass
class LoadedModel:
    """A model in eval mode with what the command line knows about it."""

    name: str
    model: nn.Module
    class_names: list[str] | None = None
    layer: str | None = None
    size: int = 224
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    notes: list[str] = field(default_factory=list)

    def class_name(self, class_id: int) -> str:
        """The name of ``class_id`` (``"class 7"`` when no names are known)."""
        names = self.class_names
        return names[class_id] if names and 0 <= class_id < len(names) else f"class {class_id}"

    def class_id(self, target: str, n_classes: int) -> int:
        """``target`` (a class id or an exact, case-insensitive class name) as a checked id."""
        if target.lstrip("-").isdigit():
            class_id = int(target)
        else:
            lowered = [name.lower() for name in self.class_names or []]
            if target.lower() not in lowered:
                close = difflib.get_close_matches(target.lower(), lowered, n=3)
                hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
                known = "" if self.class_names else "; the model has no class names, give an id"
                raise ModelError(f"--target: unknown class name {target!r}{hint}{known}")
            class_id = lowered.index(target.lower())
        if not 0 <= class_id < n_classes:
            raise ModelError(
                f"--target: class id {class_id} is out of range: the model has {n_classes} "
                f"classes (0..{n_classes - 1})"
            )
        return class_id


def torchvision_names() -> list[str]:
    """torchvision's classification model names (empty when torchvision is missing)."""
    if importlib.util.find_spec("torchvision") is None:
        return []
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def _timm() -> Any | None:
    if importlib.util.find_spec("timm") is None:
        return None
    import timm

    return timm


def load_model(
    spec: str,
    weights: str | Path | None = None,
    *,
    trust_pickle: bool = False,
    num_classes: int | None = None,
) -> LoadedModel:
    """Load ``spec`` (see the module docstring), apply ``weights``, put it in eval mode."""
    if spec in PRETRAINED:
        if weights is not None or num_classes is not None:
            raise ModelError(f"--model {spec}: bundled pretrained weights; drop --weights")
        pretrained = load_pretrained(spec)
        return LoadedModel(
            spec,
            pretrained.model,
            pretrained.class_names,
            pretrained.layer,
            pretrained.size,
            pretrained.mean,
            pretrained.std,
        )
    path = Path(spec)
    if path.is_file():
        loaded = _load_model_file(path, trust_pickle)
    elif ":" in spec and not spec.startswith(("timm/", "timm:")):
        loaded = _load_factory(spec, num_classes)
    elif spec in torchvision_names():
        loaded = _load_torchvision(spec, num_classes, need_cache=weights is None)
    elif spec.startswith(("timm/", "timm:")) or (_timm() is not None and spec in _timm_names()):
        loaded = _load_timm(spec.split("/", 1)[-1].split(":", 1)[-1], num_classes, weights)
    else:
        raise ModelError(_unknown_model_message(spec))
    if weights is not None:
        load_weights(loaded.model, weights, trust_pickle=trust_pickle)
    loaded.model.eval()
    return loaded


def _timm_names() -> list[str]:
    timm = _timm()
    return list(timm.list_models()) if timm is not None else []


def _unknown_model_message(spec: str) -> str:
    if "/" in spec or "\\" in spec or spec.endswith((".pt", ".pth", ".pt2", ".ts")):
        return missing_file_message("--model", Path(spec))
    names = [*PRETRAINED, *torchvision_names(), *_timm_names()]
    close = difflib.get_close_matches(spec, names, n=4, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    timm = "" if _timm() is not None else " (timm names need timm: pip install timm)"
    return (
        f"--model: unknown model {spec!r}{hint} Expected an offline pretrained name "
        f"({', '.join(PRETRAINED)}), a torchvision or timm name{timm}, a model file, or "
        "package.module:factory"
    )


def _load_torchvision(name: str, num_classes: int | None, need_cache: bool) -> LoadedModel:
    """A torchvision model; without --weights its default weights must be in torch's cache."""
    import torchvision

    default = torchvision.models.get_model_weights(name).DEFAULT
    categories = list(default.meta.get("categories") or [])
    if not need_cache:
        kwargs = {} if num_classes is None else {"num_classes": num_classes}
        model = torchvision.models.get_model(name, weights=None, **kwargs)
        same = num_classes is None or num_classes == len(categories)
        return LoadedModel(name, model, categories if same else None)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(default.url).name
    if num_classes is not None or not cached.is_file():
        raise ModelError(
            f"--model {name}: no weights: pass --weights FILE (a state dict), or put "
            f"torchvision's {Path(default.url).name} in {cached.parent} (offline)"
        )
    model = torchvision.models.get_model(name, weights=None)
    load_weights(model, cached)
    return LoadedModel(name, model, categories)


def _load_timm(name: str, num_classes: int | None, weights: str | Path | None) -> LoadedModel:
    timm = _timm()
    if timm is None:
        raise ModelError(f"--model timm/{name}: timm is not installed; run: pip install timm")
    if name not in timm.list_models():
        close = difflib.get_close_matches(name, timm.list_models(), n=4, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ModelError(f"--model: timm has no model {name!r}{hint}")
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    try:
        model = timm.create_model(name, pretrained=weights is None, **kwargs)
    except Exception as error:
        raise ModelError(
            f"--model timm/{name}: cannot get pretrained weights offline ({error}); "
            "pass --weights FILE"
        ) from None
    config = getattr(model, "pretrained_cfg", {}) or {}
    size = int(config.get("input_size", (3, 224, 224))[-1])
    return LoadedModel(
        f"timm/{name}",
        model,
        None,
        size=size,
        mean=tuple(config.get("mean", IMAGENET_MEAN)),
        std=tuple(config.get("std", IMAGENET_STD)),
    )


def model_source_file(spec: str) -> Path | None:
    """The file whose code or graph made the model of ``--model spec``: the model file itself
    (``.pt2``, pickled module), or the source file of a ``package.module:factory``'s module
    (imported by :func:`load_model`); None for bundled, torchvision and timm names, whose
    code is their classes'."""
    if Path(spec).is_file():
        return Path(spec)
    if ":" not in spec:
        return None
    module = sys.modules.get(spec.partition(":")[0])
    source = getattr(module, "__file__", None)
    return Path(source) if source and Path(source).is_file() else None


def _load_factory(spec: str, num_classes: int | None) -> LoadedModel:
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ModelError(
            f"--model {spec}: cannot import {module_name!r} ({error}){_import_hint(module_name)}"
        ) from None
    factory = module
    for part in attribute.split("."):
        if not hasattr(factory, part):
            raise ModelError(f"--model {spec}: {module_name!r} has no attribute {attribute!r}")
        factory = getattr(factory, part)
    if isinstance(factory, nn.Module):
        model = factory
    elif callable(factory):
        try:
            model = factory() if num_classes is None else factory(num_classes=num_classes)
        except Exception as error:  # the user's code: report it on one line
            raise ModelError(
                f"--model {spec}: the factory failed: {type(error).__name__}: {error}"
            ) from None
    else:
        raise ModelError(f"--model {spec}: {attribute!r} is not callable")
    if not isinstance(model, nn.Module):
        raise ModelError(
            f"--model {spec}: the factory returned {type(model).__name__}, not a torch.nn.Module"
        )
    return LoadedModel(spec, model, getattr(model, "class_names", None))


def _import_hint(module_name: str) -> str:
    """Why a module the user wrote may not import: the faithcam command does not search the
    current folder (``python -m`` and ``python script.py`` would), so it needs PYTHONPATH."""
    top = module_name.split(".")[0]
    here = Path.cwd()
    if (here / f"{top}.py").is_file() or (here / top).is_dir():
        return (
            f"; {top} is in the current folder, which the faithcam command does not search: "
            "run it with PYTHONPATH=. (PYTHONPATH=. faithcam ...)"
        )
    return "; a module of your own must be installed or its folder on PYTHONPATH"


def _load_model_file(path: Path, trust_pickle: bool) -> LoadedModel:
    if path.suffix == ".pt2":
        return LoadedModel(path.stem, torch.export.unflatten(_load_export(path, trust_pickle)))
    if _is_torchscript(path):
        raise ModelError(
            f"--model {path}: a TorchScript archive; its layers cannot take the forward hooks a "
            "CAM needs. Save the model with torch.export.save(...) as .pt2, or give its "
            "architecture (torchvision name or package.module:factory) with --weights"
        )
    if not trust_pickle:
        try:
            torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            raise ModelError(
                f"--model {path}: a pickled model runs arbitrary code when loaded; pass "
                "--trust-pickle if you trust this file, or give the architecture with --weights"
            ) from None
        raise ModelError(
            f"--model {path}: holds weights, not a model; pass it as --weights FILE with the "
            "architecture as --model (a torchvision name or package.module:factory)"
        )
    model = _torch_load(path, "--model", trust_pickle=True)
    if not isinstance(model, nn.Module):
        raise ModelError(
            f"--model {path}: holds a {type(model).__name__}, not an nn.Module; a state dict "
            "goes to --weights with the architecture as --model"
        )
    return LoadedModel(path.stem, model, getattr(model, "class_names", None))


def _load_export(path: Path, trust_pickle: bool) -> torch.export.ExportedProgram:
    """A ``.pt2`` program. Without ``trust_pickle``, the archive must be laid out unambiguously
    and hold nothing that runs code when loaded (pickled weights, custom objects, shared
    libraries, evaluated expressions), torch reads the very bytes that were inspected, and the
    graph may call only side-effect-free operators (:mod:`faithcam.io.graph_ops`)."""
    data = path.read_bytes()
    if not trust_pickle:
        try:
            found = untrusted_content(data)
        except ValueError as error:
            raise ModelError(f"--model {path}: {error}") from None
        if found:
            raise ModelError(
                f"--model {path}: this archive runs code when loaded ({describe(found)}); pass "
                "--trust-pickle if you trust this file"
            )
    logger = logging.getLogger("torch.export")  # it logs a traceback before re-raising
    disabled, logger.disabled = logger.disabled, True
    try:
        program = torch.export.load(io.BytesIO(data))
    except Exception as error:
        text = str(error).strip()
        reason = text.splitlines()[0] if text else type(error).__name__
        raise ModelError(f"--model {path}: not a torch.export program ({reason})") from None
    finally:
        logger.disabled = disabled
    refused = [] if trust_pickle else disallowed_operators(program)
    if refused:
        raise ModelError(
            f"--model {path}: the graph calls {describe(refused)}, outside the side-effect-free "
            "tensor operators an untrusted model may run (running a graph runs its operators; "
            "see docs/model-files.md); pass --trust-pickle if you trust this file"
        )
    return program


def missing_file_message(option: str, path: Path) -> str:
    """Why ``path``, given to ``option``, cannot be read as a file: it is missing, or it is a
    folder, FIFO, socket or device (reading a FIFO would wait for a writer for ever)."""
    if not path.exists():
        return f"{option}: no such file: {path}"
    return f"{option} {path}: not a regular file (a folder, FIFO, socket or device)"


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return any("/code/" in name or name.endswith("/constants.pkl") for name in names)


def _torch_load(path: Path, option: str, trust_pickle: bool) -> Any:
    if not path.is_file():
        raise ModelError(missing_file_message(option, path))
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except Exception as error:
        text = str(error)
        if not trust_pickle and ("weights_only" in text or "Unsupported global" in text):
            raise ModelError(
                f"{option} {path}: not a plain state dict (it pickles Python objects); pass "
                "--trust-pickle if you trust this file"
            ) from None
        first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
        raise ModelError(f"{option} {path}: cannot be read by torch.load ({first})") from None


def _state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """The state dict inside a checkpoint: bare, under a usual key, or of a pickled module."""
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model_state_dict", "model", "net"):
            inner = obj.get(key)
            if isinstance(inner, nn.Module):
                inner = inner.state_dict()
            if isinstance(inner, Mapping) and inner:
                obj = inner
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        kind = type(obj).__name__
        raise ModelError(f"--weights {path}: expected a state dict of tensors, got {kind}")
    state = dict(obj)
    if state and all(k.startswith("module.") for k in state):  # saved from DataParallel
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def _listed(names: list[str]) -> str:
    more = f" (+{len(names) - SHOWN} more)" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def load_weights(model: nn.Module, path: str | Path, *, trust_pickle: bool = False) -> None:
    """Load a state dict file into ``model``; mismatched keys or shapes raise one clear error."""
    path = Path(path)
    state = _state_dict(_torch_load(path, "--weights", trust_pickle), path)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_listed(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_listed(unexpected)}")
    if shapes:
        problems.append(f"shape mismatch (file vs model): {_listed(shapes)}")
    if problems:
        hint = " (set --num-classes to the file's class count?)" if shapes and not missing else ""
        raise ModelError(f"--weights {path}: does not match the model: {'; '.join(problems)}{hint}")
    model.load_state_dict(state)
