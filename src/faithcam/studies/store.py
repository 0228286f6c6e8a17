"""The SQLite store of a study: per-image rows, the settings they were made with, and the checks
that keep a store from mixing runs (one settings set per store, no duplicate rows, no resuming
a damaged file).

Each row records the SHA-256 of the image it was made from (``input_sha256``, checked when a
study resumes) and a checksum of the whole row (:func:`row_checksum`), so a value changed or
set to NULL outside faithcam is refused. SQLite stores a NaN as NULL: a NULL is accepted only
where the checksum says the value was NaN.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from faithcam.errors import FaithcamValueError
from faithcam.studies.store_checks import (
    HAS_TABLE,
    check_store,
    open_store_file,
    row_checksum,
    sqlite_failure,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    image_id TEXT NOT NULL, method TEXT NOT NULL, metric TEXT NOT NULL,
    settings TEXT NOT NULL, value REAL, input_sha256 TEXT NOT NULL, checksum TEXT NOT NULL,
    PRIMARY KEY (image_id, method, metric, settings)
);
CREATE TABLE IF NOT EXISTS study (key TEXT PRIMARY KEY, settings TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS curves (
    image_id TEXT NOT NULL, method TEXT NOT NULL, metric TEXT NOT NULL,
    settings TEXT NOT NULL, points TEXT NOT NULL,
    PRIMARY KEY (image_id, method, metric, settings)
);
"""
# The store's SQL, in one place (the checks' is in store_checks)
DELETE_IMAGE_ROWS = (
    "DELETE FROM results WHERE image_id = ? AND settings = ?",
    "DELETE FROM curves WHERE image_id = ? AND settings = ?",
)
INSERT_ROWS = "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?)"
INSERT_CURVES = "INSERT INTO curves VALUES (?, ?, ?, ?, ?)"
MERGE_ROWS = "INSERT OR IGNORE INTO results VALUES (?, ?, ?, ?, ?, ?, ?)"
MERGE_CURVES = "INSERT OR IGNORE INTO curves VALUES (?, ?, ?, ?, ?)"
ALL_ROWS = "SELECT * FROM results"
ALL_CURVES = "SELECT * FROM curves"
# ?1 is the settings key, or NULL for the rows of every settings
SELECT_CURVES = (
    "SELECT image_id, method, metric, settings, points FROM curves "
    "WHERE ?1 IS NULL OR settings = ?1 ORDER BY image_id, method, metric"
)
SELECT_ROWS = (
    "SELECT image_id, method, metric, settings, value FROM results "
    "WHERE ?1 IS NULL OR settings = ?1 ORDER BY image_id, method, metric"
)
DONE_IMAGES = (
    "SELECT image_id FROM results WHERE settings = ? GROUP BY image_id HAVING COUNT(*) >= ?"
)
INPUT_HASHES = "SELECT DISTINCT image_id, input_sha256 FROM results WHERE settings = ?"
CLAIMED_STUDIES = "SELECT key, settings FROM study"
OTHER_SETTINGS_ROWS = "SELECT COUNT(*) FROM results WHERE settings != ?"
CLAIM_STUDY = "INSERT OR IGNORE INTO study VALUES (?, ?)"
# A curve of one image (deletion, insertion): (image id, method, metric, settings, JSON
# {"x": fractions of pixels, "y": scores}).
CurveRow = tuple[str, str, str, str, str]
SHOWN = 3  # differences named in a mismatch message


class StoreError(FaithcamValueError):
    """The store is damaged, holds another study's rows, or would get a duplicate row."""


Row = tuple[str, str, str, str, float]  # (image id, method, metric, settings key, value)


