"""Checks a study store passes before faithcam writes a byte to it.

- The path is a regular file or nothing: a symbolic link (even a dangling one, as a planted
  ``results.sqlite.rank1``) is refused, never followed; a folder, FIFO or device is refused.
  A missing file is created with ``O_CREAT | O_EXCL | O_NOFOLLOW``.
- An existing file is read through a read-only connection: SQLite's ``quick_check``, then the
  schema (only faithcam's ``results``, ``study`` and ``curves`` tables, with exactly their
  columns), then the values (numbers or NULL; curves as text). A refusal leaves the file
  byte-identical. The one write before the checks is SQLite's own recovery: a hot journal left
  by a killed run is rolled back, which restores the last committed state.
"""

from __future__ import annotations

import errno
import hashlib
import math
import os
import sqlite3
import stat
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

from faithcam.errors import FaithcamValueError

COLUMNS = {
    "results": ["image_id", "method", "metric", "settings", "value", "input_sha256", "checksum"],
    "study": ["key", "settings"],
    "curves": ["image_id", "method", "metric", "settings", "points"],
}
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# The checks' SQL, in one place
QUICK_CHECK = "PRAGMA quick_check"
SCHEMA_OBJECTS = "SELECT type, name FROM sqlite_master"
TABLE_COLUMNS = {table: f"PRAGMA table_info({table})" for table in COLUMNS}
HAS_TABLE = {table: f"SELECT 1 FROM sqlite_master WHERE name = '{table}'" for table in COLUMNS}
NON_NUMERIC_VALUE = (
    "SELECT image_id, method, metric, value FROM results "
    "WHERE typeof(value) NOT IN ('real', 'integer', 'null') LIMIT 1"
)
NON_TEXT_CURVE = (
    "SELECT image_id, method, metric FROM curves WHERE typeof(points) != 'text' LIMIT 1"
)
CHECKSUM_FUNCTION = "faithcam_checksum"
CHECKSUM_MISMATCH = (
    "SELECT image_id, method, metric, value, COUNT(*) OVER () FROM results WHERE "
    f"settings IN (SELECT key FROM study) AND checksum IS NOT {CHECKSUM_FUNCTION}(image_id, "
    "method, metric, settings, value, input_sha256) LIMIT 1"
)


def open_store_file(path: Path, error: type[FaithcamValueError]) -> None:
    """Create ``path`` if missing; refuse a link, a folder or any non-regular file."""
    if path.is_symlink():
        raise error(
            f"store: {path} is a symbolic link; refusing to write through it (remove the link "
            "or name the real file)"
        )
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | _NOFOLLOW | os.O_NONBLOCK, 0o666)
    except OSError as failure:
        if failure.errno == errno.ELOOP:  # a link planted after the check above
            raise error(f"store: {path} is a symbolic link; refusing to write through it") from None
        what = "a folder" if failure.errno == errno.EISDIR else failure.strerror
        raise error(f"store: {path} cannot be opened as a SQLite file ({what})") from None
    try:
        mode = os.fstat(fd).st_mode
    finally:
        os.close(fd)
    if not stat.S_ISREG(mode):
        raise error(f"store: {path} is not a regular file (expected a SQLite file)")


def row_checksum(
    image_id: str, method: str, metric: str, settings: str, value: float | None, input_sha: str
) -> str:
    """The first 16 hex digits of the SHA-256 of a row's fields, its value exactly (``float.hex``;
    ``nan`` for NaN, which SQLite stores as NULL)."""
    exact = "nan" if value is None or math.isnan(value) else float(value).hex()
    text = "\x00".join((image_id, method, metric, settings, exact, input_sha))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_store(path: Path, error: type[FaithcamValueError]) -> None:
    """Refuse an existing store that is damaged or not a faithcam store, without writing it."""
    try:
        _check_read_only(path, error)
    except sqlite3.OperationalError as failure:
        journal = path.with_name(path.name + "-journal")
        if "readonly" not in str(failure) or not journal.is_file() or journal.is_symlink():
            raise sqlite_failure(path, failure, error) from None
        try:
            with closing(sqlite3.connect(path)) as db:  # roll the interrupted transaction back
                db.execute(QUICK_CHECK).fetchall()
            _check_read_only(path, error)
        except sqlite3.DatabaseError as again:
            raise sqlite_failure(path, again, error) from None
    except sqlite3.DatabaseError as failure:
        raise sqlite_failure(path, failure, error) from None


