"""Attempts on resumed studies: what makes a row changes between two runs on one store (an
image's bytes, the file list, a non-persistent buffer, the model's graph or factory code), the
store's values are edited, a fresh run finds leftover rank files, and careless arguments.

A resumed run must give a fresh run's rows, or refuse naming what changed (and leave the store
byte-identical)."""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from tests.guarantees.attempts import (
    HANDLED,
    REFUSED,
    UNCLEAR,
    WRONG,
    Verdict,
    attempt,
    cli,
    expect_cli_refusal,
    expect_refusal,
)
from tests.guarantees.attempts_outputs import save_image, sha256, tiny_model_args
from tests.studies.study_setup import METHODS, METRIC_KWARGS, METRICS, ToyShapes, toy_model

CATEGORY = "silently wrong: resume does not notice"


def study(store: Path, dataset=None, model: nn.Module | None = None, **kwargs):
    from faithcam.studies.study import run_study

    return run_study(
        model or toy_model(), dataset if dataset is not None else ToyShapes(n=8), METHODS,
        METRICS, store, batch_size=4, metric_kwargs=METRIC_KWARGS, progress=False, **kwargs,
    )  # fmt: skip


def rows(store: Path) -> list[tuple]:
    from faithcam.studies.store import ResultStore

    return ResultStore(store).rows()


def unchanged(store: Path) -> Callable[[], str | None]:
    """``harm()``: the store's bytes differ from now."""
    before = sha256(store)
    return lambda: "the store was modified" if sha256(store) != before else None


def images(n: int, keep: list[int] | None = None, ids: bool = True) -> ToyShapes:
    """The toy data set's first ``n`` images (of 12; the images ``keep`` in that order),
    without ``ids`` (and without ids in its items) when ``ids`` is False."""
    dataset = _Positional(n=12) if not ids else ToyShapes(n=12)
    keep = list(range(n)) if keep is None else keep
    dataset.images, dataset.corners = dataset.images[keep], dataset.corners[keep]
    dataset.ids = [dataset.ids[i] for i in keep]
    if not ids:
        del dataset.ids
    return dataset


class _Positional(ToyShapes):
    """Items without an ``id``; without ``ids``, the study keys them by position."""

    def __getitem__(self, i: int) -> dict:
        y, x = self.corners[i].tolist()
        return {"image": self.images[i], "target": i % 5, "boxes": [(x, y, x + 6, y + 6)]}


def _resumed_with(folder: Path, change: Callable[[ToyShapes], None], *names: str) -> Verdict:
    """A finished study resumed on a data set that ``change`` edited in place."""
    store = folder / "s.sqlite"
    study(store, images(8))
    dataset = images(8)
    change(dataset)
    return expect_refusal(lambda: study(store, dataset), str(store), *names, harm=unchanged(store))


@attempt(CATEGORY)
def resume_after_an_image_changed(folder: Path) -> Verdict:
    def brighten(dataset: ToyShapes) -> None:
        dataset.images[5] = dataset.images[5] * 0.5 + 0.5

    return _resumed_with(folder, brighten, "changed", "img005")


@attempt(CATEGORY)
def resume_after_images_removed(folder: Path) -> Verdict:
    store = folder / "s.sqlite"
    study(store, images(8))
    dataset = images(6, keep=[0, 1, 3, 4, 5, 7])
    return expect_refusal(
        lambda: study(store, dataset), str(store), "not in the data set", "img002",
        harm=unchanged(store),
    )  # fmt: skip


@attempt(CATEGORY)
def resume_on_a_reordered_data_set_without_ids(folder: Path) -> Verdict:
    store = folder / "s.sqlite"
    study(store, images(8, ids=False))
    dataset = images(8, keep=[7, 6, 5, 4, 3, 2, 1, 0], ids=False)
    return expect_refusal(
        lambda: study(store, dataset), str(store), "changed", "reordered", harm=unchanged(store)
    )


@attempt(CATEGORY)
def resume_after_images_added_gives_a_fresh_runs_rows(folder: Path) -> Verdict:
    store, fresh = folder / "s.sqlite", folder / "fresh.sqlite"
    study(store, images(8))
    study(store, images(12))  # the same 8 images and 4 more
    study(fresh, images(12))
    if rows(store) != rows(fresh):
        return WRONG, "the resumed rows differ from a fresh run's"
    return HANDLED, f"{len(rows(store))} rows, equal to a fresh run's"


