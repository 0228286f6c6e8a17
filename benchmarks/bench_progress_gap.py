"""The slowest gap between two progress updates of the command line, as a user sees it in a
terminal (issue 26: explain sat at 0/4 for 2 min 23 s, then jumped to 4/4).

Each command runs in a pseudo-terminal (so its progress line is shown, as in a terminal);
every redraw of the line (a carriage return) is timestamped. Reported: the seconds from the
start to the first update, the slowest gap between two consecutive updates, the number of
updates and the wall time. Workloads, on scikit-image's photos chelsea, coffee, astronaut and
rocket with the offline MobileNetV2 at 224 x 224 and the default settings:

- ``explain`` of the 4 photos with Expected Grad-CAM;
- ``evaluate`` of the 4 photos with 3 methods (gradcam, hirescam, expected-gradcam).

    .venv/bin/python -m benchmarks.bench_progress_gap [--threads 2] [--only explain]
"""

from __future__ import annotations

import argparse
import itertools
import os
import pty
import resource
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.timing import RESULTS, save

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
MODEL = ("--model", "mobilenet_v2-imagenet")
WORKLOADS = {
    "explain": ("explain", "{photos}", *MODEL, "--method", "expected-gradcam"),
    "evaluate": ("evaluate", "{photos}", *MODEL, "--method", "gradcam,hirescam,expected-gradcam"),
}


def write_photos(folder: Path) -> None:
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True)
    for name in PHOTOS:
        Image.fromarray(getattr(data, name)()).save(folder / f"{name}.png")


def updates(command: list[str], env: dict[str, str]) -> tuple[list[float], float, str, float]:
    """Run ``command`` with its stderr on a pseudo-terminal: the times (from the start) of
    every progress redraw, the wall time, the last line drawn and the CPU seconds the command
    used (user + system: on a shared machine, CPU / wall says how much of it the run got)."""
    used_before = _children_cpu()
    main_fd, child_fd = pty.openpty()
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=child_fd, env=env
    )
    os.close(child_fd)
    times, text = [], ""
    while True:
        ready, _, _ = select.select([main_fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(main_fd, 65536).decode(errors="replace")
            except OSError:  # the child closed the terminal
                break
            now = time.perf_counter() - start
            for part in chunk.split("\r")[1:]:  # each redraw starts with a carriage return
                if part.strip("\x1b[K \n"):
                    times.append(now)
                    text = part.replace("\x1b[K", "").strip()
        elif process.poll() is not None:
            break
    process.wait()
    os.close(main_fd)
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} exited with {process.returncode}")
    return times, time.perf_counter() - start, text, _children_cpu() - used_before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_updates(argv: list[str], log: Path | None = None) -> list[float]:
    """Run the command in this process on one thread, recording this process's CPU seconds
    each time a progress line's position moves (:class:`Progress` ``advance`` / ``fraction``).
    On a shared machine the wall time between two updates grows with the load; the CPU
    seconds between them are what one idle core would take (an upper bound for two)."""
    import torch

    from faithcam.cli import main as faithcam
    from faithcam.engine import progress

    torch.set_num_threads(1)
    stamps: list[float] = []
    original = progress.Progress.advance, progress.Progress.fraction

    def stamp() -> None:
        stamps.append(time.process_time())
        if log is not None:  # a partial record, should the run be stopped
            with log.open("a") as file:
                file.write(f"{stamps[-1] - start:.3f}\n")

    def advance(self, *args, **kwargs):
        stamp()
        return original[0](self, *args, **kwargs)

    def fraction(self, *args, **kwargs):
        stamp()
        return original[1](self, *args, **kwargs)

    if log is not None:
        log.parent.mkdir(exist_ok=True)
        log.write_text("")
    progress.Progress.advance, progress.Progress.fraction = advance, fraction
    try:
        start = time.process_time()
        if faithcam(argv):
            raise RuntimeError(f"faithcam {' '.join(argv)} failed")
    finally:
        progress.Progress.advance, progress.Progress.fraction = original
    return [t - start for t in stamps]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=sorted(WORKLOADS))
    parser.add_argument(
        "--cpu", action="store_true",
        help="CPU seconds between updates, in this process on one thread (load-independent)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.cpu:
        return main_cpu(args.only)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "COLUMNS": "160"}
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        photos = Path(scratch) / "photos"
        write_photos(photos)
        for name, template in WORKLOADS.items():
            if args.only and name != args.only:
                continue
            out = Path(scratch) / f"out-{name}"
            command = [sys.executable, "-m", "faithcam"]
            command += [part.format(photos=photos) for part in template] + ["--out", str(out)]
            load_before = os.getloadavg()[0]
            times, wall, last, cpu = updates(command, env)
            gaps = [b - a for a, b in itertools.pairwise(times)]
            slowest = max(range(len(gaps)), key=gaps.__getitem__) if gaps else None
            results[name] = {
                # the machine is shared: its load says how contended the timings were
                "load_1min": [load_before, os.getloadavg()[0]],
                "slowest_gap_after_update": slowest,
                "first_update_s": times[0] if times else None,
                "slowest_gap_s": max(gaps) if gaps else None,
                "updates": len(times),
                "wall_s": wall,
                "cpu_s": cpu,
                "last_line": last,
                "update_times_s": [round(t, 2) for t in times],
            }
            row = results[name]
            print(
                f"{name:<9} first update {row['first_update_s']:.1f} s, slowest gap "
                f"{row['slowest_gap_s']:.2f} s, {row['updates']} updates, wall {wall:.0f} s, "
                f"CPU {cpu:.0f} s, load {row['load_1min'][0]:.1f}"
                f"\n          last line: {last}",
                flush=True,
            )
    save(
        "progress_gap",
        {"threads": args.threads, "cpus": os.cpu_count(), "photos": PHOTOS, "results": results},
    )



def main_cpu(only: str | None) -> None:
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        photos = Path(scratch) / "photos"
        write_photos(photos)
        for name, template in WORKLOADS.items():
            if only and name != only:
                continue
            argv = [part.format(photos=photos) for part in template]
            argv += ["--out", str(Path(scratch) / f"out-{name}")]
            stamps = cpu_updates(argv, RESULTS / f"progress_gap_cpu_{name}.log")
            gaps = [b - a for a, b in itertools.pairwise(stamps)]
            results[name] = {
                "first_update_cpu_s": stamps[0] if stamps else None,
                "slowest_gap_cpu_s": max(gaps) if gaps else None,
                "updates": len(stamps),
                "update_cpu_s": [round(t, 2) for t in stamps],
            }
            print(
                f"{name:<9} one thread: first update after {stamps[0]:.1f} CPU s, slowest gap "
                f"{max(gaps):.2f} CPU s, {len(stamps)} updates",
                flush=True,
            )
    save(f"progress_gap_cpu{'_' + only if only else ''}", {"threads": 1, "photos": PHOTOS,
                                                          "results": results})


if __name__ == "__main__":
    sys.exit(main())
