"""A study whose later images take long to load, run with two DataLoader workers; the parent
is killed with SIGKILL by a test while the workers are busy.

python -m tests.guarantees.study_child STORE
"""

from __future__ import annotations

import sys
import time

from tests.studies import study_setup

SLOW_FROM = 8  # images 0..7 load at once (two batches get stored), the rest take a minute


class SlowLater(study_setup.ToyShapes):
    def __getitem__(self, i: int) -> dict:
        if i >= SLOW_FROM:
            time.sleep(60)
        return super().__getitem__(i)


def run(store: str, workers: int, slow: bool = True):
    from faithcam.studies.study import run_study

    dataset = SlowLater() if slow else study_setup.ToyShapes()
    return run_study(
        study_setup.toy_model(),
        dataset,
        study_setup.METHODS,
        study_setup.METRICS,
        store,
        batch_size=4,
        num_workers=workers,
        metric_kwargs=study_setup.METRIC_KWARGS,
        progress=False,
    )


if __name__ == "__main__":
    run(sys.argv[1], workers=2)