class ResultStore:
    """Per-image metric values in a SQLite file; rows are never duplicated.

    An existing file is checked read-only (:mod:`faithcam.studies.store_checks`: integrity,
    schema, values and their checksums; never through a symbolic link) before anything is
    written to it. A locked or read-only file is refused with a message that says so.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        open_store_file(self.path, StoreError)
        check_store(self.path, StoreError)  # read-only: a refused file is left unchanged
        with self._database() as db:
            if not db.execute(HAS_TABLE["results"]).fetchone():
                db.executescript(SCHEMA)

    @contextmanager
    def _database(self) -> Iterator[sqlite3.Connection]:
        """A connection in one transaction (committed on success); SQLite's failures (locked,
        read-only, damaged) become a StoreError naming the file and the cause."""
        try:
            with closing(sqlite3.connect(self.path, timeout=60)) as db, db:
                yield db
        except sqlite3.IntegrityError:
            raise
        except sqlite3.DatabaseError as error:
            raise sqlite_failure(self.path, error, StoreError) from None

    def add(
        self,
        rows: Sequence[Row],
        replace_partial: bool = False,
        inputs: Mapping[str, str] | None = None,
        curves: Sequence[CurveRow] = (),
    ) -> None:
        """Insert rows (and the images' ``curves``) in one transaction (all or nothing); a row
        already there is an error.

        ``inputs`` maps each image id to the SHA-256 of its input (recorded with its rows;
        empty when unknown). ``replace_partial``: the images of ``rows`` are re-explained in
        full (a resumed study only re-runs images whose rows are incomplete), so their stale
        partial rows for the same settings are deleted first, in the same transaction.
        """
        inputs = inputs or {}
        full = []
        for image_id, method, metric, settings, value in rows:
            sha = inputs.get(image_id, "")
            checksum = row_checksum(image_id, method, metric, settings, value, sha)
            full.append((image_id, method, metric, settings, value, sha, checksum))
        try:
            with self._database() as db:
                if replace_partial:
                    images = sorted({(r[0], r[3]) for r in rows})
                    for statement in DELETE_IMAGE_ROWS:
                        db.executemany(statement, images)
                db.executemany(INSERT_ROWS, full)
                db.executemany(INSERT_CURVES, curves)
        except sqlite3.IntegrityError:
            raise StoreError(
                f"store: {self.path} already holds a row of one of these images "
                f"({', '.join(sorted({r[0] for r in rows})[:SHOWN])}...); no row was written"
            ) from None

    def curves(self, settings: str | None = None) -> list[CurveRow]:
        """The stored curves (image id, method, metric, settings, JSON points)."""
        with self._database() as db:
            if not db.execute(HAS_TABLE["curves"]).fetchone():
                return []
            return db.execute(SELECT_CURVES, (settings,)).fetchall()

    def rows(self, settings: str | None = None) -> list[Row]:
        """The stored rows (image id, method, metric, settings, value)."""
        with self._database() as db:
            return db.execute(SELECT_ROWS, (settings,)).fetchall()

    def done_images(self, settings: str, expected_rows: int) -> set[str]:
        """Images that already have all ``expected_rows`` rows for these settings."""
        with self._database() as db:
            found = db.execute(DONE_IMAGES, (settings, expected_rows)).fetchall()
        return {image_id for (image_id,) in found}

    def input_hashes(self, settings: str) -> dict[str, set[str]]:
        """Each stored image's input SHA-256s (one, unless its rows disagree)."""
        found: dict[str, set[str]] = {}
        with self._database() as db:
            for image_id, sha in db.execute(INPUT_HASHES, (settings,)):
                found.setdefault(image_id, set()).add(sha)
        return found

    def claim(self, key: str, settings: dict[str, Any]) -> None:
        """Record that this store holds the study ``key`` (described by ``settings``); refuse a
        store that holds rows of other settings, naming what differs."""
        with self._database() as db:
            has_study = db.execute(HAS_TABLE["study"]).fetchone()
            known = dict(db.execute(CLAIMED_STUDIES).fetchall() if has_study else [])
            other_rows = db.execute(OTHER_SETTINGS_ROWS, (key,)).fetchone()[0]
            others = {k: v for k, v in known.items() if k != key}
            if others:
                old = json.loads(next(iter(others.values())))
                raise StoreError(
                    f"store: {self.path} holds a study made with other settings "
                    f"({differences(old, settings)}); resume with the same settings or use a "
                    "new store"
                )
            if other_rows:
                raise StoreError(
                    f"store: {self.path} holds {other_rows} rows of unknown settings (an older "
                    "faithcam?); use a new store"
                )
            if key in known:
                return  # claimed before: nothing to write (a finished read-only store resumes)
            db.executescript(SCHEMA)  # an older store without the study / curves tables gets them
            # OR IGNORE: another rank may record the same study between this read and this write
            db.execute(CLAIM_STUDY, (key, json.dumps(settings, sort_keys=True)))

    def merge_from(self, other: str | Path) -> None:
        """Copy every row of another store of the same study into this one (a row already here,
        as a rank's padded duplicate, is kept once)."""
        with ResultStore(other)._database() as db:
            rows = db.execute(ALL_ROWS).fetchall()
            curves = db.execute(ALL_CURVES).fetchall()
        with self._database() as db:
            db.executemany(MERGE_ROWS, rows)
            db.executemany(MERGE_CURVES, curves)


def differences(old: Any, new: Any) -> str:
    """What differs between two settings dicts, as ``name old -> new`` (first few)."""
    found: list[str] = []
    _diff(old, new, "", found)
    more = f" (+{len(found) - SHOWN} more)" if len(found) > SHOWN else ""
    return "; ".join(found[:SHOWN]) + more if found else "settings differ"


def _diff(old: Any, new: Any, prefix: str, found: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            _diff(old.get(key, "(none)"), new.get(key, "(none)"), name, found)
    elif old != new:
        found.append(f"{prefix or 'settings'}: {_short(old)} in the store, {_short(new)} now")


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."
