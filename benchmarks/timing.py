"""Shared benchmark helpers: alternate the sides (A B C A B C ...), repeat, report best and
median, and measure peak resident memory of one configuration in a fresh subprocess."""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def alternate(sides: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Run every side once as warm-up, then ``repeats`` rounds of all sides in turn."""
    for fn in sides.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, fn in sides.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def summarise(times: dict[str, list[float]], reference: str, per: int = 1) -> list[dict]:
    """Rows of best / median seconds (per ``per`` items) and ratios to ``reference``."""
    best_ref = min(times[reference])
    median_ref = statistics.median(times[reference])
    rows = []
    for name, values in times.items():
        best, median = min(values), statistics.median(values)
        rows.append(
            {
                "side": name,
                "best_s": best / per,
                "median_s": median / per,
                "ratio_best": best / best_ref,
                "ratio_median": median / median_ref,
            }
        )
    return rows


def print_rows(title: str, rows: list[dict], unit: str = "per image") -> None:
    print(f"\n{title}")
    header = ("side", "best ms", "median ms", "x ref (best)", "x ref (median)")
    print("  {:<28} {:>9} {:>10} {:>13} {:>15}".format(*header))
    for row in rows:
        print(
            f"  {row['side']:<28} {1000 * row['best_s']:>9.1f} {1000 * row['median_s']:>10.1f}"
            f" {row['ratio_best']:>13.3f} {row['ratio_median']:>15.3f}"
        )
    print(f"  (times {unit})")


def peak_rss_mib(code: str) -> float:
    """Peak RSS growth (MiB) while ``run()`` executes, in a fresh interpreter.

    ``code`` must define ``setup()`` and ``run()``. A thread samples /proc/self/statm every
    millisecond during ``run()``; the result is the peak minus the RSS just before it.
    """
    script = (
        code
        + """
import os, threading, time
setup()
page = os.sysconf("SC_PAGE_SIZE")
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * page
start, peak, done = rss(), [0], [False]
def sample():
    while not done[0]:
        peak[0] = max(peak[0], rss())
        time.sleep(0.001)
thread = threading.Thread(target=sample)
thread.start()
run()
done[0] = True
thread.join()
print((max(peak[0], rss()) - start) / 2**20)
"""
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def save(name: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "python": sys.version.split()[0],
        "maxrss_self_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **payload,
    }
    path.write_text(json.dumps(payload, indent=2))
    return path


def user_code_sides(packages: dict[str, str], code: str, names: dict, **fields) -> dict:
    """``{side: run}``: ``code`` (defining ``run()``) formatted with each side's package
    (``{pkg}``) and ``fields``, executed with the globals ``names`` (model, input...)."""
    sides = {}
    for side, pkg in packages.items():
        namespace = dict(names)
        exec(code.format(pkg=pkg, **fields), namespace)
        sides[side] = namespace["run"]
    return sides
