"""Attempts on what faithcam writes: links planted where it writes, outputs named like inputs,
and study stores that are malformed (a refusal must leave them byte-identical)."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tests.guarantees.attempts import (
    HANDLED,
    HARMED,
    TRACEBACK,
    WRONG,
    Verdict,
    attempt,
    cli,
    expect_cli_refusal,
    expect_refusal,
)
from tests.helpers import GapLinearNet

PRECIOUS = "precious file of the user"


def tiny_model_args(folder: Path) -> list[str]:
    """``--model``/``--weights``/``--size`` options of a seeded 16x16 CAM model."""
    torch.manual_seed(0)
    weights = folder / "weights.pt"
    torch.save(GapLinearNet().state_dict(), weights)
    factory = "tests.io.test_model_sources:tiny_net"
    return ["--model", factory, "--weights", str(weights), "--size", "16", "--quiet"]


def save_image(path: Path, seed: int, size: int = 16) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def plant_links(folder: Path, names: list[str], content: str = PRECIOUS) -> dict[str, Path]:
    """A link ``folder/name`` to a file of the user's outside ``folder``, for each name."""
    folder.mkdir(parents=True, exist_ok=True)
    victims = {}
    for name in names:
        victim = folder.parent / f"victim-{name}"
        victim.write_text(content)
        os.symlink(victim, folder / name)
        victims[name] = victim
    return victims


def written_through(victims: dict[str, Path], content: str = PRECIOUS) -> str | None:
    hit = [name for name, victim in victims.items() if victim.read_bytes() != content.encode()]
    return f"written through the planted link(s) {', '.join(hit)}" if hit else None


@attempt("security: writes through planted links", timeout=600)
def demo_writes_through_planted_links(folder: Path) -> Verdict:
    from faithcam.demo.run import run_demo

    out = folder / "out"
    victims = plant_links(out, ["report.html", "mobilenet_v2-imagenet-chelsea.png"])
    run_demo(
        out, models=["mobilenet_v2-imagenet"], photos=["chelsea"], steps=2, quiet=True,
        methods=["gradcam"], shapes=False, transformer=False,
    )  # fmt: skip
    damage = written_through(victims)
    if damage:
        return HARMED, damage
    return HANDLED, "the links were replaced by the outputs; their targets are untouched"


@attempt("security: writes through planted links")
def rank_file_is_a_dangling_link(folder: Path) -> Verdict:
    from faithcam.studies.store import ResultStore

    outside = folder / "elsewhere" / "created.db"
    outside.parent.mkdir()
    link = folder / "out" / "results.sqlite.rank1"
    link.parent.mkdir()
    os.symlink(outside, link)

    def harm() -> str | None:
        return f"{outside} was created through the link" if outside.exists() else None

    return expect_refusal(lambda: ResultStore(link), str(link), "link", harm=harm)


@attempt("security: writes through planted links")
def library_study_store_is_a_link(folder: Path) -> Verdict:
    from tests.studies.study_setup import run

    victims = plant_links(folder / "out", ["results.sqlite"], content="")  # an empty file
    store = folder / "out" / "results.sqlite"
    return expect_refusal(
        lambda: run(str(store)), str(store), "link", harm=lambda: written_through(victims, "")
    )


@attempt("security: writes through planted links")
def result_save_through_a_link(folder: Path) -> Verdict:
    import faithcam

    victims = plant_links(folder / "out", ["map.png"])
    torch.manual_seed(0)
    model = GapLinearNet().eval()
    faithcam.explain(model, torch.rand(1, 3, 16, 16), "gradcam").save(folder / "out" / "map.png")
    damage = written_through(victims)
    if damage:
        return HARMED, damage
    with Image.open(folder / "out" / "map.png") as image:
        image.load()
    return HANDLED, "the link was replaced by the PNG"


def _input_kept(command: str, output_name: str, folder: Path) -> Verdict:
    """Inputs ``cat.png`` and ``cat.<output_name>`` in one folder, ``--out`` = that folder: the
    output made from ``cat.png`` is named like the second input."""
    images = folder / "images"
    save_image(images / "cat.png", 0)
    kept = save_image(images / f"cat.{output_name}", 1)
    before = sha256(kept)
    method = ["--method", "gradcam"]
    if command == "evaluate":
        args = ["evaluate", *tiny_model_args(folder), *method, "--metric-steps", "2"]
        args += ["--out", str(images), str(images)]
    else:
        args = [command, *tiny_model_args(folder), *method, "--out", str(images), str(images)]

    def harm() -> str | None:
        return f"the input {kept.name} was overwritten" if sha256(kept) != before else None

    return expect_cli_refusal(args, kept.name, harm=harm)


