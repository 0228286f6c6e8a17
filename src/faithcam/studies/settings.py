"""What defines a study's rows, as one JSON-able dict and its SHA-256 key.

The key covers everything that changes a row: the methods, the metrics and their options, the
explanation options, a SHA-256 of the model's weights (every parameter and buffer, so other
weights never resume a store), and a caller's ``fingerprint`` (targets, annotations, class
names, preprocessing). Tensors in options enter through a hash of their contents.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from faithcam.errors import FaithcamTypeError


def weights_sha256(model: nn.Module) -> str:
    """SHA-256 of the model's state dict: names, dtypes, shapes and bytes of every tensor."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if not isinstance(tensor, torch.Tensor):
            continue
        data = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}|{data.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes())
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
        **{f"data.{k}": v for k, v in jsonable(fingerprint, "fingerprint").items()},
    }
    text = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16], json.loads(text)


def image_seed(seed: int, image_id: str) -> int:
    """A 63-bit seed for one image: SHA-256 of (seed, image id), so an image's random draws
    depend on neither its batch nor the number of processes."""
    digest = hashlib.sha256(f"{seed}|{image_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
