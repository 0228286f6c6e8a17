"""Resumable, sharded dataset-level evaluation."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faithcam.studies.study import ResultStore
from tests.studies import study_setup

ROOT = Path(__file__).resolve().parents[2]
ROWS_PER_IMAGE = len(study_setup.METHODS) * len(study_setup.METRICS)


def _count(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(store) as db:
            return db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkill_then_resume_gives_exactly_the_uninterrupted_rows(tmp_path) -> None:
    reference_store = tmp_path / "reference.sqlite"
    reference = study_setup.run(str(reference_store))
    killed_store = tmp_path / "killed.sqlite"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.studies.study_setup", str(killed_store), "--slow"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while _count(killed_store) < 2 * 4 * ROWS_PER_IMAGE and time.time() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    partial = _count(killed_store)
    assert 0 < partial < 24 * ROWS_PER_IMAGE, "the kill must land mid-run"
    assert partial % (4 * ROWS_PER_IMAGE) == 0, "a batch is written whole or not at all"
    resumed = study_setup.run(str(killed_store))
    assert ResultStore(killed_store).rows() == ResultStore(reference_store).rows()
    assert _count(killed_store) == 24 * ROWS_PER_IMAGE
    assert resumed == reference


def test_resume_skips_done_images_and_never_duplicates(tmp_path) -> None:
    store = tmp_path / "s.sqlite"
    first = study_setup.run(str(store))
    second = study_setup.run(str(store))
    assert first == second and _count(store) == 24 * ROWS_PER_IMAGE


def test_two_process_torchrun_matches_one_process(tmp_path) -> None:
    pytest.importorskip("torch.distributed.run")
    single = study_setup.run(str(tmp_path / "single.sqlite"))
    sharded_store = tmp_path / "sharded.sqlite"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            "2",
            "--standalone",  # a free rendezvous port on localhost
            "-m",
            "tests.studies.study_setup",
            str(sharded_store),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    summary_line = next(line for line in out.stdout.splitlines() if line.startswith("SUMMARY "))
    sharded = json.loads(summary_line.removeprefix("SUMMARY "))
    assert len(sharded) == len(single)
    for a, b in zip(sharded, single, strict=True):
        assert a["method"] == b["method"] and a["metric"] == b["metric"] and a["n"] == b["n"] == 24
        assert a["mean"] == pytest.approx(b["mean"], rel=1e-6, abs=1e-9)
    assert ResultStore(sharded_store).rows() == ResultStore(tmp_path / "single.sqlite").rows()


def test_unknown_metric_is_rejected(tmp_path) -> None:
    from faithcam.studies.study import run_study

    with pytest.raises(ValueError, match="unknown \\['speed'\\]"):
        run_study(
            study_setup.toy_model(),
            study_setup.ToyShapes(),
            ["gradcam"],
            ["speed"],
            tmp_path / "x.sqlite",
        )


def test_resume_re_explains_only_the_missing_images(tmp_path, monkeypatch) -> None:
    """Counts the images handed to ``explain``: a complete store explains nothing again, and a
    store missing some images (or some rows of one) explains exactly those."""
    import faithcam.api as methods

    explained: list[int] = []
    real_explain = methods.explain

    def counting_explain(model, images, *args, **kwargs):
        explained.append(len(images))
        return real_explain(model, images, *args, **kwargs)

    monkeypatch.setattr(methods, "explain", counting_explain)
    store = tmp_path / "s.sqlite"
    study_setup.run(str(store))
    assert sum(explained) == 24 * len(study_setup.METHODS)
    reference = ResultStore(store).rows()
    explained.clear()
    study_setup.run(str(store))
    assert explained == []
    with sqlite3.connect(store) as db:
        db.execute("DELETE FROM results WHERE image_id IN ('img003', 'img017', 'img020')")
        db.execute(
            "DELETE FROM results WHERE image_id = 'img010' AND method = ? AND metric = ?",
            (study_setup.METHODS[1], study_setup.METRICS[0]),
        )
    study_setup.run(str(store))
    assert sum(explained) == 4 * len(study_setup.METHODS)
    assert ResultStore(store).rows() == reference
