"""Tests written for survivors of the fresh mutmut sample of the studies tier (seed 20261206,
docs/mutation.md): the store's refusals name what they found, the data set's first bad item is
named by its index. Expected messages are the words a user needs, written here by hand."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import sys
from contextlib import closing

import pytest
import torch

from faithcam.errors import FaithcamTypeError, FaithcamValueError
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
    assert str(caught.value) == (  # seed 20261219 (`_check_read_only` 58): the whole advice
        f"store: {store} is not a faithcam store (it holds table  sqlite_autoindex_x); it was "
        "left unchanged; name a new file"
    )


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


def test_rank_files_are_found_in_numeric_rank_order(tmp_path) -> None:
    """Seed 20261207: a torchrun study's rank files ``<store>.rank<r>`` are listed by the number
    r (10 after 2), and files whose suffix is not a number are not rank files."""
    from faithcam.studies.study import _rank_files

    store = tmp_path / "s.sqlite"
    for suffix in ("rank10", "rank2", "rankx", "rank0"):
        (tmp_path / f"s.sqlite.{suffix}").write_bytes(b"")
    found = [p.name for p in _rank_files(store)]
    assert found == ["s.sqlite.rank0", "s.sqlite.rank2", "s.sqlite.rank10"]


def test_mixed_image_sizes_name_the_first_and_last_item_of_the_batch() -> None:
    """Seed 20261207: the batch holds items 4, 5 and 6; the message names the range 4..6."""
    from faithcam.studies.items import collate

    items = [{"image": torch.zeros(3, 8, size), "index": 4 + i, "id": str(i)}
             for i, size in enumerate((8, 8, 9))]  # fmt: skip
    with pytest.raises(FaithcamValueError, match=r"\(items 4\.\.6\)"):
        collate(items)


def test_each_rank_file_records_the_study_settings_it_holds(tmp_path) -> None:
    """Seed 20261207: under torchrun each process's file is claimed with the same settings as
    the main store, so that a later resume with other settings can say what differs."""
    from faithcam.studies.study import _open_stores

    described = {"methods": ["gradcam"], "metrics": ["deletion"]}
    main_store, rank_store = _open_stores(tmp_path / "s.sqlite", "key-1", described, 1, 2)
    assert rank_store.path != main_store.path
    for store in (main_store.path, rank_store.path):
        with closing(sqlite3.connect(store)) as db:
            rows = db.execute("SELECT key, settings FROM study").fetchall()
        assert [(key, json.loads(text)) for key, text in rows] == [("key-1", described)]


class _HoldsAFunction(torch.nn.Module):
    """A module with a public attribute that is no hyperparameter (a function: its repr holds a
    memory address, different in every instance)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.activation = lambda x: x.relu()


def test_the_code_hash_of_two_identical_models_is_the_same() -> None:
    """Seed 20261207: only plain attributes (numbers, text, flags, tuples of them) enter the code
    hash, so two models built the same way hash the same, whatever else they hold; a study
    made in one process resumes in another."""
    from faithcam.studies.settings import model_code_sha256

    assert model_code_sha256(_HoldsAFunction()) == model_code_sha256(_HoldsAFunction())


def test_a_store_left_with_a_hot_journal_is_rolled_back_to_its_last_commit(tmp_path) -> None:
    """Seed 20261208: a run killed mid-transaction leaves ``<store>-journal`` (a hot journal)
    next to a store whose pages it had begun to overwrite. Read-only, SQLite refuses it
    ("attempt to write a readonly database"); the check then lets SQLite roll it back, so the
    store holds its one committed row again and the journal is gone, instead of refusing the
    store as read-only. The copy taken mid-transaction is what the killed run left on disk."""
    import shutil

    running, store = tmp_path / "running" / "s.sqlite", tmp_path / "s.sqlite"
    running.parent.mkdir()
    with closing(sqlite3.connect(running, isolation_level=None)) as db:
        db.execute("CREATE TABLE study (key TEXT, settings TEXT)")
        db.execute("INSERT INTO study VALUES ('key-1', '{}')")
        db.execute("PRAGMA cache_size=2")  # spill the transaction's pages into the file
        db.execute("BEGIN")
        for i in range(100):
            db.execute("INSERT INTO study VALUES (?, ?)", (f"k{i}", "x" * 2000))
        journal = running.with_name("s.sqlite-journal")
        assert journal.stat().st_size > 0
        shutil.copy(running, store)
        shutil.copy(journal, store.with_name("s.sqlite-journal"))
        db.execute("ROLLBACK")
    check_store(store, StoreError)
    with closing(sqlite3.connect(store)) as db:
        assert db.execute("SELECT key, settings FROM study").fetchall() == [("key-1", "{}")]
    assert not store.with_name("s.sqlite-journal").exists()


