"""Writing output files without following links planted in the output folder.

Every file is written to a fresh name created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` in the
same folder, then renamed over the final name. A rename replaces a symbolic link itself, so a
link planted at ``summary.json`` (pointing at a file of the user's) is replaced by the output,
and its target is never opened, truncated or overwritten.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
_FLAGS = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0)


def _fresh(folder: Path, name: str, suffix: str) -> Path:
    """A new empty file in ``folder`` that did not exist before (never a link)."""
    path = folder / f".{name}.{secrets.token_hex(6)}.tmp{suffix}"
    os.close(os.open(path, _FLAGS, 0o666))
    return path


def check_writable(folder: Path) -> None:
    """Create and remove a fresh file in ``folder`` (OSError when it cannot be written)."""
    os.unlink(_fresh(folder, "faithcam-write-test", ""))


def write_fresh(path: str | Path, write: Callable[[Path], T]) -> T:
    """Call ``write(temporary_path)`` on a fresh file next to ``path`` (same suffix, so writers
    that pick a format from it keep working), then move it to ``path`` in one rename."""
    path = Path(path)
    temporary = _fresh(path.parent, path.name, path.suffix)
    try:
        result = write(temporary)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return result
