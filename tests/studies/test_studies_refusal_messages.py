"""Every refusal of the studies tier says what was wrong in full (mutation testing: messages that
no test read survived as mutants; docs/mutation.md)."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
import torch

from faithcam.errors import FaithcamTypeError, FaithcamValueError
from faithcam.studies import run_study
from faithcam.studies.items import StudyItems, as_item, check_unique, collate
from faithcam.studies.store import ResultStore, StoreError
from faithcam.studies.store_checks import open_store_file
from tests.helpers import GapLinearNet, refusal_message

IMAGE = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
ROW = ("img0", "gradcam", "deletion", "k", 0.5)


class Items(list):
    """A list of study items that also names its ids (as a data set with ``ids`` does)."""

    @property
    def ids(self) -> list[str]:
        return [item["id"] for item in self]


def dataset(n: int = 2, shift: float = 0.0) -> Items:
    return Items({"image": IMAGE + i + shift, "id": f"img{i}", "target": i} for i in range(n))


def study(store, data, **kwargs):
    torch.manual_seed(0)  # the same weights on every call: a resume keeps its settings
    metrics = kwargs.pop("metrics", ["pointing_game"])
    model = GapLinearNet().eval()
    return run_study(model, data, ["gradcam"], metrics, store, progress=False, **kwargs)


def sql(path, statement: str) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(statement)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: check_unique(["a", "b", "a", "b", "a"]),
            FaithcamValueError,
            "dataset: image id 'a' appears 3 times (2 ids repeat); ids key the stored rows and "
            "must be unique (two annotation files for one image?)",
        ),
        (
            lambda: as_item(5, 3),
            FaithcamTypeError,
            "dataset[3]: expected a dict {'image', 'id', 'target', 'boxes'} or an (image, label) "
            "pair, got int",
        ),
        (
            lambda: as_item({"image": [[0.0]]}, 1),
            FaithcamTypeError,
            "dataset[1]: the image is a list, not a (C, H, W) tensor; give the data set a "
            "transform that makes one, e.g. "
            "transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])",
        ),
        (
            lambda: StudyItems(dataset(1), ["other"])[0],
            FaithcamValueError,
            "dataset: item 0 has id 'img0' but dataset.ids[0] is 'other'; they must agree "
            "(the ids key the stored rows)",
        ),
        (
            lambda: collate([as_item({"image": IMAGE}, 0), as_item({"image": IMAGE[:, :4]}, 1)]),
            FaithcamValueError,
            "dataset: images of shapes [(3, 4, 8), (3, 8, 8)] in one batch (items 0..1); "
            "resize or crop them to one size",
        ),
    ],
)
def test_item_refusal_names_the_item_and_the_fix(call, error, message):
    assert refusal_message(call, error) == message


def test_store_refuses_a_second_row_of_an_image(tmp_path):
    store = ResultStore(tmp_path / "s.db")
    store.add([ROW])
    with pytest.raises(StoreError) as caught:
        store.add([ROW])
    assert str(caught.value) == (
        f"store: {tmp_path / 's.db'} already holds a row of one of these images (img0...); "
        "no row was written"
    )


def test_store_claim_names_the_settings_that_differ(tmp_path):
    store = ResultStore(tmp_path / "s.db")
    store.claim("k", {"batch": 1, "seed": 0})
    with pytest.raises(StoreError) as caught:
        store.claim("k2", {"batch": 2, "seed": 0})
    assert str(caught.value) == (
        f"store: {tmp_path / 's.db'} holds a study made with other settings (batch: 1 in the "
        "store, 2 now); resume with the same settings or use a new store"
    )


def test_store_file_refuses_a_symbolic_link(tmp_path):
    (tmp_path / "link.db").symlink_to(tmp_path / "real.db")
    with pytest.raises(StoreError) as caught:
        open_store_file(tmp_path / "link.db", StoreError)
    assert str(caught.value) == (
        f"store: {tmp_path / 'link.db'} is a symbolic link; refusing to write through it "
        "(remove the link or name the real file)"
    )


def test_store_check_names_a_value_that_is_no_number(tmp_path):
    ResultStore(tmp_path / "s.db").add([ROW])
    sql(tmp_path / "s.db", "UPDATE results SET value = 'high'")
    with pytest.raises(StoreError) as caught:
        ResultStore(tmp_path / "s.db")
    assert str(caught.value) == (
        f"store: {tmp_path / 's.db'}: the value of image 'img0', gradcam deletion is 'high', "
        "not a number (a damaged or edited store); it was left unchanged; restore it from a "
        "backup"
    )


def test_store_check_names_the_columns_of_a_foreign_table(tmp_path):
    sql(tmp_path / "w.db", "CREATE TABLE results (image_id, value)")
    with pytest.raises(StoreError) as caught:
        ResultStore(tmp_path / "w.db")
    assert str(caught.value) == (
        f"store: {tmp_path / 'w.db'}: table results has columns image_id, value; expected "
        "image_id, method, metric, settings, value, input_sha256, checksum (a store of another "
        "faithcam version?); it was left unchanged; use a new store"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"metrics": ["no_such_metric"]},
            "metrics: unknown ['no_such_metric']; valid: deletion, insertion, average_drop, ",
        ),
        (
            {"num_workers": -1},
            "num_workers: expected DataLoader worker processes, an int >= 0 (0: load in this "
            "process), got -1",
        ),
        (
            {"explain_kwargs": {"generator": torch.Generator()}},
            "explain_kwargs: a generator cannot be split per image; pass seed= instead",
        ),
    ],
)
def test_run_study_refuses_bad_arguments_in_full(tmp_path, kwargs, message):
    with pytest.raises(FaithcamValueError) as caught:
        study(tmp_path / "a.db", dataset(), **kwargs)
    if message.endswith(", "):  # the list of registered metrics goes on
        assert str(caught.value).startswith(message)
    else:
        assert str(caught.value) == message


def test_fresh_study_refuses_rank_files_left_behind(tmp_path):
    (tmp_path / "b.db.rank0").write_text("")
    with pytest.raises(FaithcamValueError) as caught:
        study(tmp_path / "b.db", dataset(), resume=False)
    assert str(caught.value) == (
        f"store: b.db.rank0 are left from an earlier torchrun run of {tmp_path / 'b.db'} (its "
        "rank files); a fresh run would mix their rows in: delete them, pass resume=True, or "
        "choose a new file"
    )


def test_resume_refuses_removed_and_changed_images(tmp_path):
    store = tmp_path / "c.db"
    study(store, dataset(3))
    with pytest.raises(StoreError) as caught:
        study(store, dataset(2))
    assert str(caught.value) == (
        f"store: {store} holds rows of 1 images that are not in the data set (img2): removed, "
        "renamed or moved since; resume with the same images, or use a new store"
    )
    with pytest.raises(StoreError) as caught:
        study(store, dataset(3, shift=0.5))
    assert str(caught.value) == (
        f"store: {store}: 3 images changed since their rows were stored (img0, img1, img2); "
        "their rows would not be this data's: resume with the same images, or use a new store"
    )
