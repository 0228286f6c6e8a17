"""The study's settings key and its SQLite store, unit by unit: what enters the key, how a
mismatch is named, and how rows are kept, merged and summarized."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch

from faithcam.errors import FaithcamTypeError
from faithcam.studies.settings import (
    code_version,
    file_sha256,
    image_seed,
    jsonable,
    model_code_sha256,
    study_settings,
    weights_sha256,
)
from faithcam.studies.store import ResultStore, StoreError, differences
from faithcam.studies.study import summarize
from tests.helpers import GapLinearNet


def _model(seed: int = 0) -> GapLinearNet:
    torch.manual_seed(seed)
    return GapLinearNet().eval()


# --- settings ------------------------------------------------------------------------------


def test_weights_hash_changes_with_any_parameter_or_buffer_and_only_with_them() -> None:
    model = _model()
    reference = weights_sha256(model)
    assert reference == weights_sha256(_model()), "same weights, same hash"
    for name in model.state_dict():
        changed = _model()
        with torch.no_grad():
            changed.state_dict()[name].view(-1)[-1] += 1
        assert weights_sha256(changed) != reference, name
    with_buffer = _model()
    with_buffer.register_buffer("running", torch.zeros(3))
    assert weights_sha256(with_buffer) != reference


def test_folder_hash_covers_every_file_its_name_and_its_bytes(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"alpha")
    (root / "sub" / "b.bin").write_bytes(b"\x00\x01")
    # name|bytes per file, files in sorted order of their relative paths
    expected = hashlib.sha256(b"a.txt|alpha" + b"sub/b.bin|\x00\x01").hexdigest()
    assert file_sha256(root) == expected
    (root / "sub" / "b.bin").write_bytes(b"\x00\x02")
    assert file_sha256(root) != expected, "a changed byte in a subfolder changes the hash"


def test_single_file_hash_is_its_bytes_with_an_empty_name(tmp_path: Path) -> None:
    file = tmp_path / "weights.pt"
    file.write_bytes(b"some weights")
    assert file_sha256(file) == hashlib.sha256(b"|some weights").hexdigest()
    moved = tmp_path / "elsewhere.pt"
    moved.write_bytes(b"some weights")
    assert file_sha256(moved) == file_sha256(str(file)), "a single file's name is not hashed"


def test_jsonable_keeps_every_dict_key_as_text() -> None:
    assert jsonable({"a": 1, "b": [2, 3.5], 4: None}, "x") == {"a": 1, "b": [2, 3.5], "4": None}


def test_jsonable_tensor_is_its_shape_dtype_and_content_hash() -> None:
    tensor = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    digest = hashlib.sha256(np.arange(6, dtype=np.float32).tobytes()).hexdigest()
    expected = {"tensor": [2, 3], "dtype": "torch.float32", "sha256": digest}
    assert jsonable(tensor, "x") == expected
    array = jsonable(np.arange(6, dtype=np.float32).reshape(2, 3), "x")
    assert array == {**expected, "dtype": "float32"}
    assert jsonable(tensor.t(), "x")["sha256"] != digest, "contents in their logical order"


@pytest.mark.cuda
def test_jsonable_cuda_tensor_matches_its_cpu_copy() -> None:
    if not torch.cuda.is_available():
        pytest.fail("this test is selected by `make test-cuda`, which needs a CUDA device")
    tensor = torch.linspace(0, 1, 7)
    assert jsonable(tensor.cuda(), "x") == jsonable(tensor, "x")


def test_jsonable_devices_dtypes_paths_and_numpy_scalars_are_plain_values() -> None:
    value = [torch.device("cpu"), torch.float64, Path("a/b.txt"), np.float32(0.5), np.int64(3)]
    assert jsonable(value, "x") == ["cpu", "torch.float64", str(Path("a/b.txt")), 0.5, 3]
    assert json.dumps(jsonable(value, "x"))  # plain JSON


def test_study_settings_describe_every_part_and_key_their_sorted_json() -> None:
    model = _model()
    key, described = study_settings(
        ["gradcam", "hirescam"],
        ["deletion"],
        {"deletion": {"steps": 4}},
        {"relu": False},
        model,
        {"targets": "labels.csv"},
    )
    assert described == {
        "methods": ["gradcam", "hirescam"],
        "metrics": ["deletion"],
        "metric_kwargs": {"deletion": {"steps": 4}},
        "explain_kwargs": {"relu": False},
        "weights_sha256": weights_sha256(model),
        "model_code_sha256": model_code_sha256(model),
        "code": code_version(),
        "data.targets": "labels.csv",
    }
    text = json.dumps(described, sort_keys=True)
    assert key == hashlib.sha256(text.encode()).hexdigest()[:16]


def test_study_key_does_not_depend_on_the_order_options_were_written_in() -> None:
    model = _model()
    first = study_settings(["gradcam"], ["deletion"], {"a": 1, "b": 2}, {}, model, {})
    second = study_settings(["gradcam"], ["deletion"], {"b": 2, "a": 1}, {}, model, {})
    assert first[0] == second[0]


def test_options_that_cannot_key_rows_are_named_by_their_path() -> None:
    with pytest.raises(FaithcamTypeError, match=r"^metric_kwargs\['deletion'\]\['fn'\]: a object"):
        study_settings(["gradcam"], ["deletion"], {"deletion": {"fn": object()}}, {}, _model(), {})
    with pytest.raises(FaithcamTypeError, match=r"^fingerprint\['labels'\]: a set cannot be part"):
        study_settings(["gradcam"], ["deletion"], {}, {}, _model(), {"labels": {1, 2}})


def test_image_seed_is_63_bits_of_the_sha256_of_seed_and_id() -> None:
    for seed, image_id in [(0, "img000"), (7, "cat.jpg"), (123456789, "0")]:
        digest = hashlib.sha256(f"{seed}|{image_id}".encode()).digest()
        low_bytes_first = sum(byte << (8 * i) for i, byte in enumerate(digest[:8]))
        assert image_seed(seed, image_id) == low_bytes_first // 2
    seeds = [image_seed(0, f"img{i}") for i in range(200)]
    assert all(0 <= s < 2**63 for s in seeds)
    assert max(seeds) >= 2**62, "the full 63 bits are used"
    assert len(set(seeds)) == 200 and image_seed(1, "img0") != seeds[0]


# --- store ---------------------------------------------------------------------------------


def test_store_creates_missing_parent_folders(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "a" / "b" / "study.sqlite")
    store.add([("img0", "gradcam", "deletion", "k", 0.5)])
    assert store.rows() == [("img0", "gradcam", "deletion", "k", 0.5)]


def test_rows_filter_by_settings_and_come_sorted(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "s.sqlite")
    rows = [
        ("b", "hirescam", "deletion", "k", 0.1),
        ("a", "hirescam", "deletion", "k", 0.2),
        ("a", "gradcam", "insertion", "k", 0.3),
        ("a", "gradcam", "deletion", "k", 0.4),
        ("a", "gradcam", "deletion", "other", 0.5),
    ]
    store.add(rows)
    assert store.rows("k") == sorted(r for r in rows if r[3] == "k")
    assert store.rows() == sorted(rows)


def test_claim_refuses_rows_of_unknown_settings(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    ResultStore(path).add([("img0", "gradcam", "deletion", "old-key", 0.5)])
    with pytest.raises(StoreError, match=r"holds 1 rows of unknown settings \(an older faithcam"):
        ResultStore(path).claim("new-key", {"methods": ["gradcam"]})
    with pytest.raises(StoreError, match=r"older faithcam\?\); use a new store$"):
        ResultStore(path).claim("new-key", {"methods": ["gradcam"]})


def test_merge_copies_every_row_and_keeps_a_shared_row_once(tmp_path: Path) -> None:
    main, other = ResultStore(tmp_path / "main.sqlite"), ResultStore(tmp_path / "rank1.sqlite")
    shared = ("img1", "gradcam", "deletion", "k", 0.25)
    main.add([("img0", "gradcam", "deletion", "k", 0.5), shared])
    other.add([shared, ("img2", "gradcam", "deletion", "k", 0.75)])
    main.merge_from(tmp_path / "rank1.sqlite")
    assert main.rows() == [
        ("img0", "gradcam", "deletion", "k", 0.5),
        shared,
        ("img2", "gradcam", "deletion", "k", 0.75),
    ]


def test_differences_name_only_what_changed() -> None:
    old = {"methods": ["gradcam"], "metric_kwargs": {"deletion": {"steps": 4}}, "seed": 0}
    new = {"methods": ["gradcam"], "metric_kwargs": {"deletion": {"steps": 8}}, "seed": 0}
    assert differences(old, new) == "metric_kwargs.deletion.steps: 4 in the store, 8 now"
    assert differences({"a": [1, 2]}, {"a": [1, 3]}) == "a: [1, 2] in the store, [1, 3] now"


def test_differences_show_missing_keys_as_none() -> None:
    assert differences({}, {"seed": 1}) == "seed: (none) in the store, 1 now"
    assert differences({"seed": 1}, {}) == "seed: 1 in the store, (none) now"


def test_differences_join_the_first_three_and_count_the_rest() -> None:
    two = differences({"a": 1, "b": 2}, {"a": 5, "b": 6})
    assert two == "a: 1 in the store, 5 now; b: 2 in the store, 6 now"
    five = differences({k: 0 for k in "abcde"}, {k: 1 for k in "abcde"})
    shown = "; ".join(f"{k}: 0 in the store, 1 now" for k in "abc")
    assert five == shown + " (+2 more)"


def test_differences_of_whole_values_and_of_equal_settings() -> None:
    assert differences(1, 2) == "settings: 1 in the store, 2 now"
    assert differences({"a": 1}, {"a": 1}) == "settings differ"
    long = "x" * 50
    assert differences({"a": long}, {"a": "y"}) == f"a: {'x' * 37}... in the store, y now"


# --- summary -------------------------------------------------------------------------------


def test_summary_leaves_out_undefined_values(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "s.sqlite")
    values = [0.1, float("nan"), 0.2, 0.4]  # NaN is stored as NULL by SQLite
    store.add([(f"img{i}", "gradcam", "infidelity", "k", v) for i, v in enumerate(values)])
    assert [row[4] for row in store.rows("k")][1] is None
    (row,) = summarize(store, "k", ["gradcam"], ["infidelity"])
    assert row["method"] == "gradcam" and row["metric"] == "infidelity" and row["n"] == 3


def test_summary_mean_is_computed_in_double_precision(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "s.sqlite")
    values = [0.1, 0.2, 0.4, 0.7]
    store.add([(f"img{i}", "gradcam", "infidelity", "k", v) for i, v in enumerate(values)])
    (row,) = summarize(store, "k", ["gradcam"], ["infidelity"])
    assert row["mean"] == pytest.approx(statistics.fmean(values), rel=1e-15, abs=0)
    half = (row["ci_high"] - row["ci_low"]) / 2
    t_975_3 = 3.1824463  # Student's t, 97.5 %, 3 degrees of freedom (faithcam: a 4-digit table)
    assert half == pytest.approx(t_975_3 * statistics.stdev(values) / 2, rel=1e-4)


def test_store_file_keeps_the_settings_it_was_claimed_with(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    ResultStore(path).claim("k", {"methods": ["gradcam"], "seed": 0})
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT key, settings FROM study").fetchall() == [
            ("k", json.dumps({"methods": ["gradcam"], "seed": 0}, sort_keys=True))
        ]
    with pytest.raises(StoreError, match=r"other settings \(seed: 0 in the store, 1 now\)"):
        ResultStore(path).claim("k2", {"methods": ["gradcam"], "seed": 1})


class _AnotherRankClaimsAfterTheRead:
    """A connection whose read of the study table is followed, at once, by another rank
    recording the same study (SQLite lets two ranks read before either writes)."""

    def __init__(self, db: sqlite3.Connection, path: Path, key: str, settings: str) -> None:
        self.db, self.path, self.key, self.settings = db, path, key, settings

    def execute(self, sql: str, *args):
        found = self.db.execute(sql, *args)
        if sql.startswith("SELECT key, settings FROM study"):
            rows = found.fetchall()
            with sqlite3.connect(self.path) as other:
                other.execute("INSERT INTO study VALUES (?, ?)", (self.key, self.settings))
            other.close()
            return _Rows(rows)
        return found

    def __getattr__(self, name: str):
        return getattr(self.db, name)


class _Rows(list):
    def fetchall(self) -> list:
        return list(self)


def test_two_ranks_claiming_one_store_at_the_same_time_both_succeed(tmp_path, monkeypatch) -> None:
    """Both ranks read "no study recorded", then the other rank records it first: the claim
    still succeeds (it is the same study) and the study is recorded once, with its settings.
    (Before: a UNIQUE constraint error in one rank of a resumed two-rank study, at random.)"""
    from contextlib import contextmanager

    path = tmp_path / "s.sqlite"
    settings = {"methods": ["gradcam"], "seed": 0}
    store = ResultStore(path)
    real = ResultStore._database

    @contextmanager
    def interleaved(self):
        with real(self) as db:
            yield _AnotherRankClaimsAfterTheRead(
                db, path, "k", json.dumps(settings, sort_keys=True)
            )

    monkeypatch.setattr(ResultStore, "_database", interleaved)
    store.claim("k", settings)
    monkeypatch.undo()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT key, settings FROM study").fetchall() == [
            ("k", json.dumps(settings, sort_keys=True))
        ]
    db.close()


def test_a_value_deep_in_a_list_that_cannot_key_the_study_is_named_by_its_path() -> None:
    with pytest.raises(FaithcamTypeError) as refused:
        jsonable({"sizes": [1, 2, {"pad": object()}]}, "explain_kwargs")
    assert str(refused.value).startswith(
        "explain_kwargs['sizes'][2]['pad']: a object cannot be part of the study's settings key"
    )


class _Scaled(torch.nn.Module):
    """Sets its two plain attributes in the order it is told (an option read first or last)."""

    def __init__(self, scale_first: bool) -> None:
        super().__init__()
        if scale_first:
            self.scale, self.shift = 2.0, 1.0
        else:
            self.shift, self.scale = 1.0, 2.0


def test_the_code_hash_does_not_depend_on_the_order_attributes_were_set() -> None:
    """Two modules of one class with the same attribute values are the same code, whichever
    attribute their constructor set first; another value is another hash."""
    assert model_code_sha256(_Scaled(True)) == model_code_sha256(_Scaled(False))
    other = _Scaled(True)
    other.scale = 3.0
    assert model_code_sha256(other) != model_code_sha256(_Scaled(True))


def test_a_new_store_file_is_read_write_as_the_umask_allows_and_never_executable(tmp_path) -> None:
    """Seed 20261216: the store is created with mode 0o666 & ~umask (0o644 under umask 022),
    like any data file, not 0o777 & ~umask (executable)."""
    from faithcam.studies.store import StoreError
    from faithcam.studies.store_checks import open_store_file

    previous = os.umask(0o022)
    try:
        open_store_file(tmp_path / "study.sqlite", StoreError)
    finally:
        os.umask(previous)
    assert (tmp_path / "study.sqlite").stat().st_mode & 0o777 == 0o644


def test_the_loader_of_one_rank_counts_its_share_of_the_images() -> None:
    """Seed 20261216: under torchrun each rank's DataLoader gives ceil(n / world) images (the
    DistributedSampler pads), and the count reported is that share, not every to-do image."""
    from faithcam.studies.study import _loader

    data = [torch.zeros(1)] * 10
    loader, count = _loader(data, list(range(7)), 2, 0, rank=1, world=3)
    assert count == 3 == len(list(loader.sampler))  # indices 1, 4 and 0 (padding)
    loader, count = _loader(data, list(range(7)), 2, 0, rank=0, world=1)
    assert count == 7


def test_a_dataset_item_whose_target_cannot_key_the_study_is_named() -> None:
    """Seed 20261217: an item's target of no stable text form is refused naming the item's key."""
    from faithcam.studies.settings import item_sha256

    with pytest.raises(FaithcamTypeError) as refused:
        item_sha256({"image": torch.zeros(1, 2, 2), "target": object(), "boxes": None})
    assert str(refused.value).startswith(
        "dataset item 'target': a object cannot be part of the study's settings key"
    )


def test_the_stored_settings_are_json_with_sorted_keys_whatever_order_they_were_built_in(
    tmp_path: Path,
) -> None:
    """Seed 20261217 (`claim` 51, 52): the study table holds one text per study, whatever order
    the settings dict was built in, so two stores of one study compare (and diff) as text."""
    texts = []
    for name, settings in (
        ("a", {"seed": 0, "methods": ["gradcam"], "explain": {"steps": 2, "baseline": "zeros"}}),
        ("b", {"methods": ["gradcam"], "explain": {"baseline": "zeros", "steps": 2}, "seed": 0}),
    ):
        ResultStore(tmp_path / f"{name}.sqlite").claim("k", settings)
        with sqlite3.connect(tmp_path / f"{name}.sqlite") as db:
            ((text,),) = db.execute("SELECT settings FROM study").fetchall()
        texts.append(text)
    written_by_hand = (
        '{"explain": {"baseline": "zeros", "steps": 2}, "methods": ["gradcam"], "seed": 0}'
    )
    assert texts == [written_by_hand, written_by_hand]


def test_differences_between_a_dict_and_a_plain_value_name_both_whole() -> None:
    """Seed 20261219 (`_diff` 1): only two dicts are compared key by key; a dict against a list
    or a number is one difference, both shown whole."""
    assert differences({"a": 1}, 5) == 'settings: {"a": 1} in the store, 5 now'
    assert differences({"m": [1, 2]}, {"m": {"k": 1}}) == 'm: [1, 2] in the store, {"k": 1} now'
