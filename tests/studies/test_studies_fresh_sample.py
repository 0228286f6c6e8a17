"""Tests written for survivors of the fresh mutmut sample of the studies tier (seed 20261206,
docs/mutation.md): the store's refusals name what they found, the data set's first bad item is
named by its index. Expected messages are the words a user needs, written here by hand."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from faithcam.errors import FaithcamTypeError
from faithcam.studies.items import known_ids
from faithcam.studies.store import StoreError
from faithcam.studies.store_checks import check_store, open_store_file

ADVICE = "Restore it from a backup, or move it away and start a new store"


def test_a_file_that_is_no_database_is_damaged_and_the_message_says_how_to_recover(
    tmp_path,
) -> None:
    store = tmp_path / "s.sqlite"
    store.write_bytes(b"this is not a SQLite file, only text " * 200)
    with pytest.raises(StoreError) as caught:
        check_store(store, StoreError)
    message = str(caught.value)
    assert message.startswith(f"store: {store} is damaged (")
    assert "it was not resumed and was left unchanged" in message
    assert message.endswith(ADVICE)


def test_a_table_named_like_an_sqlite_autoindex_after_a_space_is_not_ignored(tmp_path) -> None:
    """Only SQLite's own automatic indexes ("index sqlite_autoindex_<table>_<n>") are skipped
    when a file is checked for foreign objects; a user table whose name is a space followed by
    that prefix is foreign, and a file holding it is not a faithcam store."""
    store = tmp_path / "s.sqlite"
    with closing(sqlite3.connect(store)) as db, db:
        db.execute('CREATE TABLE " sqlite_autoindex_x" (a INTEGER)')
    with pytest.raises(StoreError, match="is not a faithcam store") as caught:
        check_store(store, StoreError)
    assert "table  sqlite_autoindex_x" in str(caught.value)


def test_real_sqlite_autoindexes_are_not_foreign_objects(tmp_path) -> None:
    """The other side of the rule above: a UNIQUE column gives SQLite's own index, which is
    skipped, so the file's only foreign object reported is its user table."""
    store = tmp_path / "s.sqlite"
    with closing(sqlite3.connect(store)) as db, db:
        db.execute("CREATE TABLE notes (a TEXT UNIQUE)")
    with pytest.raises(StoreError) as caught:
        check_store(store, StoreError)
    assert "(it holds table notes)" in str(caught.value)


def test_a_folder_given_as_the_store_is_named_a_folder(tmp_path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    with pytest.raises(StoreError) as caught:
        open_store_file(folder, StoreError)
    assert str(caught.value) == f"store: {folder} cannot be opened as a SQLite file (a folder)"


def test_a_bad_first_item_is_named_by_index_zero() -> None:
    """``known_ids`` reads item 0 to see whether items carry ids; when that item is no dict or
    pair, the error names ``dataset[0]``, the item a user must look at."""
    with pytest.raises(FaithcamTypeError, match=r"^dataset\[0\]: expected a dict"):
        known_ids([7, 8, 9])
