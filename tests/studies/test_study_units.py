"""run_study in one process, piece by piece: image ids, DataLoader workers, the process group,
the reference set of Expected Grad-CAM, per-image seeds, targets, progress, and a two-rank run
simulated rank by rank (each rank's file, the merge, resuming under another world size)."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import Dataset

import faithcam.api as cam_methods
from faithcam.cams.baselines import ReferenceSet
from faithcam.errors import FaithcamValueError
from faithcam.studies import study
from faithcam.studies.store import ResultStore, StoreError
from faithcam.studies.study import image_ids, run_study
from tests.helpers import GapLinearNet

ROOT = Path(__file__).resolve().parents[2]
SIZE = 8
PR_SET_PDEATHSIG, PR_GET_PDEATHSIG = 1, 2


class Items(Dataset):
    """``n`` seeded images; image k carries 10 + k in pixel (0, 0, 0), so that a call can tell
    which images it was given. Ids are ``im<k>`` (or the indices, with ``ids=False``)."""

    def __init__(self, n: int = 5, targets: list[int] | None = None, ids: bool = True) -> None:
        generator = torch.Generator().manual_seed(0)
        self.images = torch.rand(n, 3, SIZE, SIZE, generator=generator)
        self.images[:, 0, 0, 0] = 10 + torch.arange(n, dtype=torch.float32)
        self.targets = targets if targets is not None else [k % 5 for k in range(n)]
        if ids:
            self.ids = [f"im{k}" for k in range(n)]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        return {
            "image": self.images[i],
            "id": self.ids[i] if hasattr(self, "ids") else i,
            "target": self.targets[i],
            "boxes": [(0, 0, 4, 4)],
        }


def _which(images: torch.Tensor) -> list[int]:
    return (images[:, 0, 0, 0] - 10).round().long().tolist()


def _model() -> GapLinearNet:
    torch.manual_seed(0)
    return GapLinearNet().eval()


def _seed(seed: int, image_id: str) -> int:
    """The documented per-image seed: 63 bits of SHA-256("seed|id"), low bytes first."""
    digest = hashlib.sha256(f"{seed}|{image_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class Recorder:
    """An explain_fn taking ``seed=``: records each call, returns the channel mean as the map."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, model, images, method, targets, seed=None):
        self.calls.append(
            {
                "model": model,
                "images": _which(images),
                "method": method,
                "targets": targets.tolist(),
                "seed": seed,
            }
        )
        return images.mean(1)


def _study(store, dataset=None, methods=("gradcam",), model=None, **kwargs):
    options = {"batch_size": 2, "progress": False, **kwargs}
    return run_study(
        model or _model(), dataset or Items(), list(methods), ["pointing_game"], store, **options
    )


def _stored_settings(store: Path) -> dict:
    with sqlite3.connect(store) as db:
        (text,) = db.execute("SELECT settings FROM study").fetchone()
    return json.loads(text)


# --- image ids -----------------------------------------------------------------------------


def test_image_ids_default_to_the_indices() -> None:
    assert image_ids(Items(4, ids=False)) == ["0", "1", "2", "3"]
    assert image_ids(Items(3)) == ["im0", "im1", "im2"]


def test_repeated_image_ids_are_refused_naming_the_first() -> None:
    dataset = Items(5)
    dataset.ids = ["a", "b", "a", "c", "c"]
    with pytest.raises(FaithcamValueError, match=r"image id 'a' appears 2 times \(2 ids repeat\)"):
        image_ids(dataset)
    with pytest.raises(
        FaithcamValueError,
        match=r"repeat\); ids key the stored rows and must be unique \(two annotation files for "
        r"one image\?\)$",
    ):
        image_ids(dataset)


def test_a_study_of_a_data_set_without_ids_keys_rows_by_index(tmp_path: Path) -> None:
    _study(tmp_path / "s.sqlite", Items(3, ids=False), explain_fn=Recorder())
    assert sorted({row[0] for row in ResultStore(tmp_path / "s.sqlite").rows()}) == ["0", "1", "2"]


# --- DataLoader workers --------------------------------------------------------------------


