"""Edge cases of issue 24's study stores, resume keys and resume checks, written after their
semantic mutants (scripts/semantic_mutants_catalogue.py, group ``stores``): each test kills a
mutant that the area's earlier tests let through. Expected values are worked out by hand
(which rows, which words), never read back from the code under test."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import torch

from faithcam.errors import FaithcamValueError
from faithcam.studies.settings import item_sha256, model_code_sha256, weights_sha256
from faithcam.studies.store import ResultStore, StoreError
from faithcam.studies.store_checks import open_store_file
from tests.studies import study_setup

ROW = ("img0", "gradcam", "deletion", "k", 0.5)


def _claimed(path: Path, rows=(ROW,)) -> ResultStore:
    store = ResultStore(path)
    store.claim("k", {"methods": ["gradcam"]})
    store.add(list(rows), inputs={r[0]: "sha" for r in rows})
    return store


def _refused_unchanged(path: Path, pattern: str) -> None:
    """Opening the store is refused with ``pattern`` and leaves the file byte-identical."""
    before = path.read_bytes()
    with pytest.raises(StoreError, match=pattern):
        ResultStore(path)
    assert path.read_bytes() == before


def test_a_results_table_with_an_extra_trailing_column_is_refused_unchanged(tmp_path) -> None:
    """faithcam's results table has exactly its seven columns; an eighth one (added by another
    tool or version) is refused by name, and the refusal leaves the file byte-identical."""
    path = tmp_path / "s.sqlite"
    _claimed(path)
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("ALTER TABLE results ADD COLUMN note TEXT")
    _refused_unchanged(path, r"table results has columns .*, checksum, note; expected")


@pytest.mark.parametrize(
    ("create", "named"),
    [
        ("CREATE TRIGGER wipe AFTER INSERT ON results BEGIN DELETE FROM results; END",
         "trigger wipe"),
        ("CREATE VIEW summary AS SELECT * FROM results", "view summary"),
        ("CREATE INDEX by_value ON results (value)", "index by_value"),
    ],
)  # fmt: skip
def test_a_store_holding_a_trigger_view_or_index_is_not_a_faithcam_store(
    tmp_path, create: str, named: str
) -> None:
    """Only faithcam's three tables (and SQLite's own automatic indexes) may be in a store: a
    trigger could rewrite rows as faithcam adds them. Each is refused by kind and name, and the
    file is left byte-identical."""
    path = tmp_path / "s.sqlite"
    _claimed(path)
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(create)
    _refused_unchanged(path, rf"is not a faithcam store \(it holds {named}\)")


def test_a_store_whose_index_page_is_corrupt_is_refused_as_damaged_unchanged(tmp_path) -> None:
    """SQLite's quick_check finds a zeroed page of the primary-key index, which the value
    checks (full scans of the table) never read: the store is called damaged by that check
    alone, and left byte-identical."""
    path = tmp_path / "s.sqlite"
    _claimed(path, [(f"img{i}", "gradcam", "deletion", "k", i / 10) for i in range(20)])
    with closing(sqlite3.connect(path)) as db:
        (root,) = db.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_results_1'"
        ).fetchone()
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
    data = bytearray(path.read_bytes())
    data[(root - 1) * page_size : root * page_size] = bytes(page_size)
    path.write_bytes(bytes(data))
    with closing(sqlite3.connect(path)) as db:  # the rows themselves still read
        assert len(db.execute("SELECT * FROM results").fetchall()) == 20
    _refused_unchanged(path, r"(?s)is damaged \(.*; it was not resumed and was left")


def test_a_fifo_is_refused_as_a_store_file_without_blocking(tmp_path) -> None:
    """A named pipe where the store should be is not a SQLite file: refused by what it is,
    before SQLite would block reading it."""
    fifo = tmp_path / "s.sqlite"
    os.mkfifo(fifo)
    with pytest.raises(StoreError, match=r"is not a regular file \(expected a SQLite file\)"):
        open_store_file(fifo, StoreError)


def test_only_images_with_every_expected_row_are_done(tmp_path) -> None:
    """2 methods x 2 metrics = 4 rows an image: img0 has all 4, img1 only 3 (the run was killed
    between its rows), so only img0 is done."""
    store = ResultStore(tmp_path / "s.sqlite")
    rows = [(image, method, metric, "k", 0.5)
            for image in ("img0", "img1") for method in ("gradcam", "hirescam")
            for metric in ("deletion", "insertion")]  # fmt: skip
    store.add(rows[:-1])
    assert store.done_images("k", expected_rows=4) == {"img0"}
    assert store.done_images("k", expected_rows=3) == {"img0", "img1"}


def test_re_explaining_a_partial_image_replaces_its_curves_too(tmp_path) -> None:
    """An image whose rows were incomplete is explained again in full: its old rows and its
    old curves go in the same transaction, so the new curve takes the old one's place."""
    store = ResultStore(tmp_path / "s.sqlite")
    old_curve = ("img0", "gradcam", "deletion", "k", '{"x": [0, 1], "y": [1, 0]}')
    store.add([("img0", "gradcam", "deletion", "k", 0.5)], curves=[old_curve])
    new_curve = ("img0", "gradcam", "deletion", "k", '{"x": [0, 1], "y": [1, 0.5]}')
    rows = [("img0", "gradcam", "deletion", "k", 0.75), ("img0", "gradcam", "insertion", "k", 0.25)]
    store.add(rows, replace_partial=True, curves=[new_curve])
    assert store.rows("k") == sorted(rows)
    assert store.curves("k") == [new_curve]


