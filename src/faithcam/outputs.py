"""Writing output files without following links planted in the output folder.

Every file is written to a fresh name created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` in the
same folder, then renamed over the final name. A rename replaces a symbolic link itself, so a
link planted at ``summary.json`` (pointing at a file of the user's) is replaced by the output,
and its target is never opened, truncated or overwritten. The temporary name is short (at most
64 bytes), so any output name the file system accepts can be written.

:func:`check_inputs_kept` refuses, before any work, an output that would replace one of the
input files (``--out`` = the input folder, with ``cat.gradcam.png`` among the inputs).
:func:`fit_name` shortens a stem so that the output names made from it fit the file system's
name limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from faithcam.errors import FaithcamValueError

T = TypeVar("T")
_FLAGS = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0)
NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows file systems


def _fresh(folder: Path, name: str, suffix: str) -> Path:
    """A new empty file in ``folder`` that did not exist before (never a link); its name keeps
    the first characters of ``name`` and ``suffix`` (writers pick the format from it)."""
    suffix = suffix if len(suffix.encode()) <= 16 else ""
    path = folder / f".{name[:24]}.{secrets.token_hex(6)}.tmp{suffix}"
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


def fit_name(stem: str, reserve: int = 40) -> str:
    """``stem`` shortened (its start, ``~`` and 8 hex digits of its SHA-256, so that distinct
    stems stay distinct) when ``reserve`` more bytes (``.expected-gradcam.png``, a ``-2``) would
    not fit in :data:`NAME_MAX` bytes."""
    if len(stem.encode()) + reserve <= NAME_MAX:
        return stem
    digest = hashlib.sha256(stem.encode()).hexdigest()[:8]
    room = NAME_MAX - reserve - 9
    start = stem.encode()[: max(room, 1)].decode("utf-8", "ignore")
    return f"{start}~{digest}"


def check_inputs_kept(outputs: Iterable[Path], inputs: Iterable[Path], option: str) -> None:
    """Refuse when an output path is one of the input files (same file, by device and inode,
    or same resolved path): writing it would replace the input."""
    taken = {}
    for path in inputs:
        with contextlib.suppress(OSError):
            info = path.stat()
            taken[(info.st_dev, info.st_ino)] = path
            taken[path.resolve()] = path
    for output in outputs:
        keys = [output.resolve()]
        with contextlib.suppress(OSError):
            info = output.stat()
            keys.append((info.st_dev, info.st_ino))
        clash = next((taken[k] for k in keys if k in taken), None)
        if clash is not None:
            which = "that input image" if clash == output else f"the input image {clash}"
            raise FaithcamValueError(
                f"{option}: the output {output} would overwrite {which}; choose another output "
                "folder (nothing was written)"
            )
