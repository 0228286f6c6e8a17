"""Warnings reported at the line of the caller's code: the frame that called the outermost
faithcam function on the stack, whichever path led there (``explain``, a method class, a
metric, the drop-in, a study) and whatever runs in between (torch's module calls, a wrapper of
another library). A fixed ``stacklevel`` points inside faithcam as soon as a call goes through
one more function of its own."""

from __future__ import annotations

import sys
import warnings

PACKAGE = __name__.partition(".")[0]  # "faithcam"


def _inside_faithcam(frame) -> bool:
    """Whether ``frame`` runs code of a faithcam module (read from the module's name, not its
    file path, which may be relative or a copy)."""
    return frame.f_globals.get("__name__", "").partition(".")[0] == PACKAGE


def caller_stacklevel() -> int:
    """The ``stacklevel`` that makes a ``warnings.warn`` in the function calling this one point
    at the caller of the outermost faithcam frame (1 would be that function itself)."""
    frame, level, outermost = sys._getframe(1), 1, 0
    while frame is not None:
        if _inside_faithcam(frame):
            outermost = level
        frame, level = frame.f_back, level + 1
    return outermost + 1


def warn_at_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)`` shown at the caller's line (see the module)."""
    warnings.warn(message, category, stacklevel=caller_stacklevel())
