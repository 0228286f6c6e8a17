"""Import path kept for the code that still imports from here: :func:`~faithcam.api.explain`
lives in :mod:`faithcam.api`, the registry in :mod:`faithcam.cams.registry`."""

from faithcam.api import CamMethod, explain, method_class
from faithcam.cams.registry import ALIASES, METHODS, MethodSpec, method_spec

__all__ = [
    "ALIASES",
    "METHODS",
    "CamMethod",
    "MethodSpec",
    "explain",
    "method_class",
    "method_spec",
]
