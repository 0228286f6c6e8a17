"""Issue 22's bound on the call path: a Grad-CAM call runs at most 45 distinct faithcam
functions (scripts/count_calls.py; 82 before the issue)."""

from __future__ import annotations

from tests.project.test_lint_scripts import load_script

MAX_FUNCTIONS = 45


def test_a_gradcam_call_runs_at_most_45_faithcam_functions() -> None:
    functions, files, moves = load_script("count_calls").gradcam_resnet18()
    listing = "\n".join(
        f"{path.split('/faithcam/')[-1]}:{line} {name}" for path, name, line in sorted(functions)
    )
    assert len(functions) <= MAX_FUNCTIONS, (
        f"{len(functions)} functions in {len(files)} files ({moves} module moves):\n{listing}"
    )
    assert {name for _, name, _ in functions} >= {"explain", "capture", "gradcam"}
