"""Study throughput: Grad-CAM + deletion over 256 ShapesBench images through the resumable
store, vs plain inference of the same work (the same number of forward passes, batched), and
whether both cores are busy (process CPU time / wall time).

    .venv/bin/python -m benchmarks.bench_study [--images 256] [--curve-steps 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import Dataset

from benchmarks.timing import save
from faithcam.data import ShapesBench, load_shapes_model
from faithcam.studies.study import run_study


class StudyItems(Dataset):
    def __init__(self, bench: ShapesBench) -> None:
        self.bench = bench

    def __len__(self) -> int:
        return len(self.bench)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.bench.images[i], "id": i, "target": int(self.bench.labels[i])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--curve-steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    shapes = load_shapes_model("resnet", "clean")
    bench = ShapesBench("clean", n=args.images, seed=123)
    n_forwards = args.images * (1 + args.curve_steps + 1)  # explain + deletion curve points
    inputs = bench.images.repeat(n_forwards // args.images, 1, 1, 1)
    with torch.inference_mode():
        shapes.model(inputs[: args.batch_size])
    start, cpu = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        for s in range(0, len(inputs), args.batch_size * 4):
            shapes.model(inputs[s : s + args.batch_size * 4])
    plain_wall, plain_cpu = time.perf_counter() - start, time.process_time() - cpu
    with tempfile.TemporaryDirectory() as folder:
        start, cpu = time.perf_counter(), time.process_time()
        run_study(shapes.model, StudyItems(bench), ["gradcam"], ["deletion"],
                  Path(folder) / "s.sqlite", batch_size=args.batch_size,
                  metric_kwargs={"deletion": {"curve_steps": args.curve_steps}},
                  explain_kwargs={"layer": shapes.layer}, progress=False)
        study_wall, study_cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"ShapesBench resnet-clean, {args.images} images 64x64, Grad-CAM + deletion "
          f"({args.curve_steps} steps), batch {args.batch_size}, {torch.get_num_threads()} threads")
    print(f"  study:  {args.images / study_wall:7.1f} images/s  wall {study_wall:6.2f} s  "
          f"CPU/wall {study_cpu / study_wall:.2f} cores")
    print(f"  plain:  {args.images / plain_wall:7.1f} images/s  wall {plain_wall:6.2f} s  "
          f"CPU/wall {plain_cpu / plain_wall:.2f} cores  ({n_forwards} forwards)")
    print(f"  study / plain inference of the same forwards: {study_wall / plain_wall:.2f}x")
    save("study", {"images_per_s": args.images / study_wall, "ratio": study_wall / plain_wall,
                   "cores_busy": study_cpu / study_wall})


if __name__ == "__main__":
    main()
