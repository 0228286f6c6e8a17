"""Run the adversarial attempts of tests/guarantees and print the count per outcome.

    python scripts/adversarial.py            # every attempt, one line each, then the counts
    python scripts/adversarial.py -k store   # the attempts whose name contains "store"

The attempts use only faithcam's public entry points: with PYTHONPATH pointing at another
checkout's src, the same attempts measure that checkout (the before / after counts of a fix).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="run the attempts whose name contains this")
    args = parser.parse_args()
    from tests.guarantees.attempts import OUTCOMES, all_attempts, run_attempt

    import faithcam

    warnings.simplefilter("ignore")
    chosen = [a for a in all_attempts() if args.k in a.name]
    print(f"faithcam from {Path(faithcam.__file__).parent}: {len(chosen)} attempts")
    counts: Counter[str] = Counter()
    for item in chosen:
        outcome, detail = run_attempt(item)
        counts[outcome] += 1
        print(f"{outcome:<18} {item.name:<48} {detail}", flush=True)
    print("\n" + ", ".join(f"{outcome}: {counts[outcome]}" for outcome in OUTCOMES))
    bad = sum(counts[o] for o in OUTCOMES[2:])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