@attempt("data loss: output replaces an input")
def explain_output_named_like_an_input(folder: Path) -> Verdict:
    return _input_kept("explain", "gradcam.png", folder)


@attempt("data loss: output replaces an input")
def compare_output_named_like_an_input(folder: Path) -> Verdict:
    return _input_kept("compare", "compare.png", folder)


@attempt("data loss: output replaces an input")
def evaluate_grid_named_like_an_input(folder: Path) -> Verdict:
    return _input_kept("evaluate", "compare.png", folder)


def _store_attempt(folder: Path, sql: str, *names: str) -> Verdict:
    """A finished toy study's store edited with ``sql``, then resumed: refused, unchanged."""
    from tests.studies.study_setup import run

    store = folder / "store.sqlite"
    shutil.copy(_finished_store(folder), store)
    with sqlite3.connect(store) as db:
        db.executescript(sql)
    db.close()
    before = sha256(store)

    def harm() -> str | None:
        return "the store was modified" if sha256(store) != before else None

    return expect_refusal(lambda: run(str(store)), str(store), *names, harm=harm)


@functools.cache
def _finished_store_bytes() -> bytes:
    """The store of the finished toy study (run once per process)."""
    from tests.studies.study_setup import run

    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "finished.sqlite"
        run(str(store))
        return store.read_bytes()


def _finished_store(folder: Path) -> Path:
    store = folder / "finished.sqlite"
    store.write_bytes(_finished_store_bytes())
    return store


@attempt("data loss: malformed store")
def store_of_an_old_schema_without_settings(folder: Path) -> Verdict:
    return _store_attempt(
        folder,
        "DROP TABLE study; CREATE TABLE old (image_id TEXT, method TEXT, metric TEXT, value REAL);"
        "INSERT INTO old SELECT image_id, method, metric, value FROM results; DROP TABLE results;"
        "ALTER TABLE old RENAME TO results;",
        "settings",
    )


@attempt("data loss: malformed store")
def store_rows_with_an_unknown_key(folder: Path) -> Verdict:
    return _store_attempt(
        folder, "DROP TABLE study; UPDATE results SET settings = 'deadbeefdeadbeef';", "unknown"
    )


@attempt("data loss: malformed store")
def store_with_an_extra_column(folder: Path) -> Verdict:
    return _store_attempt(
        folder,
        "ALTER TABLE results ADD COLUMN note TEXT; DELETE FROM results WHERE image_id = 'img023';",
        "note",
    )


@attempt("error message: malformed store")
def store_with_text_in_a_value(folder: Path) -> Verdict:
    return _store_attempt(folder, "UPDATE results SET value = 'abc' WHERE rowid = 3;", "number")


@attempt("error message: malformed store")
def store_truncated(folder: Path) -> Verdict:
    from tests.studies.study_setup import run

    store = folder / "store.sqlite"
    store.write_bytes(_finished_store(folder).read_bytes()[:3000])
    before = sha256(store)

    def harm() -> str | None:
        return "the store was modified" if sha256(store) != before else None

    return expect_refusal(lambda: run(str(store)), str(store), "damaged", harm=harm)


@attempt("error message: malformed store")
def store_is_a_folder(folder: Path) -> Verdict:
    from tests.studies.study_setup import run

    store = folder / "store.sqlite"
    store.mkdir()
    return expect_refusal(lambda: run(str(store)), str(store), "folder")


@attempt("error message: long file names")
def folder_with_a_240_character_file_name(folder: Path) -> Verdict:
    image = save_image(folder / "images" / ("a" * 236 + ".png"), 0)
    out = folder / "out"
    code, err = cli(["explain", *tiny_model_args(folder), "--out", str(out), str(image.parent)])
    if code != 0:
        return (TRACEBACK if code != 2 else WRONG), " ".join(err.split())[:200]
    overlays = list(out.glob("*.png"))
    if len(overlays) != 1:
        return WRONG, f"{len(overlays)} overlays written"
    return HANDLED, f"written as {overlays[0].name[:20]}...{overlays[0].name[-24:]}"