class _WithScale(nn.Module):
    """A model whose output depends on a non-persistent buffer and a plain attribute."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.net = toy_model()
        self.register_buffer("offset", torch.zeros(1), persistent=False)
        self.temperature = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x + self.offset) / self.temperature


def _other_model(folder: Path, model: nn.Module, *names: str) -> Verdict:
    store = folder / "s.sqlite"
    study(store, model=_WithScale(), explain_kwargs={"layer": "net.features"})
    return expect_refusal(
        lambda: study(store, model=model, explain_kwargs={"layer": "net.features"}),
        str(store), *names, harm=unchanged(store),
    )  # fmt: skip


@attempt(CATEGORY)
def resume_after_a_non_persistent_buffer_changed(folder: Path) -> Verdict:
    model = _WithScale()
    model.offset.fill_(0.25)
    return _other_model(folder, model, "weights_sha256")


@attempt(CATEGORY)
def resume_after_a_model_attribute_changed(folder: Path) -> Verdict:
    return _other_model(folder, _WithScale(scale=3.0), "model_code_sha256")


class _Doubled(nn.Module):
    """The toy model's layers and weights in another graph (the logits doubled)."""

    def __init__(self) -> None:
        super().__init__()
        base = toy_model()
        self.features, self.pool, self.fc = base.features, base.pool, base.fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * self.fc(self.pool(self.features(x)).flatten(1))


def _exported(model: nn.Module) -> nn.Module:
    batch = {"x": {0: torch.export.Dim("batch", max=64)}}
    program = torch.export.export(model.eval(), (torch.rand(2, 3, 16, 16),), dynamic_shapes=batch)
    return torch.export.unflatten(program)


@attempt(CATEGORY)
def resume_with_the_same_weights_in_another_pt2_graph(folder: Path) -> Verdict:
    store = folder / "s.sqlite"
    kwargs = {"explain_kwargs": {"layer": "features"}}
    study(store, model=_exported(toy_model()), **kwargs)
    other = _exported(_Doubled())
    return expect_refusal(
        lambda: study(store, model=other, **kwargs), str(store), "model_code_sha256",
        harm=unchanged(store),
    )  # fmt: skip


FACTORY = """
import torch
from tests.conftest import GapLinearNet


def make(num_classes=5):
    torch.manual_seed(0)
    model = GapLinearNet(classes=num_classes)
    with torch.no_grad():
        model.fc.weight.mul_({scale})
    return model
"""


@contextlib.contextmanager
def _importable(folder: Path) -> Iterator[None]:
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("adversarial_factory", None)


def _evaluate_args(folder: Path, model: list[str], *extra: str) -> list[str]:
    options = ["--method", "gradcam", "--metrics", "deletion", "--curve-steps", "4", *extra]
    return ["evaluate", *model, "--out", str(folder / "out"), *options, str(folder / "images")]


@attempt(CATEGORY)
def cli_resume_after_the_factory_code_changed(folder: Path) -> Verdict:
    for k in range(3):
        save_image(folder / "images" / f"im{k}.png", k)
    source = folder / "adversarial_factory.py"
    source.write_text(FACTORY.format(scale=1.0))
    model = ["--model", "adversarial_factory:make", "--size", "16", "--quiet"]
    with _importable(folder):
        code, err = cli(_evaluate_args(folder, model))
        if code != 0:
            return WRONG, f"the first run failed: {err.strip()[:150]}"
        source.write_text(FACTORY.format(scale=-1.0))  # the same module, another factory
        store = folder / "out" / "results.sqlite"
        return expect_cli_refusal(
            _evaluate_args(folder, model, "--resume"), str(store), "model_source",
            harm=unchanged(store),
        )  # fmt: skip


