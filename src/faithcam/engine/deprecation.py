"""Old public names kept for one release: they work, and say (DeprecationWarning) what replaces
them. Every rename goes through here, so the old -> new table is read from one place."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from faithcam.engine.caller import warn_at_caller
from faithcam.errors import FaithcamTypeError

F = TypeVar("F", bound=Callable[..., Any])


def warn_renamed(old: str, new: str, where: str) -> None:
    """Say that ``old`` (an argument of ``where``, or a function) is now ``new``, at the
    caller's line."""
    warn_at_caller(
        f"{where}: {old} is deprecated and will be removed in the next release; use {new}",
        DeprecationWarning,
    )


def rename_keywords(given: dict[str, Any], renamed: dict[str, str], where: str) -> dict[str, Any]:
    """``given`` keyword arguments with each old name in ``renamed`` (old -> new) moved to its
    new name, warning once per old name; giving both names is an error."""
    out = dict(given)
    for old, new in renamed.items():
        if old not in out:
            continue
        if new in out:
            raise FaithcamTypeError(f"{where}: got both {old} and {new}; pass {new} only")
        warn_renamed(old, new, where)
        out[new] = out.pop(old)
    return out


def renamed_keywords(**renamed: str) -> Callable[[F], F]:
    """Decorator: the function also accepts the old keyword names ``old=new`` (deprecated).

    The mapping is kept on the function as ``__renamed_keywords__`` so that registries and
    option checks know the old names too.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **rename_keywords(kwargs, renamed, fn.__name__))

        wrapper.__renamed_keywords__ = dict(renamed)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def renamed_function(fn: F, old: str) -> F:
    """``fn`` under its old name ``old``: the same call, with a DeprecationWarning."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        warn_renamed(old, fn.__name__, old)
        return fn(*args, **kwargs)

    wrapper.__name__ = wrapper.__qualname__ = old
    return wrapper  # type: ignore[return-value]
