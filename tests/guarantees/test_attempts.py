"""Every adversarial attempt (tests/guarantees/attempts_*.py) is refused cleanly or handled
correctly; ``make adversarial`` prints the same attempts' counts per outcome."""

from __future__ import annotations

import pytest

from tests.guarantees.attempts import GOOD, all_attempts, run_attempt


@pytest.mark.parametrize("item", all_attempts(), ids=lambda item: item.name)
def test_attempt_is_refused_cleanly_or_handled(item) -> None:
    outcome, detail = run_attempt(item)
    assert outcome in GOOD, f"{item.category}: {outcome}: {detail}"
