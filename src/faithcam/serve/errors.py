"""Errors a request can meet; each becomes an HTTP status and one line shown on the page."""

from __future__ import annotations

from faithcam.errors import FaithcamValueError


class RequestError(FaithcamValueError):
    """The request cannot be served as asked (HTTP 400); the message names the field."""

    status = 400


class NotFound(RequestError):
    """An image, job, method map or photo the request names is not (or no longer) here."""

    status = 404


class TooLarge(RequestError):
    """An upload exceeds the server's limits (HTTP 413)."""

    status = 413
