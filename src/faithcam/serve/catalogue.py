"""The models the page offers, loaded on first use and kept.

Three kinds: the offline pretrained ImageNet CNNs (:mod:`faithcam.io.pretrained`), the bundled
ShapesBench CNNs (:mod:`faithcam.data`, checksum-verified) and the model named on the command
line. That one is loaded by :func:`faithcam.io.model_sources.load_model`, the command line's own
loader, so every safety rule holds: a ``.pt2`` archive that would run code when loaded, a
pickled module or a TorchScript file is refused unless ``--trust-pickle`` was given, with the
loader's message shown on the page.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from faithcam.errors import FaithcamError
from faithcam.io.images import Preprocessing
from faithcam.serve.errors import RequestError

DEFAULT_MODEL = "mobilenet_v2-imagenet"
SHAPES_PREFIX = "shapesbench-"
SHAPES_SIZE = 64  # ShapesBench images; its models take [0, 1] pixels, no normalisation


@dataclass
class ServedModel:
    """A loaded model in eval mode with its preprocessing, class names and standard layer
    (None: the automatic layer)."""

    name: str
    model: nn.Module
    class_names: list[str] | None
    layer: str | None
    preprocessing: Preprocessing
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def normalization(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """``(mean, std)`` of the model's input, so that black is pixel black."""
        return self.preprocessing.mean, self.preprocessing.std

    @property
    def size(self) -> int:
        return self.preprocessing.size

    def inputs(self, pixels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(H, W, 3) uint8 pixels -> (model input (1, 3, S, S), display crop (3, S, S))."""
        crop = self.preprocessing.crop(pixels)
        return self.preprocessing.normalise(crop[None]), crop

    def class_name(self, class_id: int) -> str:
        names = self.class_names
        return names[class_id] if names and 0 <= class_id < len(names) else f"class {class_id}"

    def replica(self) -> nn.Module:
        """A private copy for one job: its hooks and forwards never meet another job's. The
        shared instance is returned (and used under :attr:`lock`) if it cannot be copied."""
        try:
            return copy.deepcopy(self.model)
        except Exception:
            return self.model


@dataclass(frozen=True)
class ModelEntry:
    """A model the page lists: ``name``, a ``label`` and ``group`` for the menu, a loader."""

    name: str
    label: str
    group: str
    load: Callable[[], ServedModel]


class Catalogue:
    """Model entries by name; :meth:`get` loads each once (thread-safe) and keeps it."""

    def __init__(self, entries: list[ModelEntry], default: str) -> None:
        self._entries = {entry.name: entry for entry in entries}
        if default not in self._entries:
            raise ValueError(f"default: {default!r} is not one of {list(self._entries)}")
        self.default = default
        self._loaded: dict[str, ServedModel] = {}
        self._locks = {name: threading.Lock() for name in self._entries}

    def describe(self) -> list[dict[str, str]]:
        """The menu: name, label and group of every entry (the default first)."""
        order = sorted(self._entries.values(), key=lambda e: e.name != self.default)
        return [{"name": e.name, "label": e.label, "group": e.group} for e in order]

    def get(self, name: str) -> ServedModel:
        """The loaded model ``name``; a model that cannot be loaded raises
        :class:`RequestError` with the loader's message (and is tried again next time)."""
        if name not in self._entries:
            raise RequestError(
                f"model: unknown model {name!r}; this server offers {', '.join(self._entries)}"
            )
        with self._locks[name]:
            if name not in self._loaded:
                self._loaded[name] = _load(self._entries[name])
            return self._loaded[name]


def _load(entry: ModelEntry) -> ServedModel:
    try:
        return entry.load()
    except FaithcamError as error:
        raise RequestError(" ".join(str(error).split())) from None
    except (OSError, RuntimeError, ImportError) as error:
        raise RequestError(
            f"model {entry.name}: cannot be loaded ({type(error).__name__}: {error})"
        ) from None


def _from_model_sources(spec: str, trust_pickle: bool, size: int | None) -> ServedModel:
    from faithcam.io.model_sources import load_model

    loaded = load_model(spec, trust_pickle=trust_pickle)
    size = loaded.size if size is None else size
    preprocessing = Preprocessing(size, tuple(loaded.mean), tuple(loaded.std))
    return ServedModel(
        loaded.name, loaded.model.eval(), loaded.class_names, loaded.layer, preprocessing
    )


def _shapes_model(arch: str, split: str) -> ServedModel:
    from faithcam.data import CLASSES, load_shapes_model

    loaded = load_shapes_model(arch, split)
    preprocessing = Preprocessing(SHAPES_SIZE, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    return ServedModel(
        f"{SHAPES_PREFIX}{arch}-{split}", loaded.model, list(CLASSES), loaded.layer, preprocessing
    )


def default_catalogue(
    spec: str | None = None, *, trust_pickle: bool = False, size: int | None = None
) -> Catalogue:
    """The pretrained and ShapesBench models, plus ``spec`` (a ``--model`` value: a name or a
    file, loaded as the command line loads it, with input ``size`` when given) as the default
    when given."""
    from faithcam.data import bundled_models
    from faithcam.io.pretrained import PRETRAINED

    entries = [
        ModelEntry(name, name, "ImageNet (offline weights)", _loader(name, False, None))
        for name in PRETRAINED
    ]
    entries += [
        ModelEntry(
            f"{SHAPES_PREFIX}{arch}-{split}",
            f"ShapesBench {arch} ({split})",
            "ShapesBench",
            lambda arch=arch, split=split: _shapes_model(arch, split),
        )
        for arch, split in bundled_models()
    ]
    known = {entry.name for entry in entries}
    if spec is not None and spec not in known:
        label = Path(spec).name if Path(spec).is_file() else spec
        entries.append(ModelEntry(spec, label, "command line", _loader(spec, trust_pickle, size)))
    return Catalogue(entries, spec if spec is not None else DEFAULT_MODEL)


def _loader(spec: str, trust_pickle: bool, size: int | None) -> Callable[[], ServedModel]:
    return lambda: _from_model_sources(spec, trust_pickle, size)