def _cli_resumed(folder: Path, change: Callable[[Path], None], *names: str) -> Verdict:
    for k in range(4):
        save_image(folder / "images" / f"im{k}.png", k)
    code, err = cli(_evaluate_args(folder, tiny_model_args(folder)))
    if code != 0:
        return WRONG, f"the first run failed: {err.strip()[:150]}"
    change(folder / "images")
    store = folder / "out" / "results.sqlite"
    args = _evaluate_args(folder, tiny_model_args(folder), "--resume")
    return expect_cli_refusal(args, str(store), *names, harm=unchanged(store))


@attempt(CATEGORY)
def cli_resume_after_an_image_file_changed(folder: Path) -> Verdict:
    return _cli_resumed(folder, lambda images: save_image(images / "im2.png", 99), "im2.png")


@attempt(CATEGORY)
def cli_resume_after_an_image_renamed(folder: Path) -> Verdict:
    def rename(images: Path) -> None:
        (images / "im1.png").rename(images / "renamed.png")

    return _cli_resumed(folder, rename, "im1.png", "not in the data set")


@attempt(CATEGORY)
def cli_resume_after_an_image_moved_into_a_subfolder(folder: Path) -> Verdict:
    def move(images: Path) -> None:
        (images / "sub").mkdir()
        (images / "im3.png").rename(images / "sub" / "im3.png")

    return _cli_resumed(folder, move, "im3.png", "not in the data set")


def _edited_store(folder: Path, sql: str, *names: str) -> Verdict:
    store = folder / "s.sqlite"
    study(store)
    with contextlib.closing(sqlite3.connect(store)) as db, db:
        db.execute(sql)
    return expect_refusal(lambda: study(store), str(store), *names, harm=unchanged(store))


@attempt("silently wrong: corrupt store values")
def store_value_with_a_flipped_bit(folder: Path) -> Verdict:
    import struct

    def flip(value: float) -> float:
        bits = struct.unpack("<q", struct.pack("<d", value))[0] ^ (1 << 40)
        return struct.unpack("<d", struct.pack("<q", bits))[0]

    store = folder / "s.sqlite"
    study(store)
    with contextlib.closing(sqlite3.connect(store)) as db, db:
        ((rowid, value),) = db.execute("SELECT rowid, value FROM results LIMIT 1 OFFSET 7")
        db.execute("UPDATE results SET value = ? WHERE rowid = ?", (flip(value), rowid))
    return expect_refusal(lambda: study(store), str(store), "checksum", harm=unchanged(store))


@attempt("silently wrong: corrupt store values")
def store_value_set_to_null(folder: Path) -> Verdict:
    return _edited_store(
        folder, "UPDATE results SET value = NULL WHERE rowid IN (3, 9)", "checksum", "NULL"
    )


@attempt("silently wrong: torchrun leftovers")
def fresh_run_after_the_store_was_deleted_finds_rank_files(folder: Path) -> Verdict:
    """An earlier two-rank run left ``s.sqlite.rank0`` / ``.rank1``; the store is deleted and
    the study restarted without resume on other images: their rows must not come back."""
    store = folder / "s.sqlite"
    study(store)
    for rank in (0, 1):
        (folder / f"s.sqlite.rank{rank}").write_bytes(store.read_bytes())
    store.unlink()
    dataset = ToyShapes(n=8)
    dataset.images = dataset.images.flip(-1)  # other images under the same ids
    refused = expect_refusal(lambda: study(store, dataset, resume=False), "rank0", "resume")
    if refused[0] != WRONG:
        return refused
    fresh = folder / "fresh.sqlite"
    study(fresh, dataset)
    if rows(store) != rows(fresh):
        return WRONG, "rows of the leftover rank files came back"
    return HANDLED, "a fresh run's rows"


