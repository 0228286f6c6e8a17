"""Which methods the demo runs, in which order, and with which options."""

from __future__ import annotations

from typing import Any

import torch

from faithcam.cams.baselines import data_aware_references
from faithcam.cams.registry import METHODS

SEED_METHODS = ["expected-gradcam", "integrated-gradcam", "hirescam", "xgradcam"]
COMPARATORS = ["gradcam", "gradcam++", "layercam", "ablationcam"]
METHOD_OPTIONS = {"expected-gradcam": {"samples": 16}, "integrated-gradcam": {"steps": 16}}


def demo_methods() -> list[str]:
    """The seed methods first, then the comparators."""
    return [m for m in SEED_METHODS + COMPARATORS if m in METHODS]


def demo_options(method: str, images: torch.Tensor) -> dict[str, Any]:
    """The method's demo options; Expected Grad-CAM draws its baselines from the other images
    of the batch (the data-aware D, :func:`~faithcam.cams.baselines.data_aware_references`)
    when there are several."""
    options: dict[str, Any] = dict(METHOD_OPTIONS.get(method, {}))
    if METHODS[method].estimator == "expected":
        found = data_aware_references(len(images), lambda picks: images[picks])
        if found is not None:
            options["baseline"] = found[0]
    return options