def test_a_hot_journal_whose_rollback_still_leaves_the_store_read_only_is_refused_as_read_only(
    tmp_path, monkeypatch
) -> None:
    """Seed 20261222: when the read-only check still fails after SQLite rolled a hot journal
    back (a folder that cannot be written keeps the journal: here the read-only open is made
    to fail both times), the store is refused with SQLite's reason, named read-only, rather
    than with an error from inside the check."""
    from faithcam.studies import store_checks

    store = tmp_path / "s.sqlite"
    with closing(sqlite3.connect(store)) as db:
        db.execute("CREATE TABLE study (key TEXT)")
    store.with_name("s.sqlite-journal").write_bytes(b"not a journal header")
    opened = []

    def read_only_open_fails(path, error) -> None:
        opened.append(path)
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(store_checks, "_check_read_only", read_only_open_fails)
    with pytest.raises(StoreError) as caught:
        check_store(store, StoreError)
    assert opened == [store, store]
    assert str(caught.value) == (
        f"store: {store} is read-only (its permissions, its folder's or its file system's) and "
        "this study must write to it; make it writable, or use another store "
        "(SQLite: attempt to write a readonly database)"
    )


def test_item_ids_become_text_under_the_key_id() -> None:
    """Seed 20261208: without ``dataset.ids`` each item's own id keys its rows; an int id 7 is
    read as the text "7" under ``"id"``, and no other key is added."""
    from faithcam.studies.items import StudyItems

    item = StudyItems([{"image": torch.zeros(3, 4, 4), "id": 7}], None)[0]
    assert item["id"] == "7"
    assert sorted(item) == ["id", "image", "index", "target"]


def test_an_item_without_a_target_asks_for_the_predicted_class() -> None:
    """Seed 20261208: a dict item with no ``"target"`` gets target -1, which the study reads as
    "explain the predicted class" (collate's convention), rather than failing."""
    from faithcam.studies.items import StudyItems, collate

    items = StudyItems([{"image": torch.zeros(3, 4, 4)}, {"image": torch.ones(3, 4, 4),
                                                           "target": 2}], ["a", "b"])  # fmt: skip
    assert [items[0]["target"], items[1]["target"]] == [-1, 2]
    assert collate([items[0], items[1]])["target"].tolist() == [-1, 2]


def test_a_curve_that_is_not_text_names_its_image_method_and_metric(tmp_path) -> None:
    """A deletion curve stored as a blob (a damaged or edited store) is refused, naming the row:
    image 'im0', gradcam deletion (seed 20261208, store_checks._check_values 26)."""
    from faithcam.studies.store import ResultStore

    store = tmp_path / "s.sqlite"
    ResultStore(store)  # an empty store with faithcam's tables
    with closing(sqlite3.connect(store)) as db, db:
        db.execute("INSERT INTO curves VALUES ('im0', 'gradcam', 'deletion', 'k', ?)",
                   (b"\x00\x01",))  # fmt: skip
    with pytest.raises(StoreError) as caught:
        check_store(store, StoreError)
    assert str(caught.value) == (
        f"store: {store}: the curve of image 'im0', gradcam deletion is not text (a damaged or "
        "edited store); it was left unchanged; restore it from a backup"
    )


