"""The progress reporter (faithcam.engine.progress): ETA from measured rates per kind, the
automatic display rule, fractions from inner loops, and the line's text."""

from __future__ import annotations

import io

import pytest

from faithcam.engine import progress as progress_module
from faithcam.engine.progress import Progress, current, format_seconds, track


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


def renders(stream: io.StringIO) -> list[str]:
    """The lines drawn on a terminal (each starts with a carriage return)."""
    return [part.replace("\x1b[K", "") for part in stream.getvalue().split("\r") if part.strip()]


def test_eta_uses_each_kinds_measured_rate():
    """Kind a costs 1 s a unit, kind b 5 s: once one b unit is measured the ETA of the rest is
    exact; before, unseen b units are priced at the mean rate so far (1 s)."""
    clock = Clock()
    bar = Progress({"a": 4, "b": 4}, stream=io.StringIO(), clock=clock)
    assert bar.eta() is None  # nothing measured yet
    for _ in range(4):
        clock.tick(1.0)
        bar.advance(1, "a")
    assert bar.eta() == pytest.approx(4 * 1.0)  # b unseen: the mean of a
    clock.tick(5.0)
    bar.advance(1, "b")
    assert bar.eta() == pytest.approx(3 * 5.0)
    clock.tick(5.0)
    bar.advance(1, "b")
    assert bar.eta() == pytest.approx(2 * 5.0)


def test_eta_of_a_task_in_flight_follows_its_fraction():
    clock = Clock()
    bar = Progress({"x": 2}, stream=io.StringIO(), clock=clock)
    with bar.task(1, "x"):
        clock.tick(3.0)
        bar.fraction(0.25)  # 3 s for a quarter: 9 s left in the task, 12 s for the next unit
        assert bar.position() == pytest.approx(0.25)
        assert bar.eta() == pytest.approx(9.0 + 12.0, rel=1e-6)
    assert bar.done == 1
    assert bar.eta() == pytest.approx(3.0)  # the unit took 3 s


def test_fraction_never_moves_backwards_and_ignores_no_task():
    clock = Clock()
    bar = Progress(4, stream=io.StringIO(), clock=clock)
    bar.fraction(0.9)  # no task in flight: nothing happens
    assert bar.position() == 0
    with bar.task(2):
        bar.fraction(0.5)
        bar.fraction(0.2)
        assert bar.position() == pytest.approx(1.0)


def test_not_shown_on_a_plain_stream_unless_forced():
    clock = Clock()
    plain = io.StringIO()
    bar = Progress(3, stream=plain, clock=clock)
    for _ in range(3):
        clock.tick(10.0)
        bar.advance()
    bar.close()
    assert plain.getvalue() == ""
    forced = io.StringIO()
    bar = Progress(3, "work", stream=forced, clock=clock, enabled=True)
    for _ in range(3):
        clock.tick(2.0)
        bar.advance()
    bar.close()
    lines = forced.getvalue().splitlines()
    assert lines[0].startswith("work:  33% 1/3 unit")
    assert lines[-1].startswith("work: 100% 3/3 unit")


def test_disabled_never_writes():
    clock = Clock()
    stream = Terminal()
    bar = Progress(3, stream=stream, clock=clock, enabled=False)
    clock.tick(60.0)
    bar.advance(3)
    bar.close()
    assert stream.getvalue() == ""


def test_automatic_rule_shows_calls_expected_to_take_over_two_seconds():
    clock = Clock()
    quick = Terminal()
    bar = Progress(10, stream=quick, clock=clock)
    for _ in range(10):  # 10 x 0.1 s: expected 1 s in all
        clock.tick(0.1)
        bar.advance()
    assert quick.getvalue() == ""
    slow = Terminal()
    bar = Progress(10, stream=slow, clock=clock)
    clock.tick(0.5)
    bar.advance()  # 0.5 s a unit: 5 s expected, shown at once
    assert renders(slow)[-1].startswith(" 10% 1/10 unit [00:00 elapsed, 00:04 left]")
    silent = Terminal()
    bar = Progress(10, stream=silent, clock=clock)
    with bar.task(1):
        clock.tick(progress_module.SHOW_AFTER + 0.1)  # nothing measured, but 2 s went by
        bar.fraction(0.01)
    assert renders(silent)