# SQLite's reasons that say nothing about the file's content: (words in its message, ours)
_NOT_DAMAGE = (
    (("locked", "busy"), "is locked by another process (a study still writing to it?); wait "
     "for it to finish, or use another store"),
    (("readonly", "read-only"), "is read-only (its permissions, its folder's or its file "
     "system's) and this study must write to it; make it writable, or use another store"),
    (("unable to open",), "cannot be opened (a folder, no permission to read it or to create its "
     "journal next to it?); check its path and permissions, or use another store"),
    (("disk is full", "disk i/o"), "cannot be written: the disk is full or failing"),
)  # fmt: skip


def sqlite_failure(
    path: Path, failure: sqlite3.Error, error: type[FaithcamValueError]
) -> FaithcamValueError:
    """The error for SQLite's ``failure`` on ``path``: locked, read-only, not openable, or else
    damaged (restore it from a backup)."""
    text = str(failure).lower()
    for words, message in _NOT_DAMAGE:
        if any(word in text for word in words):
            return error(f"store: {path} {message} (SQLite: {failure})")
    return _damaged(path, str(failure), error)


def _damaged(path: Path, reason: str, error: type[FaithcamValueError]) -> FaithcamValueError:
    return error(
        f"store: {path} is damaged ({reason}); it was not resumed and was left unchanged. "
        "Restore it from a backup, or move it away and start a new store"
    )


def _check_read_only(path: Path, error: type[FaithcamValueError]) -> None:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as db:
        found = [row[0] for row in db.execute(QUICK_CHECK).fetchall()]
        if found != ["ok"]:
            raise _damaged(path, "; ".join(map(str, found[:3])), error)
        objects = db.execute(SCHEMA_OBJECTS).fetchall()
        tables = {name for kind, name in objects if kind == "table"}
        others = [
            f"{kind} {name}" for kind, name in objects if kind != "table" or name not in COLUMNS
        ]
        others = [o for o in others if not o.split(" ", 1)[1].startswith("sqlite_autoindex_")]
        if others:
            raise error(
                f"store: {path} is not a faithcam store (it holds {', '.join(others[:3])}); it "
                "was left unchanged; name a new file"
            )
        for table in sorted(tables):
            columns = [row[1] for row in db.execute(TABLE_COLUMNS[table])]
            if columns != COLUMNS[table]:
                raise error(
                    f"store: {path}: table {table} has columns {', '.join(columns)}; expected "
                    f"{', '.join(COLUMNS[table])} (a store of another faithcam version?); it was "
                    "left unchanged; use a new store"
                )
        if "results" in tables:
            _check_values(db, path, error, "study" in tables)


def _check_values(
    db: sqlite3.Connection, path: Path, error: type[FaithcamValueError], has_study: bool
) -> None:
    """Values are numbers or NULL, and the rows of the store's study match their checksums
    (rows of other settings are refused when a study claims the store)."""
    bad = db.execute(NON_NUMERIC_VALUE).fetchone()
    if bad is not None:
        image, method, metric, value = bad
        raise error(
            f"store: {path}: the value of image {image!r}, {method} {metric} is {value!r}, not a "
            "number (a damaged or edited store); it was left unchanged; restore it from a backup"
        )
    has_curves = db.execute(HAS_TABLE["curves"]).fetchone()
    bad = has_curves and db.execute(NON_TEXT_CURVE).fetchone()
    if bad:
        image, method, metric = bad
        raise error(
            f"store: {path}: the curve of image {image!r}, {method} {metric} is not text (a "
            "damaged or edited store); it was left unchanged; restore it from a backup"
        )
    if not has_study:
        return
    db.create_function(CHECKSUM_FUNCTION, 6, _sql_checksum, deterministic=True)
    found = db.execute(CHECKSUM_MISMATCH).fetchone()
    if found is not None:
        image, method, metric, value, count = found
        raise error(
            f"store: {path}: {count} rows do not match their checksum, the first of image "
            f"{image!r}, {method} {metric} (value {value!r}): values changed or set to NULL "
            "outside faithcam (a damaged or edited store); it was left unchanged; restore it "
            "from a backup or use a new store"
        )


def _sql_checksum(*fields: object) -> str | None:
    try:
        image_id, method, metric, settings, value, input_sha = fields
        return row_checksum(image_id, method, metric, settings, value, input_sha)  # type: ignore[arg-type]
    except (TypeError, ValueError, AttributeError):  # a field of the wrong type: no match
        return None
