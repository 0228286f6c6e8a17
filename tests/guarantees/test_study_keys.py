"""What keys a study's rows, unit by unit: the model's code and every buffer, the code version,
each row's image SHA-256 and checksum, SQLite's failures named by cause, and a fresh torchrun
run that finds leftover rank files."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
import torch

from faithcam.studies.settings import (
    code_version,
    item_sha256,
    model_code_sha256,
    weights_sha256,
)
from faithcam.studies.store import ResultStore, StoreError
from faithcam.studies.store_checks import row_checksum, sqlite_failure
from tests.conftest import GapLinearNet
from tests.studies import study_setup

ROOT = Path(__file__).resolve().parents[2]


def _model() -> GapLinearNet:
    torch.manual_seed(0)
    return GapLinearNet().eval()


def test_model_code_hash_sees_hyperparameters_that_weights_do_not() -> None:
    reference = model_code_sha256(_model())
    strided = _model()
    strided.features[2].stride = (1, 1)  # same weights, another function
    assert weights_sha256(strided) == weights_sha256(_model())
    assert model_code_sha256(strided) != reference
    # ... but not the mode, a hook or the weights' values
    moved = _model().train()
    moved.register_forward_hook(lambda *args: None)
    with torch.no_grad():
        moved.fc.bias.add_(1.0)
    assert model_code_sha256(moved) == reference


def test_weights_hash_covers_non_persistent_buffers_by_name() -> None:
    with_buffer = _model()
    with_buffer.register_buffer("shift", torch.zeros(2), persistent=False)
    reference = weights_sha256(with_buffer)
    assert "shift" not in with_buffer.state_dict() and reference != weights_sha256(_model())
    with_buffer.shift[1] = 1.0
    assert weights_sha256(with_buffer) != reference


def test_code_version_is_faithcams_version_and_sources_and_torchs_version() -> None:
    import faithcam

    package = Path(faithcam.__file__).parent
    digest = hashlib.sha256()
    for file in sorted(package.rglob("*.py")):
        digest.update(f"{file.relative_to(package).as_posix()}|".encode() + file.read_bytes())
    assert code_version() == {
        "faithcam": faithcam.__version__,
        "faithcam_sha256": digest.hexdigest(),
        "torch": torch.__version__,
    }


def test_item_hash_covers_image_bytes_target_and_boxes() -> None:
    image = torch.rand(3, 4, 4)
    item = {"image": image, "target": 2, "boxes": [(0, 0, 2, 2)], "id": "a"}
    reference = item_sha256(item)
    assert item_sha256({**item, "id": "b"}) == reference, "the id keys the row, not its input"
    changed = image.clone()
    changed[0, 0, 0] = torch.nextafter(changed[0, 0, 0], torch.tensor(2.0))  # one ulp
    assert item_sha256({**item, "image": changed}) != reference
    assert item_sha256({**item, "target": 3}) != reference
    assert item_sha256({**item, "boxes": [(0, 0, 2, 3)]}) != reference
    assert item_sha256({**item, "image": image.double()}) != reference


def test_row_checksum_is_the_sha256_of_the_fields_with_the_exact_value() -> None:
    fields = ("img0", "gradcam", "deletion", "k", 0.1, "ab")
    text = "\x00".join(("img0", "gradcam", "deletion", "k", (0.1).hex(), "ab"))
    assert row_checksum(*fields) == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert row_checksum("img0", "gradcam", "deletion", "k", 0.1 + 2**-56, "ab") != row_checksum(
        *fields
    )
    nan = row_checksum("img0", "gradcam", "deletion", "k", float("nan"), "ab")
    assert nan == row_checksum("img0", "gradcam", "deletion", "k", None, "ab")


def _claimed(path: Path, values: list[float]) -> ResultStore:
    store = ResultStore(path)
    store.claim("k", {"methods": ["gradcam"]})
    rows = [(f"img{i}", "gradcam", "infidelity", "k", v) for i, v in enumerate(values)]
    store.add(rows, inputs={f"img{i}": "sha" for i in range(len(values))})
    return store


def test_a_nan_value_stored_as_null_resumes_and_an_edited_null_is_refused(tmp_path) -> None:
    path = tmp_path / "s.sqlite"
    _claimed(path, [0.25, float("nan"), 0.5])
    assert [row[4] for row in ResultStore(path).rows()] == [0.25, None, 0.5]  # reopened: fine
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE results SET value = NULL WHERE image_id = 'img2'")
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"1 rows do not match their checksum.*'img2'"):
        ResultStore(path)
    assert path.read_bytes() == before


def test_a_row_moved_to_another_image_is_refused(tmp_path) -> None:
    path = tmp_path / "s.sqlite"
    _claimed(path, [0.25, 0.75])
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("DELETE FROM results WHERE image_id = 'img0'")
        db.execute("UPDATE results SET image_id = 'img0'")
    with pytest.raises(StoreError, match="checksum"):
        ResultStore(path)


@pytest.mark.parametrize(
    ("message", "named"),
    [
        ("database is locked", "is locked by another process"),
        ("attempt to write a readonly database", "is read-only"),
        ("unable to open database file", "cannot be opened"),
        ("database or disk is full", "cannot be written: the disk is full"),
        ("file is not a database", "is damaged (file is not a database)"),
    ],
)
def test_sqlite_failures_are_named_by_their_cause(message: str, named: str) -> None:
    error = sqlite_failure(Path("s.sqlite"), sqlite3.OperationalError(message), StoreError)
    assert str(error).startswith(f"store: s.sqlite {named}")
    assert ("backup" in str(error)) == ("damaged" in named), "only damage sends to a backup"


def test_a_finished_store_on_a_read_only_file_system_still_gives_its_summary(tmp_path) -> None:
    store = tmp_path / "s.sqlite"
    first = study_setup.run(str(store))
    real = sqlite3.connect

    def read_only(database, *args, **kwargs):
        if str(database) == str(store):
            database, kwargs["uri"] = f"file:{store}?mode=ro", True
        return real(database, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sqlite3, "connect", read_only)
        assert study_setup.run(str(store)) == first  # nothing to write: resumed, not refused


def test_images_whose_rows_disagree_on_their_input_count_as_changed(tmp_path) -> None:
    store = tmp_path / "s.sqlite"
    study_setup.run(str(store))
    with closing(sqlite3.connect(store)) as db, db:
        # another input hash on one row, with a matching checksum (as another faithcam wrote it)
        rowid, image, method, metric, key, value = db.execute(
            "SELECT rowid, image_id, method, metric, settings, value FROM results "
            "WHERE image_id = 'img004' LIMIT 1"
        ).fetchone()
        checksum = row_checksum(image, method, metric, key, value, "0" * 64)
        db.execute(
            "UPDATE results SET input_sha256 = ?, checksum = ? WHERE rowid = ?",
            ("0" * 64, checksum, rowid),
        )
    with pytest.raises(StoreError, match=r"1 images changed since their rows were stored \(img004"):
        study_setup.run(str(store))


def test_torchrun_fresh_run_refuses_leftover_rank_files(tmp_path) -> None:
    pytest.importorskip("torch.distributed.run")
    store = tmp_path / "s.sqlite"
    study_setup.run(str(tmp_path / "old.sqlite"))
    for rank in (0, 1):  # an earlier two-rank run's files; its merged store was deleted
        (tmp_path / f"s.sqlite.rank{rank}").write_bytes((tmp_path / "old.sqlite").read_bytes())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
               "--standalone", "-m", "tests.studies.study_setup", str(store),
               "--fresh"]  # fmt: skip
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and not store.exists(), "no rank created the store"
    assert "s.sqlite.rank0, s.sqlite.rank1 are left from an earlier torchrun run" in out.stderr
    assert "SUMMARY" not in out.stdout