def test_terminal_renders_are_throttled_and_cleared_on_close():
    clock = Clock()
    stream = Terminal()
    bar = Progress(100, stream=stream, clock=clock, enabled=True)
    for _ in range(100):
        clock.tick(0.01)
        bar.advance()
    assert 5 <= bar.renders <= 12  # one per REFRESH (0.1 s) of the 1 s
    assert bar.renders == len(renders(stream))  # the count is of lines drawn, from none
    bar.close()
    assert stream.getvalue().endswith("\r\x1b[K")


def test_track_reports_into_the_active_task_or_shows_its_own():
    clock = Clock()
    stream = Terminal()
    with Progress({"m": 2}, stream=stream, clock=clock, enabled=True) as outer:
        assert current() is outer
        with outer.task(2, "m", label="gradcam"):
            with track(8, enabled=False) as advance:
                clock.tick(1.0)
                advance(4)
            assert outer.position() == pytest.approx(1.0)
            assert "gradcam" in renders(stream)[-1]
    assert current() is None
    with track(5, enabled=False) as advance:  # no reporter active: its own, here not shown
        advance(5)


def test_write_keeps_the_line_intact(capsys):
    clock = Clock()
    stream = Terminal()
    bar = Progress(2, "x", stream=stream, clock=clock, enabled=True)
    bar.advance()
    bar.write("a result line")
    assert capsys.readouterr().out == "a result line\n"
    assert stream.getvalue().count("\r") >= 3  # drawn, cleared, drawn again


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.4, "00:00"), (75.2, "01:15"), (3725, "1:02:05"), (None, "?")]
)
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_eta_prices_the_unmeasured_kind_in_flight_at_its_own_live_rate():
    """b measured at 1 s a unit; then 2 units of a run for 4 s and are half done: a's live
    rate is 4 / (½ · 2) = 4 s a unit. ETA = 4 s (rest of the task) + 2 more a units · 4 s
    + 3 b units · 1 s = 15 s (b's rate for a's units would say 9 s)."""
    clock = Clock()
    bar = Progress({"a": 4, "b": 4}, stream=io.StringIO(), clock=clock)
    clock.tick(1.0)
    bar.advance(1, "b")
    with bar.task(2, "a"):
        clock.tick(4.0)
        bar.fraction(0.5)
        assert bar.eta() == pytest.approx(4.0 + 2 * 4.0 + 3 * 1.0)


def test_eta_of_a_task_of_a_kind_outside_the_plan():
    """Work of a kind the plan did not list (2 units of c, half done in 2 s: 2 s a unit) runs
    beside the planned 4 units of a, priced at that live rate: 2 s + 4 · 2 s = 10 s."""
    clock = Clock()
    bar = Progress({"a": 4}, stream=io.StringIO(), clock=clock)
    with bar.task(2, "c"):
        clock.tick(2.0)
        bar.fraction(0.5)
        assert bar.eta() == pytest.approx(2.0 + 4 * 2.0)


def test_closing_twice_writes_the_last_line_once():
    """A forced line on a plain stream: close() writes the final line; a second close() (the
    context manager's exit after an explicit close) writes nothing more."""
    clock = Clock()
    stream = io.StringIO()
    bar = Progress(2, "work", stream=stream, clock=clock, enabled=True)
    clock.tick(1.0)
    bar.advance(2)
    bar.close()
    written = stream.getvalue()
    bar.close()
    assert stream.getvalue() == written
    assert written.splitlines()[-1].startswith("work: 100% 2/2 unit")


def test_a_line_written_before_the_progress_line_is_shown_leaves_the_terminal_alone():
    """Seed 20261210: nothing drawn yet, so writing a line beside it neither clears the
    terminal line nor draws the progress line (that waits for the next unit done)."""
    clock = Clock()
    stream, out = Terminal(), io.StringIO()
    bar = Progress(10, stream=stream, clock=clock)
    bar.write("hello", file=out)
    clock.tick(progress_module.SHOW_AFTER + 1.0)  # long enough, but no unit done since
    bar.write("again", file=out)
    assert out.getvalue() == "hello\nagain\n" and stream.getvalue() == ""
