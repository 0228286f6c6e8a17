"""run_study resumes whatever keys its items (issue 26): items that carry an "id" (no .ids),
a data set with .ids, and torchvision-style (image, label) pairs (ids from the index, with a
warning); items without boxes stay in every metric that needs none."""

from __future__ import annotations

import math
import re
import warnings

import pytest
import torch
from torch.utils.data import Dataset

from faithcam.errors import FaithcamTypeError, FaithcamValueError
from faithcam.studies.items import INDEX_ID_WARNING
from faithcam.studies.store import ResultStore, StoreError
from faithcam.studies.study import run_study
from tests.helpers import GapLinearNet

SIZE = 8


def _images(n: int) -> torch.Tensor:
    return torch.rand(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))


class Counting(Dataset):
    """Records which indices were loaded; items are dicts with an "id" (the data set has no
    .ids), or (image, label) pairs with ``pairs=True``."""

    def __init__(self, n: int = 5, pairs: bool = False, boxes_every: int = 1) -> None:
        self.images = _images(n)
        self.pairs, self.boxes_every = pairs, boxes_every
        self.loaded: list[int] = []

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        self.loaded.append(i)
        if self.pairs:
            return self.images[i], torch.tensor(i % 3)
        item = {"image": self.images[i], "id": f"photo-{i}", "target": i % 3}
        if i % self.boxes_every == 0:
            item["boxes"] = [(0, 0, 4, 4)]
        return item


class Maps:
    """An explain_fn that counts the images it explains."""

    def __init__(self) -> None:
        self.explained = 0

    def __call__(self, model, images, method, targets):
        self.explained += len(images)
        return images.mean(1)


def _model() -> GapLinearNet:
    torch.manual_seed(0)
    return GapLinearNet().eval()


def _run(store, dataset, metrics=("deletion",), explain_fn=None):
    return run_study(
        _model(), dataset, ["gradcam"], list(metrics), store, batch_size=2, progress=False,
        metric_kwargs={"deletion": {"curve_steps": 2}} if "deletion" in metrics else None,
        explain_fn=explain_fn or Maps(),
    )  # fmt: skip


def test_items_with_ids_resume_without_explaining_again(tmp_path):
    store = tmp_path / "s.sqlite"
    first_maps, second_maps = Maps(), Maps()
    first = _run(store, Counting(5), explain_fn=first_maps)
    rows = ResultStore(store).rows()
    assert first_maps.explained == 5
    assert sorted(r[0] for r in rows) == [f"photo-{i}" for i in range(5)]
    second = _run(store, Counting(5), explain_fn=second_maps)
    assert second_maps.explained == 0, "a second identical run redid the work"
    assert ResultStore(store).rows() == rows and second == first


def test_items_with_ids_finish_an_interrupted_run(tmp_path):
    store = tmp_path / "s.sqlite"
    _run(store, Counting(3))  # as if killed after the first 3 images
    rest = Maps()
    rows = _run(store, Counting(5), explain_fn=rest)
    assert rest.explained == 2 and rows[0]["n"] == 5


def test_dot_ids_done_images_are_read_once_to_check_them_and_never_explained(tmp_path):
    """Issue 24 asks a resume to refuse changed images, so each done image is read once (its
    SHA-256 against the one stored with its rows); with .ids it is not explained again."""
    store = tmp_path / "s.sqlite"
    dataset = Counting(4)
    dataset.ids = [f"photo-{i}" for i in range(4)]
    _run(store, dataset)
    again, maps = Counting(4), Maps()
    again.ids = dataset.ids
    _run(store, again, explain_fn=maps)
    assert sorted(again.loaded) == [0, 1, 2, 3] and maps.explained == 0


def test_dot_ids_that_disagree_with_the_items_are_refused(tmp_path):
    dataset = Counting(2)
    dataset.ids = ["a", "b"]
    with pytest.raises(FaithcamValueError, match=r"item 0 has id 'photo-0' but dataset.ids\[0\]"):
        _run(tmp_path / "s.sqlite", dataset)


def test_repeated_item_ids_are_refused(tmp_path):
    class Twice(Counting):
        def __getitem__(self, i):
            item = super().__getitem__(i)
            item["id"] = "same"
            return item

    with pytest.raises(FaithcamValueError, match="image id 'same' appears 2 times"):
        _run(tmp_path / "s.sqlite", Twice(3))


def test_image_label_pairs_run_and_resume_keyed_by_index_with_a_warning(tmp_path):
    store = tmp_path / "s.sqlite"
    with pytest.warns(UserWarning, match="keyed by the item's index; reordering"):
        first = _run(store, Counting(4, pairs=True))
    assert sorted(r[0] for r in ResultStore(store).rows()) == ["0", "1", "2", "3"]
    again = Maps()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        second = _run(store, Counting(4, pairs=True), explain_fn=again)
    assert again.explained == 0 and second == first
    assert "reordering or filtering" in INDEX_ID_WARNING


