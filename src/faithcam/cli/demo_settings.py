"""Which methods the demo runs, in which order, and with which options."""

from __future__ import annotations

from faithcam.cams.methods import METHODS

SEED_METHODS = ["expected-gradcam", "integrated-gradcam", "hirescam", "xgradcam"]
COMPARATORS = ["gradcam", "gradcam++", "layercam", "ablationcam"]
METHOD_OPTIONS = {"expected-gradcam": {"samples": 16}, "integrated-gradcam": {"steps": 16}}


def demo_methods() -> list[str]:
    """The seed methods first, then the comparators."""
    return [m for m in SEED_METHODS + COMPARATORS if m in METHODS]
