"""Two versions of faithcam on the same workloads, alternating, for refactors that must not
cost speed: each round runs every version in a fresh process (A B A B ...), and each process
times every workload and plain inference on the same model, so each version's ratio to plain
inference is measured in its own process, next to the other version's.

    .venv/bin/python -m benchmarks.bench_versions OLD_SRC NEW_SRC [--rounds 3] [--repeats 3]

OLD_SRC / NEW_SRC are ``src`` folders (e.g. of ``git worktree add --detach /tmp/old main``).
Prints, per workload, the median ms per image of each version, its ratio to plain inference,
and new / old (< 1: the new version is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap

from benchmarks.timing import save

# (name, model, batch, explain arguments)
WORKLOADS = [
    ("gradcam resnet50 b8", "resnet50", 8, "'gradcam', layer='layer4'"),
    ("gradcam resnet18 b4", "resnet18", 4, "'gradcam', layer='layer4'"),
    ("hirescam 2 layers", "resnet18", 4, "'hirescam', layer=['layer3', 'layer4']"),
    ("integrated-gradcam m=16", "resnet18", 4, "'integrated-gradcam', steps=16"),
    ("expected-gradcam n=16", "resnet18", 4, "'expected-gradcam', samples=16, seed=0"),
    ("smoothgradcam++ n=16 tol", "resnet18", 4,
     "'smoothgradcam++', samples=16, tolerance=0.05, seed=0"),
    ("gradcam aug_smooth", "resnet18", 4, "'gradcam', aug_smooth=True"),
    ("shapleycam", "resnet18", 4, "'shapleycam'"),
    ("fullgrad", "resnet18", 4, "'fullgrad'"),
    ("ablationcam", "resnet18", 4, "'ablationcam', batch_size=256"),
    ("eigencam", "resnet18", 4, "'eigencam'"),
]  # fmt: skip

CHILD = """
import json, statistics, sys, time, torch, torchvision, faithcam
torch.set_num_threads({threads})
repeats, results = {repeats}, {{}}
models = {{}}
for name, arch, batch, call in {workloads!r}:
    if arch not in models:
        torch.manual_seed(0)
        models[arch] = torchvision.models.__dict__[arch](weights=None).eval()
    model = models[arch]
    images = torch.rand(batch, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    explain = eval("lambda: faithcam.explain(model, images, " + call + ")")
    def plain():
        with torch.inference_mode():
            model(images)
    explain(); plain()
    times = {{"explain": [], "plain": []}}
    for _ in range(repeats):
        for side, fn in (("explain", explain), ("plain", plain)):
            start = time.perf_counter(); fn(); times[side].append(time.perf_counter() - start)
    results[name] = {{k: statistics.median(v) / batch for k, v in times.items()}}
print(json.dumps(results))
"""


def run_version(
    src: str, repeats: int, threads: int, workloads: list[tuple]
) -> dict[str, dict[str, float]]:
    code = CHILD.format(repeats=repeats, threads=threads, workloads=workloads)
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="src folder of the old version")
    parser.add_argument("new", help="src folder of the new version")
    parser.add_argument("--rounds", type=int, default=3, help="A B rounds (fresh processes)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per process")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="+", help="workloads whose name contains one of these")
    args = parser.parse_args()
    workloads = [w for w in WORKLOADS if not args.only or any(o in w[0] for o in args.only)]
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for _ in range(args.rounds):
        for side in ("old", "new"):
            src = getattr(args, side)
            runs[side].append(run_version(src, args.repeats, args.threads, workloads))
    rows = []
    print(f"{'workload':<26} {'old ms':>8} {'new ms':>8} {'old x inf':>10} "
          f"{'new x inf':>10} {'new/old':>8}")  # fmt: skip
    for name, *_ in workloads:
        row = {"workload": name}
        for side in ("old", "new"):
            explain = statistics.median(r[name]["explain"] for r in runs[side])
            ratio = statistics.median(r[name]["explain"] / r[name]["plain"] for r in runs[side])
            row[f"{side}_ms"], row[f"{side}_x_inference"] = 1000 * explain, ratio
        row["new_over_old"] = row["new_x_inference"] / row["old_x_inference"]
        rows.append(row)
        print(f"{name:<26} {row['old_ms']:>8.1f} {row['new_ms']:>8.1f} "
              f"{row['old_x_inference']:>10.3f} {row['new_x_inference']:>10.3f} "
              f"{row['new_over_old']:>8.3f}")  # fmt: skip
    save("versions", {"rounds": args.rounds, "repeats": args.repeats, "rows": rows})


if __name__ == "__main__":
    main()
