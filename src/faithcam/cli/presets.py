"""The papers' evaluation protocols as ``faithcam evaluate --preset NAME``.

A preset fills in what the user did not set: the methods compared, the metrics, and the seed
method's settings. The data (PASCAL VOC 2007 test, ImageNet validation images) and the trained
model are the user's: they cannot be downloaded here.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from faithcam.errors import FaithcamValueError


@dataclass(frozen=True)
class Preset:
    paper: str
    methods: str
    metrics: str
    steps: int | None = None
    samples: int | None = None


PRESETS: dict[str, Preset] = {
    # Sattarzadeh et al., ICASSP 2021: VGG16 / ResNet-50 (layer4.2) trained on PASCAL VOC 2007,
    # m = 50 path steps from a black image, compared with Grad-CAM and Grad-CAM++.
    "integrated-gradcam-2021": Preset(
        "Integrated Grad-CAM (Sattarzadeh et al., ICASSP 2021)",
        "gradcam,gradcam++,integrated-gradcam",
        "energy_pointing_game,bbox_accuracy,average_drop,increase_in_confidence",
        steps=50,
    ),
    # Buono et al., 2024: faithfulness (insertion / deletion, infidelity) and robustness
    # (max-sensitivity) on ImageNet validation images, against the gradient CAMs.
    "expected-gradcam-2024": Preset(
        "Expected Grad-CAM (Buono et al., 2024)",
        "gradcam,gradcam++,xgradcam,hirescam,integrated-gradcam,expected-gradcam",
        "insertion,deletion,infidelity,max_sensitivity",
        steps=50,
        samples=32,
    ),
}


def apply_preset(args: argparse.Namespace) -> None:
    """Fill ``args`` from ``args.preset``; options the user gave explicitly win."""
    name = getattr(args, "preset", None)
    if name is None:
        return
    if name not in PRESETS:
        raise FaithcamValueError(f"--preset: unknown {name!r}; valid: {', '.join(PRESETS)}")
    preset = PRESETS[name]
    if args.method is None:
        args.method = preset.methods
    if args.metrics is None:
        args.metrics = preset.metrics
    if args.steps is None:
        args.steps = preset.steps
    if args.samples is None:
        args.samples = preset.samples
