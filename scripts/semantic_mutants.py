"""Hand-written semantic mutants: does each area's tests catch a plausible wrong answer?

python scripts/semantic_mutants.py                  # every mutant (`make mutants`)
python scripts/semantic_mutants.py --group new      # issue 25's own mutants of the new modules
python scripts/semantic_mutants.py --module estimators/runner.py --list
python scripts/semantic_mutants.py --check          # every snippet still applies; runs no test

Each mutant (:mod:`semantic_mutants_catalogue`) is one small edit of ``src/faithcam/<file>``: a
snippet ``old`` that must occur exactly once, replaced by ``new``, and the test files of its
area. The source tree is copied once to a temporary folder; each mutant is applied to the copy
(never to the working tree), its tests run there (``PYTHONPATH`` = the copy, stop at the first
failure), and the copy's file is restored. A mutant is killed when a test fails or the run
exceeds its time limit (5 x the tests' time on the unmutated copy, at least 60 s). Before any
mutant, each test set must pass on the unmutated copy, else its mutants are reported as
unjudged. The kill rate is printed per module with a 95 % Wilson interval
(``mutation_score.wilson``). Results: docs/mutation.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from mutation_score import wilson
from semantic_mutants_catalogue import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parents[1]
PYTEST = ("-m", "pytest", "-x", "-q", "-rfE", "-p", "no:cacheprovider", "-W", "ignore")


def check(mutants: list[Mutant], src: Path) -> list[str]:
    """A problem line per mutant whose ``old`` snippet does not occur exactly once."""
    problems = []
    for mutant in mutants:
        count = (src / "faithcam" / mutant.file).read_text().count(mutant.old)
        if count != 1:
            problems.append(f"{mutant.file}: {mutant.name}: 'old' occurs {count} times")
        for test in mutant.tests:
            if not (ROOT / test.split("::")[0]).is_file():
                problems.append(f"{mutant.file}: {mutant.name}: no test file {test}")
    return problems


def run_tests(copy: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, str]:
    """('passed' | 'failed' | 'timeout', what) of the tests against the copy's source: what =
    the seconds taken, or the first failing test."""
    env = dict(os.environ, PYTHONPATH=f"{copy}{os.pathsep}{ROOT}", PYTHONDONTWRITEBYTECODE="1")
    env.setdefault("OMP_NUM_THREADS", "1")
    start = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, *PYTEST, *tests], cwd=ROOT, env=env, timeout=timeout,
            capture_output=True, text=True,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "timeout", f"{time.monotonic() - start:.0f}"
    if done.returncode == 0:
        return "passed", f"{time.monotonic() - start:.0f}"
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return "failed", (failed[0].split(" - ")[0] if failed else f"exit {done.returncode}")


def copy_source(target: Path) -> Path:
    """src/ copied to ``target``/src (no byte code); checks that Python imports it there."""
    copy = target / "src"
    shutil.copytree(ROOT / "src", copy, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    found = subprocess.run(
        [sys.executable, "-c", "import faithcam; print(faithcam.__file__)"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if not found.startswith(str(copy)):
        raise SystemExit(f"the copy is not imported first (faithcam from {found})")
    return copy


def judge(mutants: list[Mutant], copy: Path) -> dict[str, str]:
    """Each mutant's name -> 'killed', 'killed (timeout)', 'survived' or 'unjudged'."""
    baseline: dict[tuple[str, ...], float | None] = {}
    for tests in dict.fromkeys(m.tests for m in mutants):
        status, what = run_tests(copy, tests, timeout=1800)
        baseline[tests] = float(what) if status == "passed" else None
        print(f"unmutated: {status} ({what}): {' '.join(tests)}", flush=True)
    outcome = {}
    for mutant in mutants:
        seconds = baseline[mutant.tests]
        if seconds is None:
            outcome[mutant.key] = "unjudged"
            continue
        path = copy / "faithcam" / mutant.file
        original = path.read_text()
        path.write_text(original.replace(mutant.old, mutant.new, 1))
        try:
            status, what = run_tests(copy, mutant.tests, timeout=max(60.0, 5 * seconds))
        finally:
            path.write_text(original)
        outcome[mutant.key] = {"failed": "killed", "timeout": "killed (timeout)"}.get(
            status, "survived"
        )
        by = f"  <- {what}" if status == "failed" else ""
        print(f"{outcome[mutant.key]:<17} {mutant.key}{by}", flush=True)
    return outcome


def report(mutants: list[Mutant], outcome: dict[str, str]) -> None:
    """Kill rate per module and in all, with 95 % Wilson intervals; the survivors."""
    by_module: dict[str, list[str]] = defaultdict(list)
    for mutant in mutants:
        by_module[mutant.file].append(outcome[mutant.key])
    by_module["all"] = [outcome[m.key] for m in mutants]
    print(f"\n{'module':<34}{'killed':>8}{'judged':>8}{'rate':>8}{'95 % interval':>16}")
    for module, results in by_module.items():
        judged = [r for r in results if r != "unjudged"]
        killed = sum(r.startswith("killed") for r in judged)
        if not judged:
            print(f"{module:<34}{'':>8}{0:>8}   (unjudged: the tests fail unmutated)")
            continue
        low, high = wilson(killed, len(judged))
        print(f"{module:<34}{killed:>8}{len(judged):>8}{100 * killed / len(judged):>7.1f}%"
              f"{f'{100 * low:.1f}–{100 * high:.1f} %':>16}")  # fmt: skip
    for mutant in mutants:
        if outcome[mutant.key] in ("survived", "unjudged"):
            print(f"{outcome[mutant.key]}: {mutant.key}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", choices=sorted({m.group for m in MUTANTS}))
    parser.add_argument("--module", help="only mutants of files whose path contains this")
    parser.add_argument("--name", help="only mutants whose name contains this")
    parser.add_argument("--tests", nargs="+", help="run these test files instead of the area's")
    parser.add_argument("--rerun", type=Path, metavar="REPORT",
                        help="only the survivors listed in an earlier report")  # fmt: skip
    parser.add_argument("--list", action="store_true", help="list the selected mutants")
    parser.add_argument("--check", action="store_true", help="check the snippets; no tests")
    args = parser.parse_args(argv)
    mutants = [
        m for m in MUTANTS
        if (args.group is None or m.group == args.group)
        and (args.module is None or args.module in m.file)
        and (args.name is None or args.name in m.name)
    ]  # fmt: skip
    if args.rerun:
        survived = {line.split(maxsplit=1)[1].removeprefix(": ")
                    for line in args.rerun.read_text().splitlines()
                    if line.startswith(("survived", "unjudged"))}  # fmt: skip
        mutants = [m for m in mutants if m.key in survived]
    if args.tests:
        mutants = [replace(m, tests=tuple(args.tests)) for m in mutants]
    problems = check(mutants, ROOT / "src")
    if problems or args.check:
        print("\n".join(problems) or f"{len(mutants)} mutants apply")
        return 1 if problems else 0
    if args.list:
        print("\n".join(f"{m.key}  [{' '.join(m.tests)}]" for m in mutants))
        return 0
    with tempfile.TemporaryDirectory(prefix="faithcam-mutants-") as folder:
        outcome = judge(mutants, copy_source(Path(folder)))
    report(mutants, outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