def test_a_value_edited_outside_faithcam_is_refused_with_the_whole_advice(tmp_path) -> None:
    """Seed 20261209: a claimed store whose value of image 'img1' was changed by hand no longer
    matches its checksum; the refusal names the count, the first row and its value, and ends
    with what to do, in these words."""
    from faithcam.studies.store import ResultStore

    store = tmp_path / "s.sqlite"
    results = ResultStore(store)
    results.claim("k", {"methods": ["gradcam"]})
    results.add([("img0", "gradcam", "infidelity", "k", 0.25),
                 ("img1", "gradcam", "infidelity", "k", 0.75)],
                inputs={"img0": "sha", "img1": "sha"})  # fmt: skip
    with closing(sqlite3.connect(store)) as db, db:
        db.execute("UPDATE results SET value = 0.5 WHERE image_id = 'img1'")
    with pytest.raises(StoreError) as caught:
        check_store(store, StoreError)
    assert str(caught.value) == (
        f"store: {store}: 1 rows do not match their checksum, the first of image 'img1', "
        "gradcam infidelity (value 0.5): values changed or set to NULL outside faithcam (a "
        "damaged or edited store); it was left unchanged; restore it from a backup or use a "
        "new store"
    )


# --- seed 20261210 ---------------------------------------------------------------------------


def test_a_fresh_run_beside_leftover_rank_files_is_refused_naming_them(tmp_path) -> None:
    """Seed 20261210: a torchrun run of ``s.sqlite`` left ``s.sqlite.rank1`` behind; a fresh run
    (``resume=False``) of that store must refuse, naming the file and the three ways out, since a
    later resume would read that file's rows in."""
    from faithcam.studies.study import _check_fresh

    store = tmp_path / "s.sqlite"
    (tmp_path / "s.sqlite.rank1").write_bytes(b"")
    with pytest.raises(FaithcamValueError) as caught:
        _check_fresh(store, resume=False, world=1)
    message = str(caught.value)
    assert message.startswith("store: s.sqlite.rank1 are left from an earlier torchrun run of ")
    assert message.endswith("delete them, pass resume=True, or choose a new file")
    _check_fresh(store, resume=True, world=1)  # a resume reads them, as it should


def test_a_fresh_run_names_the_first_three_leftover_rank_files_comma_separated(tmp_path) -> None:
    """Seed 20261217 (`_check_fresh` 10): four rank files left over; the refusal names the first
    three in rank order, separated by ", " (the torchrun test that also reads it is outside
    mutmut's selection)."""
    from faithcam.studies.study import _check_fresh

    store = tmp_path / "s.sqlite"
    for rank in (10, 2, 1, 3):
        (tmp_path / f"s.sqlite.rank{rank}").write_bytes(b"")
    with pytest.raises(FaithcamValueError) as caught:
        _check_fresh(store, resume=False, world=1)
    assert str(caught.value).startswith(
        "store: s.sqlite.rank1, s.sqlite.rank2, s.sqlite.rank3 are left from an earlier torchrun "
        f"run of {store} (its rank files)"
    )


