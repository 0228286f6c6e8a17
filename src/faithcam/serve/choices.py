"""What the page offers besides models: the methods (seed methods first) with their options,
and the bundled photos (scikit-image's, when installed, and two ShapesBench images)."""

from __future__ import annotations

import functools
import importlib.util
from typing import Any

import numpy as np

import faithcam
from faithcam.demo.settings import COMPARATORS, METHOD_OPTIONS, SEED_METHODS
from faithcam.serve.errors import NotFound, RequestError

# One forward pass per channel of the layer (1280 on MobileNetV2) or per noisy copy: minutes on
# a laptop CPU. The page marks them and shows their progress; they run last.
SLOW_METHODS = ("scorecam", "sscam", "iscam", "ablationcam")
SKIMAGE_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
SHAPES_PHOTOS = {"shapes-clean": "clean", "shapes-spurious": "spurious"}
SHAPES_PHOTO_SEED = 7  # one image of each split, drawn once
DEFAULT_STEPS = 20  # deletion / insertion steps, as `faithcam evaluate`
MAX_STEPS = 200


def _group(name: str) -> str:
    if name in SEED_METHODS:
        return "seed"
    return "comparator" if name in COMPARATORS else "more"


def method_menu() -> list[dict[str, Any]]:
    """Every method of :data:`faithcam.METHODS`: seed methods first, then the comparators,
    then the rest, slow ones last; each with its group, slowness and citation."""
    order = {"seed": 0, "comparator": 1, "more": 2}
    names = sorted(
        faithcam.METHODS,
        key=lambda n: (n in SLOW_METHODS, order[_group(n)], _position(n)),
    )
    return [
        {
            "name": name,
            "group": _group(name),
            "slow": name in SLOW_METHODS,
            "citation": getattr(faithcam.METHODS[name], "citation", ""),
        }
        for name in names
    ]


def _position(name: str) -> int:
    listed = [*SEED_METHODS, *COMPARATORS]
    return listed.index(name) if name in listed else len(listed)


def default_methods() -> list[str]:
    return [m for m in SEED_METHODS if m in faithcam.METHODS]


def method_options(name: str) -> dict[str, Any]:
    """The method's options (the demo's: 16 samples / steps for the path methods)."""
    return dict(METHOD_OPTIONS.get(name, {}))


def check_methods(names: list[str]) -> list[str]:
    """The requested methods, checked: known names, at least one, no repeats."""
    if not names:
        raise RequestError("methods: pick at least one method")
    unknown = [n for n in names if n not in faithcam.METHODS]
    if unknown:
        raise RequestError(
            f"methods: unknown method {unknown[0]!r}; known: {', '.join(faithcam.METHODS)}"
        )
    if len(set(names)) != len(names):
        raise RequestError("methods: a method is listed twice")
    return list(names)


def photo_menu() -> list[str]:
    """Names of the bundled photos available here."""
    photos = list(SKIMAGE_PHOTOS) if importlib.util.find_spec("skimage") is not None else []
    return [*photos, *SHAPES_PHOTOS]


@functools.lru_cache(maxsize=len(SKIMAGE_PHOTOS) + len(SHAPES_PHOTOS))
def load_photo(name: str) -> np.ndarray:
    """A bundled photo as (H, W, 3) uint8 (read-only; cached)."""
    if name not in photo_menu():
        raise NotFound(f"photo: no bundled photo {name!r}; available: {', '.join(photo_menu())}")
    if name in SHAPES_PHOTOS:
        from faithcam.data import ShapesBench

        bench = ShapesBench(SHAPES_PHOTOS[name], n=1, seed=SHAPES_PHOTO_SEED)
        pixels = (bench.images[0].permute(1, 2, 0) * 255).round().byte().numpy()
    else:
        from skimage import data

        pixels = np.asarray(getattr(data, name)())[..., :3]
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    pixels.setflags(write=False)
    return pixels
