"""Tests for rarely reached paths of faithcam.studies, found by line coverage: a module's extra
state in the weights hash, a class whose source cannot be read in the code hash, an older store
without a curves table, a symbolic link planted between the store's checks, a stored field of
the wrong type, and an explain function whose signature cannot be read. Expected values are
computed by hand or from the definitions in the docstrings."""

from __future__ import annotations

import hashlib
import inspect
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import torch
from torch import nn

from faithcam.studies import store_checks
from faithcam.studies.settings import model_code_sha256, weights_sha256
from faithcam.studies.store import ResultStore, StoreError
from faithcam.studies.study import _takes_seed


class _WithExtraState(nn.Module):
    """A linear layer and a non-tensor extra state, which the state dict carries as is."""

    def __init__(self, note: str) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[1.5, -2.0]]))
            self.linear.bias.fill_(0.25)
        self.note = note

    def get_extra_state(self) -> dict:
        return {"note": self.note}

    def set_extra_state(self, state: dict) -> None:
        self.note = state["note"]


def test_weights_hash_skips_a_non_tensor_entry_of_the_state_dict() -> None:
    model = _WithExtraState("first")
    assert model.state_dict()["_extra_state"] == {"note": "first"}
    # by hand: each tensor's "name|dtype|shape|" then its bytes, in name order
    digest = hashlib.sha256()
    tensors = [("linear.bias", [0.25], (1,)), ("linear.weight", [1.5, -2.0], (1, 2))]
    for name, values, shape in tensors:
        digest.update(f"{name}|torch.float32|{shape}|".encode())
        digest.update(torch.tensor(values, dtype=torch.float32).numpy().tobytes())
    assert weights_sha256(model) == digest.hexdigest()
    assert weights_sha256(_WithExtraState("second")) == digest.hexdigest()


def test_code_hash_of_a_class_made_at_run_time_uses_its_name_only() -> None:
    first = type("RuntimeMadeModule", (nn.Module,), {"forward": lambda self, x: x})
    second = type("RuntimeMadeModule", (nn.Module,), {"forward": lambda self, x: -x})
    # the one module, named "", its class, no source, no plain attributes ("training" is left
    # out), no graph
    parts = ["", f"{first.__module__}.RuntimeMadeModule", "", "{}", ""]
    expected = hashlib.sha256("\x00".join(parts).encode() + b"\x01").hexdigest()
    assert model_code_sha256(first()) == expected
    assert model_code_sha256(second()) == expected  # another forward, the same name


def _results_table_only(path: Path) -> None:
    """An older store: faithcam's results table, with no study and no curves table."""
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE results (image_id TEXT NOT NULL, method TEXT NOT NULL, "
            "metric TEXT NOT NULL, settings TEXT NOT NULL, value REAL, "
            "input_sha256 TEXT NOT NULL, checksum TEXT NOT NULL, "
            "PRIMARY KEY (image_id, method, metric, settings))"
        )
    db.close()


def test_curves_of_a_store_without_a_curves_table_are_empty(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _results_table_only(path)
    store = ResultStore(path)
    assert store.curves() == []
    assert store.curves("some-key") == []
    with sqlite3.connect(path) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master")]
    db.close()
    assert "curves" not in tables


def test_a_link_planted_after_the_link_check_is_refused(tmp_path: Path, monkeypatch) -> None:
    """The race: no link when ``is_symlink`` looks, one when the file is opened; the open with
    O_NOFOLLOW fails with ELOOP and nothing is written through the link."""
    path = tmp_path / "results.sqlite"
    elsewhere = tmp_path / "elsewhere.sqlite"
    real_open = os.open
    opened = []

    def plant_then_open(name, flags, *args, **kwargs):
        if Path(name) == path and not opened:
            os.symlink(elsewhere, path)
        opened.append(name)
        return real_open(name, flags, *args, **kwargs)

    monkeypatch.setattr(store_checks.os, "open", plant_then_open)
    with pytest.raises(StoreError) as caught:
        ResultStore(path)
    assert str(caught.value) == (f"store: {path} is a symbolic link; refusing to write through it")
    assert opened == [path]
    assert path.is_symlink()
    assert not elsewhere.exists()


def test_a_stored_field_of_the_wrong_type_does_not_match_its_checksum(tmp_path: Path) -> None:
    path = tmp_path / "study.sqlite"
    store = ResultStore(path)
    store.claim("k", {"methods": ["gradcam"]})
    store.add([("img0", "gradcam", "deletion", "k", 0.5)], inputs={"img0": "ab" * 32})
    # a BLOB keeps its type in a TEXT column: the checksum of the row cannot be computed
    with sqlite3.connect(path) as db:
        db.execute("UPDATE results SET input_sha256 = X'00'")
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError) as caught:
        ResultStore(path)
    assert str(caught.value) == (
        f"store: {path}: 1 rows do not match their checksum, the first of image 'img0', "
        "gradcam deletion (value 0.5): values changed or set to NULL outside faithcam (a "
        "damaged or edited store); it was left unchanged; restore it from a backup or use a "
        "new store"
    )
    assert path.read_bytes() == before


def test_a_callable_whose_signature_cannot_be_read_takes_no_seed() -> None:
    with pytest.raises(ValueError):  # what makes the case: max has no readable signature
        inspect.signature(max)
    assert _takes_seed(max) is False


def test_a_function_with_a_seed_parameter_takes_a_seed() -> None:
    def explain_fn(model, images, method, targets, seed=0):
        return images

    def unseeded(model, images, method, targets):
        return images

    assert _takes_seed(explain_fn) is True
    assert _takes_seed(unseeded) is False


def test_a_damaged_store_is_reported_with_its_first_three_problems(tmp_path, monkeypatch) -> None:
    """Seed 20261225 (``_check_read_only`` 28): SQLite's integrity check can list many
    problems; the refusal names the first three, joined by "; ". Five problems are made to come
    back by a check query that returns them as rows."""
    store = tmp_path / "s.sqlite"
    with closing(sqlite3.connect(store)) as db:
        db.execute("CREATE TABLE results (x TEXT)")
    problems = " UNION ALL ".join(f"SELECT 'problem {i}'" for i in range(1, 6))
    monkeypatch.setattr(store_checks, "QUICK_CHECK", problems)
    with pytest.raises(StoreError) as caught:
        store_checks.check_store(store, StoreError)
    assert str(caught.value) == (
        f"store: {store} is damaged (problem 1; problem 2; problem 3); it was not resumed and "
        "was left unchanged. Restore it from a backup, or move it away and start a new store"
    )
