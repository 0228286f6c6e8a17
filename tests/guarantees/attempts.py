"""Hostile and careless inputs to faithcam's file handling, each with the way to judge the answer.

An attempt builds its attack in a fresh folder, runs faithcam on it and says what happened:

- ``refused cleanly``: a one-line faithcam error naming the file or argument (and nothing was
  harmed);
- ``handled correctly``: accepted, and the result was checked to be right (a warning where one
  is due);
- ``unclear error``: a faithcam error that does not name what the attempt expects;
- ``silently wrong``: accepted with a wrong result, or a valid input refused;
- ``harmed``: attacker code ran, a file outside the output or an input was written, a store was
  modified before a refusal;
- ``traceback``: an exception that is not a faithcam error;
- ``hang``: no answer within the time limit (SIGALRM).

``tests/guarantees/test_attempts.py`` asserts the first two outcomes for every attempt;
``make adversarial`` (``scripts/adversarial.py``) prints the count per outcome. Attempts use
only faithcam's public entry points, so the same attempts run against an older checkout.
"""

from __future__ import annotations

import contextlib
import io
import signal
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from faithcam.errors import FaithcamError

REFUSED, HANDLED, UNCLEAR = "refused cleanly", "handled correctly", "unclear error"
WRONG, HARMED, TRACEBACK, HANG = "silently wrong", "harmed", "traceback", "hang"
OUTCOMES = (REFUSED, HANDLED, UNCLEAR, WRONG, HARMED, TRACEBACK, HANG)
GOOD = (REFUSED, HANDLED)
Verdict = tuple[str, str]  # (outcome, detail)


@dataclass(frozen=True)
class Attempt:
    name: str
    category: str
    run: Callable[[Path], Verdict]
    timeout: int = 120


_REGISTRY: list[Attempt] = []


def attempt(
    category: str, timeout: int = 120, name: str | None = None
) -> Callable[[Callable[[Path], Verdict]], Callable]:
    """Register the decorated ``run(folder) -> (outcome, detail)`` under ``name`` (default: its
    function name)."""

    def register(run: Callable[[Path], Verdict]) -> Callable[[Path], Verdict]:
        _REGISTRY.append(Attempt(name or run.__name__, category, run, timeout))
        return run

    return register


def all_attempts() -> list[Attempt]:
    from tests.guarantees import attempts_inputs, attempts_models, attempts_outputs  # noqa: F401

    return list(_REGISTRY)


def expect_refusal(
    action: Callable[[], object], *names: str, harm: Callable[[], str | None] = lambda: None
) -> Verdict:
    """``action`` must raise a one-line faithcam error containing every one of ``names``;
    ``harm()`` describes damage done anyway (None: none)."""
    try:
        action()
    except FaithcamError as error:
        text = " ".join(str(error).split())
        damage = harm()
        if damage:
            return HARMED, f"{damage} (then: {text[:150]})"
        if "\n" in str(error).strip() or not all(n in text for n in names):
            return UNCLEAR, text[:200]
        return REFUSED, text[:200]
    damage = harm()
    return (HARMED, damage) if damage else (WRONG, "accepted")


def cli(args: list[str]) -> tuple[int, str]:
    """``faithcam ARGS``: (exit code, what it printed on stderr)."""
    from faithcam.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(args)
    return code, err.getvalue()


def expect_cli_refusal(
    args: list[str], *names: str, harm: Callable[[], str | None] = lambda: None
) -> Verdict:
    """The CLI must exit with 2 and one error line containing ``names``; ``harm`` as above."""
    code, err = cli(args)
    damage = harm()
    lines = [line for line in err.splitlines() if line.startswith("faithcam: error")]
    if damage:
        return HARMED, f"{damage} (exit {code}: {' '.join(lines)[:150]})"
    if code == 0:
        return WRONG, "accepted"
    if code != 2:
        return TRACEBACK, " ".join(err.split())[:200]
    if len(lines) != 1 or not all(n in lines[0] for n in names):
        return UNCLEAR, " ".join(err.split())[:200]
    return REFUSED, lines[0][:200]


class Hang(BaseException):
    """Raised by SIGALRM; a BaseException so that no ``except Exception`` swallows it."""


def _alarm(signum, frame) -> None:
    raise Hang


def run_attempt(item: Attempt) -> Verdict:
    """Run one attempt in a fresh temporary folder, under a SIGALRM time limit."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(item.timeout)
    try:
        with tempfile.TemporaryDirectory(prefix="faithcam-attempt-") as folder:
            return item.run(Path(folder))
    except Hang:
        return HANG, f"no answer within {item.timeout} s"
    except FaithcamError as error:
        return WRONG, f"a valid input refused: {' '.join(str(error).split())[:180]}"
    except Exception as error:
        first = (str(error).strip().splitlines() or [""])[0]
        return TRACEBACK, f"{type(error).__name__}: {first}"[:200]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
