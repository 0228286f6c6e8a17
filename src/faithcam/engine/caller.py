"""Warnings reported at the line of the caller's code: the first frame outside faithcam's
package, whichever path led there (``explain``, a method class, a metric, the drop-in, a
study). A fixed ``stacklevel`` points inside faithcam as soon as a call goes through one more
function of its own."""

from __future__ import annotations

import os
import sys
import warnings

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def caller_stacklevel() -> int:
    """The ``stacklevel`` that makes a ``warnings.warn`` in the function calling this one point
    at the first frame outside faithcam (1 would be that function itself)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def warn_at_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)`` shown at the caller's line (see the module)."""
    warnings.warn(message, category, stacklevel=caller_stacklevel())
