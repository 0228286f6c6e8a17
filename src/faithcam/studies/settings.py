"""What defines a study's rows, as one JSON-able dict and its SHA-256 key.

The key covers everything that changes a row: the methods, the metrics and their options, the
explanation options, the model's identity (a SHA-256 of every parameter and buffer with its
name, persistent or not, and one of its code: each sub-module's class source, plain attributes
and fx / ``torch.export`` graph), the code version (faithcam's version and a SHA-256 of its
sources, torch's version), and a caller's ``fingerprint`` (targets, annotations, class names,
preprocessing). Tensors in options enter through a hash of their contents. The images are not
in the key: each row records a SHA-256 of its image (:func:`item_sha256`), checked on resume.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from faithcam.errors import FaithcamTypeError


def weights_sha256(model: nn.Module) -> str:
    """SHA-256 of the model's state dict (names, dtypes, shapes and bytes of every tensor) and of
    its non-persistent buffers (which the state dict leaves out), each marked as such."""
    digest = hashlib.sha256()
    persistent = model.state_dict()
    tensors = sorted(persistent.items())
    tensors += [
        (f"{name} (non-persistent)", tensor)
        for name, tensor in sorted(model.named_buffers(remove_duplicate=False))
        if name not in persistent
    ]
    for name, tensor in tensors:
        if not isinstance(tensor, torch.Tensor):
            continue
        _tensor_update(digest, f"{name}|", tensor)
    return digest.hexdigest()


def _tensor_update(digest: Any, label: str, tensor: torch.Tensor) -> None:
    data = tensor.detach().to("cpu").contiguous().reshape(-1)
    digest.update(f"{label}{data.dtype}|{tuple(tensor.shape)}|".encode())
    digest.update(data.view(torch.uint8).numpy().tobytes())


def model_code_sha256(model: nn.Module) -> str:
    """SHA-256 of what decides the model's function besides its tensors: for each sub-module,
    its name, its class (qualified name, and its source outside torch, which the torch version
    covers), its plain attributes (strides, paddings, a factory's ``scale = 2.0``) and, for fx
    and ``torch.export`` modules, its graph."""
    digest = hashlib.sha256()
    for name, module in model.named_modules(remove_duplicate=False):
        cls = type(module)
        attributes = {k: v for k, v in vars(module).items() if _plain(v) and k[0] != "_"}
        attributes.pop("training", None)
        graph = getattr(module, "graph", None)
        parts = [
            name,
            f"{cls.__module__}.{cls.__qualname__}",
            _class_source(cls),
            json.dumps(attributes, sort_keys=True, default=repr),
            str(graph) if isinstance(graph, torch.fx.Graph) else "",
        ]
        digest.update("\x00".join(parts).encode() + b"\x01")
    return digest.hexdigest()


def _plain(value: Any) -> bool:
    """A number, text, flag or None, or a tuple / list of them (a module's hyperparameter)."""
    if isinstance(value, (tuple, list)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


@functools.cache
def _class_source(cls: type) -> str:
    if cls.__module__.split(".")[0] == "torch":
        return ""
    try:
        return inspect.getsource(cls)
    except (OSError, TypeError):  # defined interactively, or a builtin: its name only
        return ""


@functools.cache
def code_version() -> dict[str, str]:
    """faithcam's version and a SHA-256 of its Python sources, and torch's version: other code
    may make other rows, so a store is resumed only by the code that made it."""
    from faithcam import __version__

    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for file in sorted(package.rglob("*.py")):
        digest.update(f"{file.relative_to(package).as_posix()}|".encode() + file.read_bytes())
    return {
        "faithcam": __version__, "faithcam_sha256": digest.hexdigest(), "torch": torch.__version__
    }  # fmt: skip


def item_sha256(item: dict[str, Any]) -> str:
    """SHA-256 of what a data set item gives a study's rows: the image tensor (dtype, shape,
    bytes), its target and its boxes. Recorded with each row, compared on resume."""
    digest = hashlib.sha256()
    _tensor_update(digest, "image|", torch.as_tensor(item["image"]))
    extras = {k: jsonable(item.get(k), f"dataset item {k!r}") for k in ("target", "boxes")}
    digest.update(json.dumps(extras, sort_keys=True).encode())
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 over ``f"{name}|".encode() + bytes`` of each file, in sorted order: a folder's
    files with their relative names, or one file with an empty name (its bytes alone decide)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(f"{file.relative_to(path) if path.is_dir() else ''}|".encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def jsonable(value: Any, name: str) -> Any:
    """``value`` as plain JSON: tensors and arrays become a SHA-256 of their contents; objects
    without a stable text form raise an error naming ``name``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v, f"{name}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, f"{name}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (torch.Tensor, np.ndarray)):
        tensor = torch.as_tensor(value).detach().to("cpu").contiguous().reshape(-1)
        digest = hashlib.sha256(tensor.view(torch.uint8).numpy().tobytes()).hexdigest()
        return {"tensor": list(value.shape), "dtype": str(value.dtype), "sha256": digest}
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, (torch.device, torch.dtype, Path)):
        return str(value)
    raise FaithcamTypeError(
        f"{name}: a {type(value).__name__} cannot be part of the study's settings key (it keys "
        "the stored rows); pass numbers, strings, lists, dicts or tensors"
    )


def study_settings(
    methods: list[str],
    metrics: list[str],
    metric_kwargs: dict[str, Any],
    explain_kwargs: dict[str, Any],
    model: nn.Module,
    fingerprint: dict[str, Any],
) -> tuple[str, dict[str, Any]]:
    """(key, settings): the settings as plain JSON and the first 16 hex digits of their SHA-256."""
    settings = {
        "methods": list(methods),
        "metrics": list(metrics),
        "metric_kwargs": jsonable(metric_kwargs, "metric_kwargs"),
        "explain_kwargs": jsonable(explain_kwargs, "explain_kwargs"),
        "weights_sha256": weights_sha256(model),
        "model_code_sha256": model_code_sha256(model),
        "code": code_version(),
        **{f"data.{k}": v for k, v in jsonable(fingerprint, "fingerprint").items()},
    }
    text = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16], json.loads(text)


def image_seed(seed: int, image_id: str) -> int:
    """A 63-bit seed for one image: SHA-256 of (seed, image id), so an image's random draws
    depend on neither its batch nor the number of processes."""
    digest = hashlib.sha256(f"{seed}|{image_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