@attempt("silently wrong: torchrun leftovers", timeout=300, slow=True)
def torchrun_fresh_run_finds_rank_files_of_other_images(folder: Path) -> Verdict:
    """Two torchrun ranks start a fresh study (no resume) where an earlier two-rank run on other
    images under the same ids left its rank files: none of their rows may come back."""
    import os
    import subprocess

    old = ToyShapes()
    old.images = old.images.flip(-1)
    study(folder / "old.sqlite", old)
    for rank in (0, 1):
        (folder / f"s.sqlite.rank{rank}").write_bytes((folder / "old.sqlite").read_bytes())
    store = folder / "s.sqlite"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone",
        "-m", "tests.studies.study_setup", str(store), "--fresh",
    ]  # fmt: skip
    root, env = Path(__file__).resolve().parents[2], {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=280, env=env)
    if out.returncode != 0:
        said = [line for line in out.stderr.splitlines() if "left from an earlier" in line]
        if said and not store.exists():
            return REFUSED, said[0].split("Error: ", 1)[-1][:200]
        return UNCLEAR, " ".join(out.stderr.split()[-30:])[:200]
    study(folder / "fresh.sqlite", ToyShapes())
    if rows(store) != rows(folder / "fresh.sqlite"):
        return WRONG, "rows of the leftover rank files came back"
    return HANDLED, "a fresh run's rows"


@attempt("error message: studies")
def study_store_locked_by_another_process(folder: Path) -> Verdict:
    store = folder / "s.sqlite"
    study(store, ToyShapes(n=4))
    holder = sqlite3.connect(store, timeout=0)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        return expect_refusal(lambda: study(store, ToyShapes(n=4)), str(store), "locked")
    finally:
        holder.close()


@attempt("error message: studies")
def study_store_on_a_read_only_file_system(folder: Path) -> Verdict:
    """SQLite opened read-only (as on a read-only mount; root ignores file permissions)."""
    store = folder / "s.sqlite"
    study(store, images(4))
    real = sqlite3.connect

    def read_only(database, *args, **kwargs):
        if str(database) == str(store):
            database, kwargs["uri"] = f"file:{store}?mode=ro", True
        return real(database, *args, **kwargs)

    sqlite3.connect = read_only
    try:
        return expect_refusal(lambda: study(store, images(8)), str(store), "read-only")
    finally:
        sqlite3.connect = real


@attempt("error message: studies")
def study_with_minus_one_workers(folder: Path) -> Verdict:
    return expect_refusal(lambda: study(folder / "s.sqlite", num_workers=-1), "num_workers")


@attempt("error message: studies")
def cli_evaluate_with_minus_one_workers(folder: Path) -> Verdict:
    save_image(folder / "images" / "im0.png", 0)
    args = ["evaluate", *tiny_model_args(folder), "--out", str(folder / "out"), "--workers", "-1",
            str(folder / "images")]  # fmt: skip
    return expect_cli_refusal(args, "--workers")


@attempt("error message: studies")
def study_items_without_an_id(folder: Path) -> Verdict:
    positional = images(8)
    positional.__class__ = _Positional  # ids on the data set, none in its items
    study(folder / "a.sqlite", positional)
    study(folder / "b.sqlite", images(8))
    if rows(folder / "a.sqlite") != rows(folder / "b.sqlite"):
        return WRONG, "rows differ from those of items with their ids"
    return HANDLED, "keyed by dataset.ids, the rows of items with ids"


class _OtherIds(ToyShapes):
    def __getitem__(self, i: int) -> dict:
        return {**super().__getitem__(i), "id": f"photo{i}.jpg"}


@attempt("error message: studies")
def study_items_whose_id_is_not_dataset_ids(folder: Path) -> Verdict:
    return expect_refusal(
        lambda: study(folder / "s.sqlite", _OtherIds(n=8)), "item 0 has id", "dataset.ids[0]"
    )


@attempt("error message: studies")
def study_with_a_huge_seed(folder: Path) -> Verdict:
    return expect_refusal(
        lambda: study(folder / "s.sqlite", explain_kwargs={"seed": 2**70}), "seed", "64-bit"
    )


@attempt("error message: studies")
def cli_with_a_huge_seed(folder: Path) -> Verdict:
    image = save_image(folder / "images" / "im0.png", 0)
    args = ["explain", *tiny_model_args(folder), "--out", str(folder / "out"), "--seed",
            str(2**70), str(image)]  # fmt: skip
    return expect_cli_refusal(args, "--seed", "64-bit")


@attempt("error message: studies")
def explain_with_a_huge_seed(folder: Path) -> Verdict:
    import faithcam

    return expect_refusal(
        lambda: faithcam.explain(toy_model(), torch.rand(1, 3, 16, 16), seed=2**70), "seed"
    )
