"""The automatic layer on every torchvision classifier family and dense set-up of
tests/layer_cases.py, against the layer the community explains, as a Markdown table.

    python scripts/auto_layers.py            # every case (about a minute on two CPU cores)
    python scripts/auto_layers.py --fast     # the representative subset the tests run

Models have random weights from a fixed seed; a pick is "ok" when it is the community's layer
or returns the very same tensor (a container whose last child it is). With PYTHONPATH pointing
at another checkout's src, the same table measures that checkout.
"""

from __future__ import annotations

import argparse
import gc
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package


def judge(case) -> tuple[str, str, str]:
    """(picked layer or the refusal, ok / WRONG, the warning if any) for one case."""
    from tests.layer_cases import same_map

    from faithcam.engine.layers import resolve_layer
    from faithcam.errors import FaithcamError

    model = case.build()
    example = torch.rand(1, 3, case.size, case.size)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            picked = resolve_layer(model, None, example).name
        except FaithcamError as error:
            return f"refused: {str(error)[:60]}", "ok" if not case.community else "WRONG", ""
    said = " ".join(str(w.message) for w in caught if "layer" in str(w.message))[:70]
    if not case.community:  # no layer makes sense: a warning or a refusal is due
        return picked, "ok" if said else "WRONG (no warning)", said
    ok = same_map(model, picked, case.community, case.size)
    return picked, "ok" if ok else "WRONG", said


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="the representative subset only")
    args = parser.parse_args()
    from tests.layer_cases import CASES

    torch.set_num_threads(1)
    print("| model | automatic layer | community layer | ok? | warning |")
    print("|---|---|---|---|---|")
    wrong = 0
    for case in CASES:
        if args.fast and not case.fast:
            continue
        picked, verdict, said = judge(case)
        wrong += verdict != "ok"
        community = " / ".join(f"`{c}`" for c in case.community) or "(none)"
        print(f"| {case.name} | `{picked}` | {community} ({case.source}) | {verdict} | {said} |")
        gc.collect()
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
