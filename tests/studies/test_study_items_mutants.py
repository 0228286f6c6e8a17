"""Edge cases of issue 26's study items, written after their semantic mutants
(scripts/semantic_mutants_catalogue.py, group ``owndata``): a batch keeps each item's own
SHA-256 when the done items are dropped from it."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from faithcam.studies.items import select
from faithcam.studies.study import run_study
from tests.helpers import GapLinearNet


def test_select_keeps_each_items_own_fields():
    batch = {
        "image": torch.arange(3.0).view(3, 1, 1, 1), "target": torch.tensor([5, 6, 7]),
        "boxes": [None, "b1", "b2"], "id": ["a", "b", "c"], "sha256": ["s0", "s1", "s2"],
    }  # fmt: skip
    kept = select(batch, [1, 2])
    assert kept["id"] == ["b", "c"] and kept["sha256"] == ["s1", "s2"]
    assert kept["boxes"] == ["b1", "b2"] and kept["target"].tolist() == [6, 7]
    assert kept["image"].flatten().tolist() == [1.0, 2.0]


class Photos(Dataset):
    """n seeded images whose items carry an "id" (the data set has no .ids)."""

    def __init__(self, n: int) -> None:
        self.images = torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.images[i], "id": f"photo-{i}", "target": i % 3}


def _maps(model, images, method, targets):
    return images.mean(1)


def _run(store, n: int) -> None:
    torch.manual_seed(0)
    run_study(GapLinearNet().eval(), Photos(n), ["gradcam"], ["deletion"], store, batch_size=2,
              progress=False, metric_kwargs={"deletion": {"curve_steps": 2}},
              explain_fn=_maps)  # fmt: skip


def test_a_new_image_beside_a_done_one_in_a_batch_records_its_own_hash(tmp_path):
    """3 photos done, then 4: the second run's last batch holds photo-2 (done, dropped) and
    photo-3 (new), whose rows must carry photo-3's SHA-256: a third identical run then finds
    every image unchanged and resumes without a refusal."""
    store = tmp_path / "s.sqlite"
    _run(store, 3)
    _run(store, 4)
    _run(store, 4)  # photo-3's rows recorded with photo-2's hash would be refused as changed