class _ParentDeathSignal(torch.utils.data.Dataset):
    """Each item carries, as its one pixel, the parent-death signal of the process that loaded
    it (``prctl(PR_GET_PDEATHSIG)``; 0: none armed)."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> dict:
        import ctypes

        armed = ctypes.c_int()
        ctypes.CDLL(None).prctl(2, ctypes.byref(armed))  # PR_GET_PDEATHSIG
        return {"image": torch.full((1, 1, 1), float(armed.value)), "id": str(i), "target": 0}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_the_study_loaders_workers_die_with_the_study(tmp_path) -> None:
    """Seed 20261210: with ``num_workers`` > 0, the study's DataLoader workers arm SIGKILL as
    their parent-death signal, so a killed study leaves no orphan workers behind; the items
    loaded in a worker say so."""
    from faithcam.studies.study import _loader

    loader, count = _loader(_ParentDeathSignal(), [0, 1], 2, 1, 0, 1)
    (batch,) = list(loader)
    assert count == 2
    assert batch["image"].flatten().tolist() == [float(signal.SIGKILL)] * 2


def test_the_code_hash_follows_its_record_format() -> None:
    """Seed 20261210: the code hash is the SHA-256 of one record per sub-module, its fields
    (name, class, class source outside torch, public plain attributes as sorted JSON, fx graph)
    joined by NUL and each record ended by \\x01. Stores are keyed by it, so a change of format
    would stop every existing store from resuming; the digest here is built from that format by
    hand for ``Sequential(ReLU())``."""
    from faithcam.studies.settings import model_code_sha256

    records = [
        "\x00".join(["", "torch.nn.modules.container.Sequential", "", "{}", ""]),
        "\x00".join(["0", "torch.nn.modules.activation.ReLU", "", '{"inplace": false}', ""]),
    ]
    expected = hashlib.sha256(b"".join(r.encode() + b"\x01" for r in records)).hexdigest()
    assert model_code_sha256(torch.nn.Sequential(torch.nn.ReLU())) == expected


def test_collate_reads_an_item_without_a_target_as_the_predicted_class() -> None:
    """Seed 20261211: ``collate`` (the study's DataLoader ``collate_fn``) follows its own
    convention for items that reach it without a ``"target"``: -1, the predicted class."""
    from faithcam.studies.items import collate

    batch = collate([{"image": torch.zeros(3, 2, 2), "id": "a"},
                     {"image": torch.ones(3, 2, 2), "id": "b", "target": 4}])  # fmt: skip
    assert batch["target"].tolist() == [-1, 4]


# --- a training sample (seed 7, studies; not a judge: docs/mutation.md) ----------------------


def test_an_explain_option_that_cannot_key_the_study_is_named_by_its_path() -> None:
    """A function in ``explain_kwargs`` has no stable text form, so it cannot be part of the
    settings key: the error names it by where it sits, ``explain_kwargs['baseline']``."""
    from faithcam.studies.settings import study_settings

    with pytest.raises(FaithcamTypeError) as caught:
        study_settings(["gradcam"], ["deletion"], {}, {"baseline": print}, torch.nn.ReLU(), {})
    assert str(caught.value).startswith(
        "explain_kwargs['baseline']: a builtin_function_or_method cannot be part of the study's "
        "settings key"
    )


# --- seed 20261212 ---------------------------------------------------------------------------


def test_a_studys_normalization_reaches_its_explanations_and_its_key(tmp_path) -> None:
    """Seed 20261212: ``run_study(normalization=(mean, std))`` passes the normalization on to
    explain (black is then pixel black), so it is part of the stored settings' explain_kwargs."""
    from faithcam.studies import run_study
    from tests.helpers import GapLinearNet

    torch.manual_seed(0)
    items = [{"image": torch.rand(3, 8, 8), "id": "a", "target": 1}]
    store = tmp_path / "s.sqlite"
    run_study(
        GapLinearNet().eval(), items, ["integrated-gradcam"], ["deletion"], store,
        normalization=((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)), progress=False,
        explain_kwargs={"steps": 2}, metric_kwargs={"deletion": {"curve_steps": 2}},
    )  # fmt: skip
    with closing(sqlite3.connect(store)) as db:
        ((text,),) = db.execute("SELECT settings FROM study").fetchall()
    assert json.loads(text)["explain_kwargs"] == {
        "steps": 2,
        "normalization": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
    }


# --- a training sample (seed 9, studies; not a judge: docs/mutation.md) ----------------------


def _positional_study(store, images: list[torch.Tensor]) -> None:
    """A study of ``(image, label)`` pairs: no ids, so rows are keyed by position (warned)."""
    import warnings

    from faithcam.studies import run_study
    from tests.helpers import GapLinearNet

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_study(
            GapLinearNet().eval(), [(image, 1) for image in images], ["gradcam"],
            ["pointing_game"], store, progress=False, resume=True,
        )  # fmt: skip


def test_a_reordered_data_set_without_ids_is_refused_with_the_position_hint(tmp_path) -> None:
    """Seed 9 (`_refuse_changed` 5): without ids a data set is keyed by position, so a resume
    over the same images in another order finds changed images; the refusal says why."""
    images = list(torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0)))
    _positional_study(tmp_path / "s.sqlite", images)
    with pytest.raises(StoreError) as caught:
        _positional_study(tmp_path / "s.sqlite", images[::-1])
    assert (
        ": 2 images changed since their rows were stored (0, 2) (a data set without ids is "
        "keyed by position: reordered?); their rows would not be this data's"
    ) in str(caught.value)


