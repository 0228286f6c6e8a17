"""Mutation score per tier from mutmut's results (``make mutation`` runs it after mutmut).

python scripts/mutation_score.py [--survivors]

Reads ``mutants/src/faithcam/<tier>/**/*.meta`` (mutmut 3's per-file exit codes): a mutant is
killed when a test failed (or timed out) on it; it survives when every test passed or when no
test reaches it. Score = killed / checked, per tier and per file; unchecked mutants (a partial
run) are counted apart.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

TIERS = ("engine", "cams", "metrics", "studies")
KILLED = {1, 3, 24, -24, 36, 152, 255, 37, -9, -11}  # test failure, timeout, type check, crash
SURVIVED = {0, 5, 33}  # tests passed, or no test reaches the mutant


def _status(code: int | None) -> str:
    if code is None:
        return "unchecked"
    if code in KILLED:
        return "killed"
    return "survived" if code in SURVIVED else "other"


def collect(root: Path) -> tuple[dict[str, Counter], list[str]]:
    """Killed / survived / unchecked counts per file, and the surviving mutants' names."""
    by_file: dict[str, Counter] = {}
    survivors: list[str] = []
    for meta in sorted(root.glob("**/*.py.meta")):
        exit_codes = json.loads(meta.read_text())["exit_code_by_key"]
        counts: Counter = Counter()
        for name, code in exit_codes.items():
            status = _status(code)
            counts[status] += 1
            if status == "survived":
                survivors.append(name)
        by_file[str(meta.relative_to(root)).removesuffix(".meta")] = counts
    return by_file, survivors


def main(argv: list[str]) -> int:
    root = Path("mutants/src/faithcam")
    if not root.is_dir():
        print("no mutants/ folder: run `make mutation` (mutmut run) first", file=sys.stderr)
        return 1
    by_file, survivors = collect(root)
    print(f"{'tier / file':<36}{'killed':>8}{'checked':>9}{'score':>8}{'unchecked':>11}")
    for tier in TIERS:
        files = {f: c for f, c in by_file.items() if f.startswith(f"{tier}/")}
        total: Counter = Counter()
        for counts in files.values():
            total.update(counts)
        checked = total["killed"] + total["survived"]
        if not checked:
            continue
        score = 100 * total["killed"] / checked
        print(f"{tier:<36}{total['killed']:>8}{checked:>9}{score:>7.1f}%{total['unchecked']:>11}")
        for name, counts in files.items():
            done = counts["killed"] + counts["survived"]
            if done:
                pct = 100 * counts["killed"] / done
                print(f"  {name:<34}{counts['killed']:>8}{done:>9}{pct:>7.1f}%")
    if "--survivors" in argv:
        print("\n".join(survivors))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
