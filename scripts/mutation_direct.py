"""Run named mutmut mutants to the end against their covering tests, without mutmut's timers.

python scripts/mutation_direct.py NAMES_FILE RESULTS.jsonl [--workers 2] [--cap 1800]

For each mutant name (one per line in NAMES_FILE, e.g. from ``mutation_score.py --sample N
--seed S --list``), runs the tests that mutmut's stats (``mutants/mutmut-stats.json``) say reach
the mutated function, fastest first, with ``-x``, in ``mutants/`` with the mutant switched on
through ``MUTANT_UNDER_TEST`` (mutmut's trampoline), in a fresh Python process. Appends one JSON
line per mutant: exit code (1: a test failed = killed; 0: every test passed = survived; 33: no
test reaches it = survived, as mutmut counts it), seconds, the number of tests and the first
failure. A run over ``--cap`` seconds is recorded as "unfinished", never as killed. Mutants
already in RESULTS are skipped, so a stopped run resumes.

Why: mutmut 3.8.1 also kills a mutant's run on a wall-clock timer of timeout_multiplier x (the
covering tests' recorded time + 1 s), and on a loaded shared machine that timer fires on runs
that are merely slow, recording them as timeouts (killed). docs/mutation.md has the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mutmut.__main__ import mangled_name_from_mutant_name

# no "-W ignore": tests that read the warnings a CLI prints would fail on every mutant (false kills)
PYTEST = ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "--tb=line"]


def _selection_args() -> list[str]:
    """The marker / keyword filters of pyproject's [tool.mutmut] pytest_add_cli_args."""
    import tomllib

    config = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["mutmut"]
    args = list(config.get("pytest_add_cli_args", []))
    return [a for a in args if a not in ("-p", "no:cacheprovider")]


def _run_one(name: str, tests: list[str], cap: float, extra: list[str]) -> dict:
    start = time.time()
    if not tests:
        return {"name": name, "exit": 33, "seconds": 0.0, "tests": 0, "first_failure": ""}
    env = dict(os.environ, MUTANT_UNDER_TEST=name, PYTHONPATH="src", OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "pytest", "--rootdir=.", *PYTEST, *extra, *tests]
    try:
        done = subprocess.run(
            command, cwd="mutants", env=env, capture_output=True, text=True, timeout=cap
        )
        code: int | str = done.returncode
        lines = done.stdout.splitlines()
        first = next((line for line in lines if line.startswith(("FAILED", "ERROR"))), "")
    except subprocess.TimeoutExpired:
        code, first = "unfinished", f"over {cap:.0f} s"
    seconds = round(time.time() - start, 1)
    return {"name": name, "exit": code, "seconds": seconds, "tests": len(tests),
            "first_failure": first[:300]}  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", type=Path)
    parser.add_argument("results", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cap", type=float, default=1800.0, help="seconds per mutant")
    args = parser.parse_args(argv)
    stats = json.loads(Path("mutants/mutmut-stats.json").read_text())
    duration, reaching = stats["duration_by_test"], stats["tests_by_mangled_function_name"]
    done = set()
    if args.results.exists():
        done = {json.loads(line)["name"] for line in args.results.read_text().splitlines()}
    jobs = []
    for name in args.names.read_text().split():
        tests = reaching.get(mangled_name_from_mutant_name(name), [])
        tests = sorted(tests, key=lambda test: duration.get(test, 0.0))
        if name not in done:
            jobs.append((sum(duration.get(test, 0.0) for test in tests), name, tests))
    extra = _selection_args()

    def work(job: tuple[float, str, list[str]]) -> None:
        record = _run_one(job[1], job[2], args.cap, extra)
        with args.results.open("a") as out:
            out.write(json.dumps(record) + "\n")

    with ThreadPoolExecutor(args.workers) as pool:
        list(pool.map(work, sorted(jobs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