def test_a_shorter_data_set_without_ids_is_refused_with_the_position_hint(tmp_path) -> None:
    """Without ids, the rows of a data set that lost its last image belong to a position that
    is gone; the refusal names it and says why."""
    images = list(torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0)))
    _positional_study(tmp_path / "s.sqlite", images)
    with pytest.raises(StoreError) as caught:
        _positional_study(tmp_path / "s.sqlite", images[:2])
    assert (
        "holds rows of 1 images that are not in the data set (2) (a data set without ids is "
        "keyed by position: now shorter?): removed, renamed or moved since"
    ) in str(caught.value)


def test_a_single_process_study_leaves_no_rank_file(tmp_path) -> None:
    """Seed 9 (`_stored` 2): only a torchrun study reads (and so creates) rank files; a plain
    run and its resume leave the store alone in its folder."""
    images = list(torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)))
    _positional_study(tmp_path / "s.sqlite", images)
    _positional_study(tmp_path / "s.sqlite", images)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.sqlite"]


def test_a_damaged_store_names_sqlites_first_findings_semicolon_separated(tmp_path) -> None:
    """Seed 9 (`_check_read_only` 23): a store whose b-tree pages were overwritten; SQLite's
    ``quick_check`` reports several findings, and the refusal quotes the first three, "; "
    between them (read here from SQLite itself)."""
    store = tmp_path / "s.sqlite"
    with closing(sqlite3.connect(store)) as db, db:
        db.execute("CREATE TABLE results (image_id TEXT, value REAL)")
        db.executemany(
            "INSERT INTO results VALUES (?, ?)", [(f"{i:05d}" * 20, i) for i in range(2000)]
        )
    data = bytearray(store.read_bytes())
    for page in (5, 9):
        data[page * 4096 + 200 : page * 4096 + 500] = b"\xff" * 300
    store.write_bytes(bytes(data))
    with closing(sqlite3.connect(store)) as db:
        findings = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
    assert len(findings) >= 2, findings  # the damage this test needs
    with pytest.raises(StoreError) as caught:
        check_store(store, StoreError)
    assert f"is damaged ({'; '.join(findings[:3])}); it was not resumed" in str(caught.value)


def test_the_item_hash_follows_its_record_format() -> None:
    """Seed 9 (`item_sha256` 3): an item's hash is the SHA-256 of ``image|``, the image's dtype
    and shape, its bytes, then its target and boxes as sorted JSON. Stored rows are checked
    against it on resume, so the format is fixed; the digest here is built by hand."""
    from faithcam.studies.settings import item_sha256

    image = torch.tensor([[[1.0, 2.0]]])
    record = (
        b"image|torch.float32|(1, 1, 2)|"
        + bytes.fromhex("0000803f") + bytes.fromhex("00000040")  # 1.0 and 2.0, little-endian
        + b'{"boxes": null, "target": 3}'
    )  # fmt: skip
    assert item_sha256({"image": image, "target": 3}) == hashlib.sha256(record).hexdigest()