def _prctl(*args) -> int:
    return ctypes.CDLL(None, use_errno=True).prctl(*args)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_worker_init_arms_the_parent_death_signal_without_a_watchdog(monkeypatch) -> None:
    before = ctypes.c_int()
    _prctl(PR_GET_PDEATHSIG, ctypes.byref(before))
    threads = threading.active_count()
    try:
        study._die_with_parent(os.getppid(), 0)
        armed = ctypes.c_int()
        _prctl(PR_GET_PDEATHSIG, ctypes.byref(armed))
        assert armed.value == signal.SIGKILL
        assert threading.active_count() == threads, "no polling thread where prctl works"

        def fake_exit(code):
            raise SystemExit(code)

        monkeypatch.setattr(os, "_exit", fake_exit)
        with pytest.raises(SystemExit) as ended:  # the parent died before the signal was armed
            study._die_with_parent(os.getppid() + 1_000_000, 0)
        assert ended.value.code == 1
    finally:
        _prctl(PR_SET_PDEATHSIG, before.value)


def test_worker_init_elsewhere_polls_until_the_parent_is_gone(monkeypatch) -> None:
    started = []

    class FakeThread:
        def __init__(self, target, daemon):
            self.target, self.daemon = target, daemon

        def start(self):
            started.append(self)

    parent = os.getppid()
    with monkeypatch.context() as patch:
        patch.setattr(sys, "platform", "darwin")
        patch.setattr(threading, "Thread", FakeThread)
        study._die_with_parent(parent, 0)
    (watchdog,) = started
    assert watchdog.daemon
    answers = iter([parent, parent, parent, 1])  # the parent lives for three polls
    sleeps = []

    def fake_exit(code):
        raise SystemExit(code)

    with monkeypatch.context() as patch:
        patch.setattr(os, "getppid", lambda: next(answers))
        patch.setattr(time, "sleep", sleeps.append)
        patch.setattr(os, "_exit", fake_exit)
        with pytest.raises(SystemExit) as ended:
            watchdog.target()
    assert ended.value.code == 1 and sleeps == [0.5, 0.5, 0.5]