def test_image_label_pairs_use_the_label_as_target(tmp_path):
    seen = []

    def explain_fn(model, images, method, targets):
        seen.extend(targets.tolist())
        return images.mean(1)

    with pytest.warns(UserWarning):
        _run(tmp_path / "s.sqlite", Counting(4, pairs=True), explain_fn=explain_fn)
    assert seen == [0, 1, 2, 0]


def test_a_pil_image_item_is_refused_with_the_transform_to_add(tmp_path):
    from PIL import Image

    class Photos(Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            return Image.new("RGB", (8, 8)), 0

    with pytest.raises(FaithcamTypeError, match=r"dataset\[0\]: the image is a Image.*ToTensor"):
        _run(tmp_path / "s.sqlite", Photos())


def test_items_without_boxes_count_in_deletion_not_in_the_pointing_game(tmp_path):
    rows = _run(tmp_path / "s.sqlite", Counting(5, boxes_every=2), ("deletion", "pointing_game"))
    n = {r["metric"]: r["n"] for r in rows}
    assert n == {"deletion": 5, "pointing_game": 3}  # images 0, 2 and 4 have boxes
    stored = {(r[0], r[2]): r[4] for r in ResultStore(tmp_path / "s.sqlite").rows()}
    assert stored[("photo-1", "pointing_game")] is None or math.isnan(
        stored[("photo-1", "pointing_game")]
    )


def test_a_batch_without_any_boxes_gives_nan_not_an_error(tmp_path):
    rows = _run(tmp_path / "s.sqlite", Counting(2, boxes_every=99), ("pointing_game",))
    # image 0 has boxes (0 % 99 == 0), image 1 none: one value
    assert rows[0]["n"] == 1


def test_deletion_curves_are_stored_per_image_and_integrate_to_the_stored_value(tmp_path):
    import json

    import numpy as np

    store = tmp_path / "s.sqlite"
    _run(store, Counting(3))
    values = {r[0]: r[4] for r in ResultStore(store).rows()}
    curves = ResultStore(store).curves()
    assert sorted(c[0] for c in curves) == ["photo-0", "photo-1", "photo-2"]
    for image_id, method, metric, _settings, points in curves:
        assert (method, metric) == ("gradcam", "deletion")
        curve = json.loads(points)
        assert curve["x"][0] == 0 and curve["x"][-1] == 1 and len(curve["x"]) == 3  # 2 steps
        area = float(np.sum(np.diff(curve["x"]) * (np.array(curve["y"][1:]) + curve["y"][:-1]))) / 2
        assert area == pytest.approx(values[image_id], abs=1e-5)
    _run(store, Counting(3))  # resumed: nothing doubled
    assert len(ResultStore(store).curves()) == 3


def test_items_with_ids_that_changed_since_their_rows_are_refused_on_resume(tmp_path):
    """Ids only in the items: each done item's SHA-256 is compared as it loads (issue 24)."""
    store = tmp_path / "s.sqlite"
    _run(store, Counting(3))
    changed = Counting(3)
    changed.images[1] += 0.5
    expected = rf"^store: {re.escape(str(store))}: 1 images changed .*photo-1"
    with pytest.raises(StoreError, match=expected):
        _run(store, changed)


# --- seed 20261211 (docs/mutation.md) --------------------------------------------------------


def test_the_index_id_warning_points_at_the_callers_line(tmp_path):
    """The warning that (image, label) pairs are keyed by their index is reported at the line
    that called ``run_study`` (this file), where a user can act on it, not inside faithcam."""
    from pathlib import Path

    with pytest.warns(UserWarning, match="keyed by the item's index") as caught:
        run_study(
            _model(), Counting(2, pairs=True), ["gradcam"], ["deletion"], tmp_path / "s.sqlite",
            batch_size=2, progress=False, explain_fn=Maps(),
            metric_kwargs={"deletion": {"curve_steps": 2}},
        )  # fmt: skip
    index_warnings = [w for w in caught if "keyed by the item's index" in str(w.message)]
    assert [Path(w.filename).name for w in index_warnings] == [Path(__file__).name]


def test_stored_curves_keep_six_decimals(tmp_path):
    """A deletion curve of 3 steps over a 3 x 3 image (9 pixels, 3 deleted per step) is stored
    at the fractions 0, 3/9, 6/9, 1 written to six decimals (0.333333, 0.666667), and so is
    every score on it."""
    import json

    image = {"image": torch.rand(3, 3, 3, generator=torch.Generator().manual_seed(1)), "id": "a"}
    run_study(
        _model(), [image], ["gradcam"], ["deletion"], tmp_path / "t.sqlite", batch_size=2,
        progress=False, explain_fn=Maps(), metric_kwargs={"deletion": {"curve_steps": 3}},
    )  # fmt: skip
    ((*_, points),) = ResultStore(tmp_path / "t.sqlite").curves()
    curve = json.loads(points)
    assert curve["x"] == [0.0, 0.333333, 0.666667, 1.0]
    assert all(round(y, 6) == y for y in curve["y"]) and len(curve["y"]) == 4