def test_the_reference_images_content_is_part_of_the_stored_settings(tmp_path) -> None:
    """Seed 9 (`_reference_set` 21): a study of Expected Grad-CAM draws its baselines from the
    data set's own images; their content (shape, dtype, SHA-256 of the bytes) is stored under
    ``data.reference_content``, so a resume over other reference images is refused."""
    from faithcam.studies import run_study
    from tests.studies import study_setup

    dataset = study_setup.ToyShapes(n=6)
    store = tmp_path / "s.sqlite"
    run_study(
        study_setup.toy_model(), dataset, ["expected-gradcam"], ["pointing_game"], store,
        progress=False, explain_kwargs={"samples": 2},
    )  # fmt: skip
    with closing(sqlite3.connect(store)) as db:
        ((text,),) = db.execute("SELECT settings FROM study").fetchall()
    settings = json.loads(text)
    picks = settings["explain_kwargs"]["reference_images"]
    references = torch.stack([dataset.images[i] for i in picks])
    assert settings["data.reference_content"] == {
        "tensor": [len(picks), 3, 16, 16],
        "dtype": "torch.float32",
        "sha256": hashlib.sha256(references.numpy().tobytes()).hexdigest(),
    }


# --- seed 20261218 ---------------------------------------------------------------------------


def test_a_resume_with_other_metric_options_is_refused_naming_the_option(tmp_path) -> None:
    """Seed 20261218 (`run_study` 43): the metrics' options are part of the settings key (every
    row depends on them), so resuming with another deletion ``curve_steps`` is refused."""
    from faithcam.studies import run_study
    from tests.studies import study_setup

    def run(steps: int) -> None:
        run_study(
            study_setup.toy_model(), study_setup.ToyShapes(n=2), ["gradcam"], ["deletion"],
            tmp_path / "s.sqlite", progress=False,
            metric_kwargs={"deletion": {"curve_steps": steps}},
        )  # fmt: skip

    run(4)
    with pytest.raises(StoreError) as caught:
        run(2)
    assert "(metric_kwargs.deletion.curve_steps: 4 in the store, 2 now)" in str(caught.value)


def test_a_changed_image_of_items_with_their_own_ids_is_refused_without_the_position_hint(
    tmp_path,
) -> None:
    """Seed 20261219 (`_Fresh.__call__` 23): items that carry their own ids are keyed by them,
    so a changed image is refused naming it, without the hint for data keyed by position."""
    from faithcam.studies import run_study
    from tests.helpers import GapLinearNet

    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))

    def run(second: torch.Tensor) -> None:
        items = [
            {"image": images[0], "id": "a", "target": 1},
            {"image": second, "id": "b", "target": 1},
        ]
        torch.manual_seed(0)
        run_study(GapLinearNet().eval(), items, ["gradcam"], ["pointing_game"],
                  tmp_path / "s.sqlite", progress=False)  # fmt: skip

    run(images[1])
    with pytest.raises(StoreError) as caught:
        run(images[1] + 0.5)
    assert str(caught.value) == (
        f"store: {tmp_path / 's.sqlite'}: 1 images changed since their rows were stored (b); "
        "their rows would not be this data's: resume with the same images, or use a new store"
    )


# --- judge seed 20261220 (docs/mutation.md) --------------------------------------------------


def test_a_studys_predicted_class_comes_from_the_eval_mode_model_left_in_train_mode() -> None:
    """Seed 20261220 (`_batch_targets` 3): items without a target are explained for the class
    the model predicts in eval mode (BatchNorm on its running statistics, computed here on a
    copy); a train-mode model stays in train mode with its running statistics untouched."""
    import copy

    from torch import nn

    from faithcam.studies.study import _batch_targets

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(4, 5)).train()  # fmt: skip
    images = torch.rand(4, 3, 8, 8) * 5 + 2  # far from the running statistics (0, 1)
    expected = copy.deepcopy(model).eval()(images).argmax(-1)
    before = model[1].running_mean.clone(), model[1].running_var.clone()
    found = _batch_targets(model, images, torch.tensor([-1, 3, -1, -1]))
    assert found.tolist() == [int(expected[0]), 3, int(expected[2]), int(expected[3])]
    assert model.training and model[1].training
    assert torch.equal(model[1].running_mean, before[0])
    assert torch.equal(model[1].running_var, before[1])
