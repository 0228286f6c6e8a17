"""A tiny deterministic model and data set for the study tests, importable by subprocesses.

python -m tests.studies.study_setup STORE [--slow]   # run the study (used by torchrun and SIGKILL)
"""

from __future__ import annotations

import sys
import time

import torch
from torch.utils.data import Dataset

from tests.helpers import GapLinearNet

METHODS = ["gradcam", "hirescam"]
METRICS = ["deletion", "pointing_game"]
METRIC_KWARGS = {"deletion": {"curve_steps": 4}}


class ToyShapes(Dataset):
    """24 seeded 16x16 images with a bright square and its box."""

    def __init__(self, n: int = 24, delay: float = 0.0) -> None:
        generator = torch.Generator().manual_seed(0)
        self.images = torch.rand(n, 3, 16, 16, generator=generator) * 0.2
        self.corners = torch.randint(0, 10, (n, 2), generator=generator)
        for image, (y, x) in zip(self.images, self.corners.tolist(), strict=True):
            image[:, y : y + 6, x : x + 6] += 0.8
        self.delay = delay
        self.ids = [f"img{i:03d}" for i in range(n)]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        time.sleep(self.delay)
        y, x = self.corners[i].tolist()
        return {
            "image": self.images[i],
            "id": self.ids[i],
            "target": i % 5,
            "boxes": [(x, y, x + 6, y + 6)],
        }


def toy_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return GapLinearNet().eval()


def run(store: str, delay: float = 0.0):
    from faithcam.studies.study import run_study

    return run_study(
        toy_model(),
        ToyShapes(delay=delay),
        METHODS,
        METRICS,
        store,
        batch_size=4,
        metric_kwargs=METRIC_KWARGS,
        progress=False,
    )


if __name__ == "__main__":
    rows = run(sys.argv[1], delay=0.05 if "--slow" in sys.argv else 0.0)
    if rows is not None:
        import json

        print("SUMMARY " + json.dumps(rows))