def test_a_claimed_store_with_rows_of_other_settings_is_refused(tmp_path) -> None:
    """A store this study claimed before, holding one row of settings no study claimed (written
    by another tool, or an older faithcam): resuming it would mix that row in."""
    path = tmp_path / "s.sqlite"
    _claimed(path)
    ResultStore(path).add([("img9", "gradcam", "deletion", "other", 0.25)])
    with pytest.raises(StoreError, match=r"holds 1 rows of unknown settings"):
        ResultStore(path).claim("k", {"methods": ["gradcam"]})


def test_merging_a_rank_file_copies_its_curves(tmp_path) -> None:
    main, rank = ResultStore(tmp_path / "main.sqlite"), ResultStore(tmp_path / "s.rank1")
    curve = ("img1", "gradcam", "deletion", "k", '{"x": [0, 1], "y": [1, 0]}')
    rank.add([("img1", "gradcam", "deletion", "k", 0.5)], curves=[curve])
    main.merge_from(tmp_path / "s.rank1")
    assert main.rows() == [("img1", "gradcam", "deletion", "k", 0.5)]
    assert main.curves() == [curve]


def test_model_code_hash_sees_an_fx_graph_that_weights_and_attributes_do_not() -> None:
    """Two traced models with the same weights, modules and attributes, one ending in ReLU and
    one in a sigmoid: only their graphs differ, and the code hash tells them apart."""

    class Relu(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.lin(x).relu()

    class Sigmoid(Relu):
        def forward(self, x):
            return self.lin(x).sigmoid()

    torch.manual_seed(0)
    first = Relu()
    second = Sigmoid()
    second.load_state_dict(first.state_dict())
    traced = [torch.fx.symbolic_trace(m) for m in (first, second)]
    assert weights_sha256(traced[0]) == weights_sha256(traced[1])
    assert model_code_sha256(traced[0]) != model_code_sha256(traced[1])


def test_item_hash_covers_the_image_shape_not_only_its_bytes() -> None:
    """A (3, 4, 6) image and the same bytes read as (3, 6, 4) are different images."""
    image = torch.rand(3, 4, 6, generator=torch.Generator().manual_seed(0))
    same_bytes = image.reshape(3, 6, 4)
    assert same_bytes.numpy().tobytes() == image.numpy().tobytes()
    assert item_sha256({"image": image}) != item_sha256({"image": same_bytes})


def test_a_fresh_single_process_run_refuses_leftover_rank_files(tmp_path) -> None:
    """The store was deleted but an earlier torchrun run's rank file is still there: a fresh
    one-process run (resume=False) would leave it for a later resume to read, so it is refused
    before any file is made."""
    store = tmp_path / "s.sqlite"
    (tmp_path / "s.sqlite.rank1").write_bytes(b"")
    with pytest.raises(FaithcamValueError, match=r"s\.sqlite\.rank1 are left from an earlier"):
        study_setup.run(str(store), resume=False)
    assert not store.exists()
