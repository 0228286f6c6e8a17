"""Studies never mix runs: the key covers weights and data, stores are checked, workers die."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from faithcam.errors import FaithcamTypeError
from faithcam.studies.store import StoreError
from faithcam.studies.study import ResultStore, run_study
from tests.guarantees import study_child
from tests.studies import study_setup

ROOT = Path(__file__).resolve().parents[2]
ROWS_PER_IMAGE = len(study_setup.METHODS) * len(study_setup.METRICS)


def _run(store: Path, model=None, dataset=None, **kwargs):
    return run_study(
        model or study_setup.toy_model(),
        dataset or study_setup.ToyShapes(n=8),
        kwargs.pop("methods", study_setup.METHODS),
        kwargs.pop("metrics", study_setup.METRICS),
        store,
        batch_size=kwargs.pop("batch_size", 4),
        metric_kwargs=kwargs.pop("metric_kwargs", study_setup.METRIC_KWARGS),
        progress=False,
        **kwargs,
    )


def _count(store: Path) -> int:
    with sqlite3.connect(store) as db:
        return db.execute("SELECT COUNT(*) FROM results").fetchone()[0]


def test_resume_with_other_weights_or_data_is_refused_naming_the_difference(tmp_path) -> None:
    store = tmp_path / "s.sqlite"
    _run(store, fingerprint={"target": 3})
    other = study_setup.toy_model()
    with torch.no_grad():
        other.fc.bias[0] += 1e-3  # other weights, same architecture
    with pytest.raises(StoreError, match=r"other settings \(weights_sha256: "):
        _run(store, model=other, fingerprint={"target": 3})
    with pytest.raises(StoreError, match=r"data\.target: 3 in the store, 4 now"):
        _run(store, fingerprint={"target": 4})
    with pytest.raises(StoreError, match=r"explain_kwargs\.layer"):
        _run(store, fingerprint={"target": 3}, explain_kwargs={"layer": "features.0"})
    assert _count(store) == 8 * ROWS_PER_IMAGE  # nothing was mixed in
    _run(store, fingerprint={"target": 3})  # the same settings resume


def test_duplicate_image_ids_are_refused(tmp_path) -> None:
    dataset = study_setup.ToyShapes(n=8)
    dataset.ids[5] = dataset.ids[2]  # two files, one image id
    with pytest.raises(ValueError, match=r"image id 'img002' appears 2 times"):
        _run(tmp_path / "s.sqlite", dataset=dataset)


def test_truncated_store_is_refused_and_never_gains_rows(tmp_path) -> None:
    store = tmp_path / "s.sqlite"
    _run(store, dataset=study_setup.ToyShapes(n=24))
    data = store.read_bytes()
    store.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match="is damaged"):
        _run(store, dataset=study_setup.ToyShapes(n=24))
    assert store.read_bytes() == data[: len(data) // 2]


@pytest.mark.parametrize("method", ["expected-gradcam", "sscam"])
def test_stochastic_rows_do_not_depend_on_batching(tmp_path, method) -> None:
    """A method that draws random numbers (Expected Grad-CAM's baselines and path positions,
    SS-CAM's mask noise) gives each image the same row whatever the batch it was in."""
    kwargs = {"explain_kwargs": {"samples": 2, "seed": 5}, "methods": [method]}
    _run(tmp_path / "a.sqlite", batch_size=4, **kwargs)
    _run(tmp_path / "b.sqlite", batch_size=3, **kwargs)
    a, b = ResultStore(tmp_path / "a.sqlite").rows(), ResultStore(tmp_path / "b.sqlite").rows()
    assert len(a) == 8 * len(study_setup.METRICS)
    _same_rows(a, b)
    # ... and each image has its own stream: explaining it alone gives its stored row
    _run(tmp_path / "c.sqlite", batch_size=1, **kwargs)
    _same_rows(ResultStore(tmp_path / "c.sqlite").rows(), a)


def _same_rows(found, expected) -> None:
    """The same rows; values equal up to float32 rounding: the maps are bit-identical across
    batchings (per-image streams), but a metric's forward over a batch of another size may
    round differently (seen at the 8th digit of a deletion score); another draw would differ
    by far more."""
    assert [row[:4] for row in found] == [row[:4] for row in expected]
    values = np.array([row[4] for row in found], dtype=float)
    np.testing.assert_allclose(values, [row[4] for row in expected], rtol=1e-6, atol=1e-7)


def test_tensors_in_metric_kwargs_enter_the_key_and_objects_are_refused(tmp_path) -> None:
    substrate = {"deletion": {"curve_steps": 4, "substrate": torch.zeros(3, 1, 1)}}
    rows = _run(tmp_path / "t.sqlite", metric_kwargs=substrate, metrics=["deletion"])
    assert rows[0]["n"] == 8
    with pytest.raises(StoreError, match=r"metric_kwargs\.deletion\.substrate"):
        ones = {"deletion": {"curve_steps": 4, "substrate": torch.ones(3, 1, 1)}}
        _run(tmp_path / "t.sqlite", metric_kwargs=ones, metrics=["deletion"])
    with pytest.raises(FaithcamTypeError, match=r"metric_kwargs\['deletion'\]\['score'\]: a obj"):
        _run(tmp_path / "u.sqlite", metric_kwargs={"deletion": {"score": object()}})


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_with_workers_leaves_no_orphan_and_resumes(tmp_path) -> None:
    store = tmp_path / "killed.sqlite"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.guarantees.study_child", str(store)], cwd=ROOT, env=env
    )
    workers: list[int] = []
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            workers = _children(process.pid)
            try:  # the child may have created the file but not yet its table
                stored = _count(store) if store.exists() else 0
            except sqlite3.OperationalError:
                stored = 0
            if len(workers) >= 2 and stored >= 2 * 4 * ROWS_PER_IMAGE:
                break
            time.sleep(0.1)
        assert len(workers) >= 2, "the workers never started"
        time.sleep(0.5)  # the workers are now inside a one-minute __getitem__
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    deadline = time.time() + 3
    while any(map(_alive, workers)) and time.time() < deadline:
        time.sleep(0.05)
    orphans = [pid for pid in workers if _alive(pid)]
    for pid in orphans:
        os.kill(pid, signal.SIGKILL)
    assert not orphans, f"workers outlived their parent: {orphans}"
    reference = tmp_path / "reference.sqlite"
    study_child.run(str(reference), workers=0, slow=False)
    assert 0 < _count(store) < 24 * ROWS_PER_IMAGE
    study_child.run(str(store), workers=0, slow=False)  # resume
    assert ResultStore(store).rows() == ResultStore(reference).rows()
