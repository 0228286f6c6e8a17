"""Exceptions raised by faithcam.

Every error names the argument at fault and what was expected, and is raised before any heavy
work starts. They subclass the built-in ValueError / TypeError so callers that already catch
those keep working.
"""

from __future__ import annotations


class FaithcamError(Exception):
    """Base class of every error faithcam raises on purpose."""


class FaithcamValueError(FaithcamError, ValueError):
    """An argument has the right type but a wrong value (shape, range, name...)."""


class FaithcamTypeError(FaithcamError, TypeError):
    """An argument has the wrong type."""


class LayerError(FaithcamValueError):
    """The target layer cannot be used: unknown name, never called, called twice, wrong output."""


class TargetError(FaithcamValueError):
    """The target (class id, callable...) is invalid for this model's outputs."""


class FaithcamWarning(UserWarning):
    """A result faithcam returns but doubts: a map that means nothing, an automatic layer that
    is the model's output. The message names the image (or layer) and the reason."""


class FaithcamNotImplementedError(FaithcamError, NotImplementedError):
    """A feature of a peer library's interface that faithcam does not provide."""