CHILD = (
    "import os, time\n"
    "from faithcam.studies.study import _die_with_parent\n"
    "_die_with_parent(os.getppid(), 0)\n"
    "print(os.getpid(), flush=True)\n"
    "time.sleep(60)\n"
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_ends_when_the_process_that_started_it_is_killed() -> None:
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys; subprocess.run([sys.executable, '-c', {CHILD!r}])",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = parent.stdout.readline()
        assert line.strip().isdigit(), "the worker armed itself and reported its pid"
        worker = int(line)
        assert _alive(worker)
        parent.kill()
        parent.wait()
        deadline = time.time() + 10
        while _alive(worker) and time.time() < deadline:
            time.sleep(0.05)
        assert not _alive(worker)
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()


# --- process group -------------------------------------------------------------------------


@pytest.mark.parametrize(("cuda", "backend"), [(False, "gloo"), (True, "nccl")])
def test_process_group_uses_gloo_on_cpu_and_nccl_on_gpu(monkeypatch, cuda, backend) -> None:
    started = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(study.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(study.dist, "init_process_group", lambda *a, **k: started.append((a, k)))
    monkeypatch.setattr(study.dist, "get_rank", lambda: 1)
    monkeypatch.setattr(study.dist, "get_world_size", lambda: 2)
    assert study._distributed() == (1, 2)
    assert started == [((backend,), {})]


def test_one_process_starts_no_process_group(monkeypatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(study.dist, "init_process_group", lambda *a, **k: pytest.fail("started"))
    assert study._distributed() == (0, 1)


# --- arguments -----------------------------------------------------------------------------


def test_an_existing_store_is_not_restarted_without_resume(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    _study(store, explain_fn=Recorder(), resume=False)  # a new file is fine
    with pytest.raises(FaithcamValueError, match=r"s\.sqlite exists; pass resume=True"):
        _study(store, explain_fn=Recorder(), resume=False)


def test_a_generator_is_refused_in_favour_of_a_seed(tmp_path: Path) -> None:
    with pytest.raises(FaithcamValueError, match="generator cannot be split per image; pass seed="):
        _study(
            tmp_path / "s.sqlite",
            methods=["expected-gradcam"],
            explain_kwargs={"generator": torch.Generator()},
        )


# --- Expected Grad-CAM's reference set -----------------------------------------------------


def _recording_explain(monkeypatch) -> list[dict]:
    calls: list[dict] = []
    real = cam_methods.explain

    def recording(model, images, method, targets, **kwargs):
        calls.append({"images": _which(images), "method": method, **kwargs})
        return real(model, images, method, targets, **kwargs)

    monkeypatch.setattr(cam_methods, "explain", recording)
    return calls


def test_expected_gradcam_draws_baselines_from_evenly_spaced_images(tmp_path, monkeypatch):
    calls = _recording_explain(monkeypatch)
    store = tmp_path / "s.sqlite"
    dataset = Items(5)
    _study(store, dataset, ["expected-gradcam"], references=3, explain_kwargs={"samples": 2})
    assert [c["images"] for c in calls] == [[0], [1], [2], [3], [4]], "one image per call"
    assert [c["seed"] for c in calls] == [_seed(0, f"im{k}") for k in range(5)]
    for call in calls:
        assert "reference_images" not in call
        baseline = call["baseline"]
        assert isinstance(baseline, ReferenceSet)
        drawn = baseline(torch.zeros(64, 3, SIZE, SIZE), None, torch.Generator().manual_seed(0))
        assert set(_which(drawn)) == {0, 2, 4}, "images 0, 2, 4: linspace(0, 4, 3)"
    assert _stored_settings(store)["explain_kwargs"] == {
        "samples": 2,
        "reference_images": [0, 2, 4],
    }


def test_a_given_baseline_is_kept_and_draws_no_references(tmp_path, monkeypatch) -> None:
    calls = _recording_explain(monkeypatch)
    store = tmp_path / "s.sqlite"
    explain_kwargs = {"samples": 2, "baseline": "black", "seed": 3}
    _study(store, Items(3), ["expected-gradcam"], explain_kwargs=explain_kwargs)
    assert [c["baseline"] for c in calls] == ["black"] * 3
    assert [c["seed"] for c in calls] == [_seed(3, f"im{k}") for k in range(3)]
    assert _stored_settings(store)["explain_kwargs"] == explain_kwargs


def test_a_single_image_expected_study_uses_the_default_baseline(tmp_path, monkeypatch) -> None:
    calls = _recording_explain(monkeypatch)
    _study(tmp_path / "s.sqlite", Items(1), ["expected-gradcam"], explain_kwargs={"samples": 2})
    assert len(calls) == 1 and "baseline" not in calls[0]


# --- explain_fn ----------------------------------------------------------------------------


def test_explain_fn_gets_whole_batches_of_a_deterministic_method(tmp_path: Path) -> None:
    model, recorder, store = _model(), Recorder(), tmp_path / "s.sqlite"
    _study(store, Items(5), ["gradcam"], model=model, explain_fn=recorder)
    assert [c["images"] for c in recorder.calls] == [[0, 1], [2, 3], [4]]
    assert all(c["model"] is model and c["method"] == "gradcam" for c in recorder.calls)
    assert [c["seed"] for c in recorder.calls] == [None] * 3
    assert [c["targets"] for c in recorder.calls] == [[0, 1], [2, 3], [4]]
    assert _stored_settings(store)["explain_kwargs"] == {}, "no references with an explain_fn"


@pytest.mark.parametrize(("explain_kwargs", "base"), [({}, 0), ({"seed": 7}, 7)])
@pytest.mark.parametrize("method", ["expected-gradcam", "smoothgradcam++", "sscam", "randomcam"])
def test_explain_fn_gets_each_image_of_a_stochastic_method_with_its_seed(
    tmp_path, method, explain_kwargs, base
) -> None:
    recorder, model = Recorder(), _model()
    targets = [3, 1, 4, 0, 2]
    dataset = Items(5, targets=targets)
    _study(
        tmp_path / "s.sqlite",
        dataset,
        [method],
        model=model,
        explain_fn=recorder,
        explain_kwargs=explain_kwargs,
    )
    assert all(c["model"] is model and c["method"] == method for c in recorder.calls)
    assert [c["images"] for c in recorder.calls] == [[k] for k in range(5)]
    assert [c["targets"] for c in recorder.calls] == [[t] for t in targets]
    assert [c["seed"] for c in recorder.calls] == [_seed(base, f"im{k}") for k in range(5)]


@pytest.mark.parametrize(
    ("method", "estimator", "alone"),
    [("hirescam", "expected", True), ("gradcam", "smooth", True), ("gradcam", "integrated", False)],
)
def test_an_estimator_given_as_an_option_decides_whether_images_are_explained_alone(
    tmp_path, method, estimator, alone
) -> None:
    """Seed 9 training sample (`_Explainer.__call__` 4): ``explain_kwargs={"estimator": ...}``
    makes a deterministic method stochastic (each image alone, its own seed) or leaves it
    deterministic (the batch in one call, no seed)."""
    recorder = Recorder()
    _study(
        tmp_path / "s.sqlite", Items(3), [method], explain_fn=recorder, batch_size=3,
        explain_kwargs={"estimator": estimator},
    )  # fmt: skip
    if alone:
        assert [c["images"] for c in recorder.calls] == [[0], [1], [2]]
        assert [c["seed"] for c in recorder.calls] == [_seed(0, f"im{k}") for k in range(3)]
    else:
        assert [c["images"] for c in recorder.calls] == [[0, 1, 2]]
        assert [c["seed"] for c in recorder.calls] == [None]


def test_a_seedless_explain_fn_draws_from_the_image_seeded_global_rng(tmp_path: Path) -> None:
    drawn, studied = {}, _model()

    def explain_fn(model, images, method, targets):
        assert model is studied and method == "smoothgradcam++"
        (k,) = _which(images)
        drawn[k] = torch.rand(len(images), SIZE, SIZE)
        return drawn[k]

    _study(
        tmp_path / "s.sqlite", Items(3), ["smoothgradcam++"], model=studied, explain_fn=explain_fn
    )
    assert sorted(drawn) == [0, 1, 2]
    for k in range(3):
        generator = torch.Generator().manual_seed(_seed(0, f"im{k}"))
        assert torch.equal(drawn[k], torch.rand(1, SIZE, SIZE, generator=generator))


def test_explain_fn_may_return_an_object_with_maps(tmp_path: Path) -> None:
    def plain(model, images, method, targets):
        return images[:, 1] - images[:, 2]

    def wrapped(model, images, method, targets):
        return SimpleNamespace(maps=plain(model, images, method, targets))

    for name, fn in [("plain", plain), ("wrapped", wrapped)]:
        _study(tmp_path / f"{name}.sqlite", Items(4), ["smoothgradcam++"], explain_fn=fn)
    plain_rows = ResultStore(tmp_path / "plain.sqlite").rows()
    assert len(plain_rows) == 4
    assert ResultStore(tmp_path / "wrapped.sqlite").rows() == plain_rows


def test_missing_targets_become_the_predicted_class_and_given_ones_stay(tmp_path) -> None:
    model = _model()
    with torch.no_grad():
        model.fc.bias.copy_(torch.tensor([-100.0, -100.0, 100.0, -100.0, -100.0]))
    dataset = Items(5, targets=[-1, 0, 3, -1, 0])
    with torch.no_grad():
        predicted = model(dataset.images).argmax(-1).tolist()
    assert predicted == [2] * 5  # the bias decides: neither 0 nor 3
    recorder = Recorder()
    _study(tmp_path / "s.sqlite", dataset, model=model, explain_fn=recorder, batch_size=5)
    (call,) = recorder.calls
    assert call["targets"] == [2, 0, 3, 2, 0]


@pytest.mark.cuda
def test_images_follow_the_model_to_its_device(tmp_path: Path) -> None:
    if not torch.cuda.is_available():
        pytest.fail("this test is selected by `make test-cuda`, which needs a CUDA device")
    devices = []

    def explain_fn(model, images, method, targets):
        devices.append((images.device.type, targets.device.type))
        return images.mean(1)

    rows = _study(tmp_path / "s.sqlite", Items(3), model=_model().cuda(), explain_fn=explain_fn)
    assert devices and set(devices) == {("cuda", "cuda")} and rows[0]["n"] == 3


# --- progress ------------------------------------------------------------------------------


def test_progress_bar_is_shown_only_when_asked(tmp_path: Path, capsys) -> None:
    _study(tmp_path / "quiet.sqlite", explain_fn=Recorder(), progress=False)
    assert capsys.readouterr().err == ""
    _study(
        tmp_path / "shown.sqlite",
        Items(),
        ["gradcam", "hirescam"],
        explain_fn=Recorder(),
        progress=True,
    )
    err = capsys.readouterr().err
    assert "evaluate gradcam" in err and "evaluate hirescam" in err
    shown = [part.strip() for part in err.replace("\r", "\n").split("\n") if part.strip()]
    assert shown and all(part.startswith("evaluate") for part in shown), shown


# --- two ranks, simulated in one process ----------------------------------------------------


def _as_rank(monkeypatch, rank: int, world: int = 2) -> None:
    """Run the next studies as ``rank`` of ``world``, alone (barriers pass at once)."""
    monkeypatch.setattr(study, "_distributed", lambda: (rank, world))
    monkeypatch.setattr(study.dist, "barrier", lambda *a, **k: None)


def _two_ranks(monkeypatch, store, dataset, **kwargs) -> tuple[list, list[Recorder]]:
    """Ranks 0 and 1 as two threads, their barriers a real one: (returns, explain_fns)."""
    barrier = threading.Barrier(2, timeout=60)
    recorders = [Recorder(), Recorder()]
    results: list = [None, None]
    rank_of = threading.local()
    models = [_model(), _model()]  # built here: threads would share the seeding RNG
    monkeypatch.setattr(study, "_distributed", lambda: (rank_of.rank, 2))
    monkeypatch.setattr(study.dist, "barrier", lambda *a, **k: barrier.wait())

    def rank_main(rank: int) -> None:
        rank_of.rank = rank
        try:
            results[rank] = _study(
                store, dataset, model=models[rank], explain_fn=recorders[rank], **kwargs
            )
        except BaseException as error:  # surfaced below; the other rank must not wait forever
            results[rank] = error
            barrier.abort()

    threads = [threading.Thread(target=rank_main, args=(r,), name=f"rank{r}") for r in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    errors = [r for r in results if isinstance(r, BaseException)]
    errors.sort(key=lambda e: isinstance(e, threading.BrokenBarrierError))  # the cause first
    if errors:
        raise errors[0]
    return results, recorders


def _ids(store) -> set[str]:
    return {row[0] for row in ResultStore(store).rows()}


def test_a_rank_explains_its_share_in_order_into_its_own_file(tmp_path, monkeypatch, capsys):
    store = tmp_path / "s.sqlite"
    _as_rank(monkeypatch, 1)
    recorder = Recorder()
    assert _study(store, Items(6), explain_fn=recorder, progress=True) is None
    assert capsys.readouterr().err == "", "only rank 0 shows progress"
    assert [c["images"] for c in recorder.calls] == [[1, 3], [5]], "rank 1 of 2: 1, 3, 5"
    assert _ids(f"{store}.rank1") == {"im1", "im3", "im5"}
    assert ResultStore(store).rows() == [], "rank 1 writes its own file only"


def test_two_ranks_merge_into_the_rows_of_one_process(tmp_path, monkeypatch) -> None:
    dataset = Items(6)
    single = _study(tmp_path / "single.sqlite", dataset, explain_fn=Recorder())
    store = tmp_path / "sharded.sqlite"
    (summary, none), recorders = _two_ranks(monkeypatch, store, dataset)
    assert [[c["images"] for c in r.calls] for r in recorders] == [[[0, 2], [4]], [[1, 3], [5]]]
    assert _ids(f"{store}.rank0") == {"im0", "im2", "im4"}
    assert ResultStore(store).rows() == ResultStore(tmp_path / "single.sqlite").rows()
    assert none is None and summary == single and summary[0]["n"] == 6
    (summary, none), recorders = _two_ranks(monkeypatch, store, dataset)  # resumed: all done
    assert [r.calls for r in recorders] == [[], []] and summary == single


def test_two_ranks_resumed_after_a_kill_explain_every_missing_image(tmp_path, monkeypatch):
    dataset = Items(6)
    _study(tmp_path / "single.sqlite", dataset, explain_fn=Recorder())
    store = tmp_path / "s.sqlite"
    _two_ranks(monkeypatch, store, dataset, batch_size=1)
    # killed before the merge: rank 0 had stored image 0, rank 1 images 1 and 3
    for path, kept in [
        (store, ()),
        (f"{store}.rank0", ("im0",)),
        (f"{store}.rank1", ("im1", "im3")),
    ]:
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT image_id FROM results").fetchall()
            db.executemany(
                "DELETE FROM results WHERE image_id = ?", set(rows) - {(k,) for k in kept}
            )
    events = []  # which rank read or wrote a store, in order; rank 0 reads slowly
    read, write = ResultStore.done_images, ResultStore.add

    def slow_read(self, *args):
        if threading.current_thread().name == "rank0":
            time.sleep(0.1)
        events.append(("read", threading.current_thread().name))
        return read(self, *args)

    def logged_write(self, *args, **kwargs):
        events.append(("write", threading.current_thread().name))
        return write(self, *args, **kwargs)

    monkeypatch.setattr(ResultStore, "done_images", slow_read)
    monkeypatch.setattr(ResultStore, "add", logged_write)
    (summary, _), recorders = _two_ranks(monkeypatch, store, dataset, batch_size=1)
    reads = [i for i, (kind, _) in enumerate(events) if kind == "read"]
    writes = [i for i, (kind, _) in enumerate(events) if kind == "write"]
    assert writes and max(reads) < min(writes), "every rank reads every file before any writes"
    assert {rank for kind, rank in events if kind == "read"} == {"rank0", "rank1"}
    explained = [k for r in recorders for c in r.calls for k in c["images"]]
    assert set(explained) == {2, 4, 5}, "the images no rank had stored, once the ranks agree"
    assert ResultStore(store).rows() == ResultStore(tmp_path / "single.sqlite").rows()
    assert summary[0]["n"] == 6


def test_a_rank_skips_images_already_in_the_main_store(tmp_path, monkeypatch) -> None:
    dataset, store = Items(6), tmp_path / "s.sqlite"
    _study(store, dataset, explain_fn=Recorder())  # one process, complete
    _as_rank(monkeypatch, 1)
    recorder = Recorder()
    assert _study(store, dataset, explain_fn=recorder) is None
    assert recorder.calls == [], "resumed with two processes: nothing left to explain"


def test_a_rank_file_of_other_settings_is_refused(tmp_path, monkeypatch) -> None:
    store = tmp_path / "s.sqlite"
    _as_rank(monkeypatch, 1)
    _study(store, Items(4), explain_fn=Recorder(), explain_kwargs={"option": 1})
    store.unlink()  # the main store is gone, rank 1's file of the first study is still there
    with pytest.raises(StoreError, match=r"rank1 holds a study made with other settings"):
        _study(store, Items(4), explain_fn=Recorder(), explain_kwargs={"option": 2})


def test_dataloader_workers_give_the_rows_of_one_process(tmp_path: Path) -> None:
    """num_workers=1 loads the images in a worker process (armed to die with this one) and
    stores exactly the rows of the in-process loader."""
    one = _study(tmp_path / "a.sqlite", Items(4), explain_fn=Recorder(), num_workers=0)
    workers = _study(tmp_path / "b.sqlite", Items(4), explain_fn=Recorder(), num_workers=1)
    assert ResultStore(tmp_path / "a.sqlite").rows() == ResultStore(tmp_path / "b.sqlite").rows()
    assert [dict(r) for r in one] == [dict(r) for r in workers]


def test_progress_bar_counts_image_method_steps(tmp_path: Path, capsys) -> None:
    _study(tmp_path / "s.sqlite", Items(2), explain_fn=Recorder(), progress=True)
    assert "image·method" in capsys.readouterr().err


def test_metric_kwargs_decide_whether_the_interval_is_kept_in_zero_one(tmp_path: Path) -> None:
    """Deletion on logits is unbounded: its interval is the plain t-interval of the stored
    values, not clipped to [0, 1] as for probabilities (the default)."""
    model = _model()
    with torch.no_grad():
        model.fc.weight.mul_(200.0)  # logits far outside [0, 1]
    store = tmp_path / "s.sqlite"
    table = run_study(
        model, Items(4), ["gradcam"], ["deletion"], store, batch_size=2, progress=False,
        metric_kwargs={"deletion": {"score": "logit", "curve_steps": 4}},
    )  # fmt: skip
    (row,) = [r for r in table if r["metric"] == "deletion"]
    values = torch.tensor([v for *_, v in ResultStore(store).rows()], dtype=torch.float64)
    half = 3.182446305284263 * values.std() / 2  # t_0.975 with 3 degrees of freedom, n = 4
    assert row["mean"] == pytest.approx(float(values.mean()))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(
        (float(values.mean() - half), float(values.mean() + half)), rel=1e-3
    )
    assert row["ci_low"] < 0 or row["ci_high"] > 1, "the case must leave [0, 1]"


@pytest.mark.parametrize("method", sorted(cam_methods.METHODS))
def test_a_study_explains_alone_every_method_whose_maps_depend_on_the_seed(method) -> None:
    """Every registered method, with its cheap test options: when two seeds give two maps, the
    method draws random numbers and a study must explain each image alone with its own seed
    (``stochastic``), else a row would depend on the batching (SS-CAM's and RandomCAM's did)."""
    from tests.helpers import seeded_images

    options = dict(cam_methods.METHODS[method].test_options)
    images = seeded_images(2, SIZE)
    maps = [
        cam_methods.explain(_model(), images, method, **{**options, "seed": seed}).raw_maps
        for seed in (1, 2)
    ]
    depends = not torch.equal(*maps)
    if method in ("expected-gradcam", "sscam", "randomcam"):
        assert depends, f"{method}: seen to draw at these options; the check must see it"
    if depends:
        assert study.stochastic(method), f"{method}: its maps depend on the seed"
