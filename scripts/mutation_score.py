"""Mutation score per tier from mutmut's results (``make mutation`` runs it after mutmut).

python scripts/mutation_score.py [--survivors]
python scripts/mutation_score.py --sample N [--seed S] --list   # N mutant names per tier
python scripts/mutation_score.py --sample N [--seed S]          # the score of that sample
python scripts/mutation_score.py --results RESULTS.jsonl        # a mutation_direct.py record

Reads ``mutants/src/faithcam/<tier>/**/*.meta`` (mutmut 3's per-file exit codes): a mutant is
killed when a test failed (or timed out) on it; it survives when every test passed or when no
test reaches it. Score = killed / checked, per tier and per file, with a 95 % Wilson interval;
unchecked mutants (a partial or sampled run) are counted apart. ``--results`` scores the
record of ``scripts/mutation_direct.py`` instead (exit 1 killed; 0 or 33 survived; a run over its
cap unchecked), with the same table.

The core tiers hold about 10,600 mutants, some nine hours of mutmut on two cores. ``--sample``
draws a seeded, uniform random sample per tier (``make mutation-sample``); the score of a
sample estimates the tier's score, and the interval says how well.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

from scipy.stats import binomtest

TIERS = ("engine", "cams", "metrics", "studies")
KILLED = {1, 3, 24, -24, 36, 152, 255, 37, -9, -11}  # test failure, timeout, type check, crash
SURVIVED = {0, 5, 33}  # tests passed, or no test reaches the mutant
ROOT = Path("mutants/src/faithcam")
MANGLED = re.compile(r"\.x(?:_|ǁ)")  # where mutmut's mangled function name starts


def _status(code: int | None) -> str:
    if code is None:
        return "unchecked"
    if code in KILLED:
        return "killed"
    return "survived" if code in SURVIVED else "other"


def exit_codes(root: Path) -> dict[str, dict[str, int | None]]:
    """Each mutated file (relative to ``root``) -> {mutant name: exit code or None}."""
    return {
        str(meta.relative_to(root)).removesuffix(".meta"): json.loads(meta.read_text())[
            "exit_code_by_key"
        ]
        for meta in sorted(root.glob("**/*.py.meta"))
    }


def recorded_codes(results: Path) -> dict[str, dict[str, int | None]]:
    """The same mapping as :func:`exit_codes`, from a mutation_direct.py JSONL record (its file
    key is the module path, e.g. ``engine/capture.py``; an unfinished run is unchecked)."""
    codes: dict[str, dict[str, int | None]] = {}
    for line in results.read_text().splitlines():
        record = json.loads(line)
        module = MANGLED.split(record["name"], maxsplit=1)[0].removeprefix("faithcam.")
        code = record["exit"] if isinstance(record["exit"], int) else None
        codes.setdefault(module.replace(".", "/") + ".py", {})[record["name"]] = code
    return codes


def wilson(killed: int, checked: int) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion killed / checked (scipy's binomtest)."""
    if not checked:
        return 0.0, 1.0
    found = binomtest(killed, checked).proportion_ci(0.95, method="wilson")
    return float(found.low), float(found.high)


def sample(codes: dict[str, dict[str, int | None]], per_tier: int, seed: int) -> list[str]:
    """A seeded uniform sample of ``per_tier`` mutant names from each tier."""
    rng = random.Random(seed)
    names: list[str] = []
    for tier in TIERS:
        pool = sorted(n for f, c in codes.items() if f.startswith(f"{tier}/") for n in c)
        names += rng.sample(pool, min(per_tier, len(pool)))
    return names


def report(codes: dict[str, dict[str, int | None]]) -> list[str]:
    """Print the score table; return the surviving mutants' names."""
    print(f"{'tier / file':<36}{'killed':>8}{'checked':>9}{'score':>8}{'95 % interval':>16}"
          f"{'unchecked':>11}")  # fmt: skip
    survivors = []
    for tier in TIERS:
        files = {f: c for f, c in codes.items() if f.startswith(f"{tier}/")}
        by_file = {f: Counter(_status(code) for code in c.values()) for f, c in files.items()}
        total: Counter = Counter()
        for counts in by_file.values():
            total.update(counts)
        survivors += [n for c in files.values() for n, code in c.items()
                      if _status(code) == "survived"]  # fmt: skip
        checked = total["killed"] + total["survived"]
        if not checked:
            continue
        low, high = wilson(total["killed"], checked)
        interval = f"{100 * low:.1f}–{100 * high:.1f} %"
        score = 100 * total["killed"] / checked
        print(f"{tier:<36}{total['killed']:>8}{checked:>9}{score:>7.1f}%{interval:>16}"
              f"{total['unchecked']:>11}")  # fmt: skip
        for name, counts in by_file.items():
            done = counts["killed"] + counts["survived"]
            if done:
                pct = 100 * counts["killed"] / done
                print(f"  {name:<34}{counts['killed']:>8}{done:>9}{pct:>7.1f}%")
    return survivors


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--survivors", action="store_true", help="list the surviving mutants")
    parser.add_argument("--sample", type=int, metavar="N", help="score N mutants per tier only")
    parser.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    parser.add_argument("--list", action="store_true", help="print the sample's names, no score")
    parser.add_argument("--results", type=Path, help="score a mutation_direct.py JSONL record")
    args = parser.parse_args(argv)
    if args.results is not None:
        survivors = report(recorded_codes(args.results))
        if args.survivors:
            print("\n".join(survivors))
        return 0
    if not ROOT.is_dir():
        print("no mutants/ folder: run `make mutation` (mutmut run) first", file=sys.stderr)
        return 1
    codes = exit_codes(ROOT)
    if args.sample is not None:
        chosen = set(sample(codes, args.sample, args.seed))
        if args.list:
            print("\n".join(sorted(chosen)))
            return 0
        codes = {f: {n: c for n, c in by_name.items() if n in chosen}
                 for f, by_name in codes.items()}  # fmt: skip
    survivors = report(codes)
    if args.survivors:
        print("\n".join(survivors))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
