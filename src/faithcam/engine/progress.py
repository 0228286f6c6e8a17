"""Progress of long calls: one line on stderr with the work done, the elapsed time and an ETA.

A :class:`Progress` counts *units* of work (an image, an image x method, an image x method x
metric), optionally of several *kinds* that cost differently (``{"gradcam": 4,
"expected-gradcam": 4}``). Its ETA comes from the measured rate of each kind: the seconds per
unit of every kind already seen, the mean over all seen units for a kind not seen yet. So a run
that starts with a cheap method does not promise to end three times too early once the costly
one has been measured.

Work inside a unit reports through :func:`track`: a loop over sample rows or forward batches
(``with track(total_rows) as advance: ... advance(k)``) moves the unit in flight of the active
reporter (:meth:`Progress.task`) forward by fractions, so the line moves every batch, not once
per unit; with no reporter active, :func:`track` opens one of its own (a plain ``explain`` or
``deletion`` call from Python).

Shown by default (``enabled=None``) on an interactive stream (a terminal or a Jupyter kernel)
for calls expected to take more than :data:`SHOW_AFTER` seconds: as soon as the elapsed time
plus the ETA exceeds it, or the elapsed time alone does. ``enabled=True`` shows it anywhere
(one line per second on a stream that is not a terminal), ``False`` never. Importing nothing
above the engine, this module is shared by ``explain``, the metrics, studies and the CLI.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

SHOW_AFTER = 2.0  # seconds a call is expected to take before its progress is shown
REFRESH = 0.1  # seconds between two renders on a terminal
REFRESH_PLAIN = 1.0  # ... on a stream that is not one (log files)
DEFAULT_KIND = ""

Advance = Callable[[float], None]
_CURRENT: contextvars.ContextVar[Progress | None] = contextvars.ContextVar(
    "faithcam_progress", default=None
)


def interactive(stream: Any) -> bool:
    """Whether ``stream`` is a terminal or a Jupyter kernel's output (where a line redrawn
    with a carriage return reads as a progress bar)."""
    if type(stream).__module__.startswith("ipykernel"):
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a file
        return False


def format_seconds(seconds: float | None) -> str:
    """``75.2`` -> ``"01:15"``, ``3725`` -> ``"1:02:05"``, None -> ``"?"``."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class _Rates:
    """Seconds per unit of each kind, from the units completed so far."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.units: dict[str, float] = {}

    def add(self, kind: str, units: float, seconds: float) -> None:
        self.seconds[kind] = self.seconds.get(kind, 0.0) + max(seconds, 0.0)
        self.units[kind] = self.units.get(kind, 0.0) + units

    def per_unit(self, kind: str) -> float | None:
        """The kind's measured seconds per unit; the mean over every kind when it is unseen."""
        if self.units.get(kind, 0.0) > 0:
            return self.seconds[kind] / self.units[kind]
        total = sum(self.units.values())
        return sum(self.seconds.values()) / total if total > 0 else None


class Progress:
    """A progress line for ``work`` units (an int, or units per kind).

    ``advance(n, kind)`` marks n units done; ``task(units, kind, label)`` is a context for one
    piece of work in flight (it advances on exit, and :func:`track` loops inside it move it by
    fractions). ``clock`` and ``stream`` are for tests. Use it as a context manager: it is then
    the active reporter that :func:`track` reports into, and it is closed on exit.
    """

    def __init__(
        self,
        work: float | Mapping[str, float],
        desc: str = "",
        unit: str = "unit",
        *,
        enabled: bool | None = None,
        stream: IO[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.remaining = dict(work) if isinstance(work, Mapping) else {DEFAULT_KIND: float(work)}
        self.total = float(sum(self.remaining.values()))
        self.desc, self.unit, self.clock = desc, unit, clock
        self.stream = sys.stderr if stream is None else stream
        self.terminal = interactive(self.stream)
        self.forced = enabled is True
        self.allowed = enabled is not False and (self.forced or self.terminal)
        self.shown = False
        self.done = 0.0
        self.start = self.last_event = clock()
        self.last_render = -math.inf
        self.rates = _Rates()
        self.label = ""
        self._task: tuple[float, str, float] | None = None  # units, kind, start time
        self._fraction = 0.0
        self._token: contextvars.Token | None = None
        self.renders = 0

    # -- work done ---------------------------------------------------------------------------
    def advance(self, n: float = 1, kind: str = DEFAULT_KIND) -> None:
        """``n`` units of ``kind`` are done; the time since the last units were done (the work
        between them included: loading, writing) is charged to them."""
        now = self.clock()
        self.rates.add(kind, n, now - self.last_event)
        self.last_event = now
        self.done += n
        if kind in self.remaining:
            self.remaining[kind] = max(0.0, self.remaining[kind] - n)
        self._refresh(now)

    def drop(self, work: float | Mapping[str, float]) -> None:
        """Work that will not be done after all (found done already): out of the total."""
        dropped = dict(work) if isinstance(work, Mapping) else {DEFAULT_KIND: float(work)}
        for kind, units in dropped.items():
            self.remaining[kind] = max(0.0, self.remaining.get(kind, 0.0) - units)
            self.total = max(0.0, self.total - units)

    @contextlib.contextmanager
    def task(self, units: float, kind: str = DEFAULT_KIND, label: str = "") -> Iterator[None]:
        """``units`` of ``kind`` in flight, named ``label`` on the line (after ``desc``); done
        when the block ends without an error."""
        outer = self._task, self._fraction, self.label
        self._task, self._fraction, self.label = (units, kind, self.clock()), 0.0, label
        self._refresh(self._task[2], force=True)
        try:
            yield
        finally:
            self._task, self._fraction, self.label = outer
        self.advance(units, kind)

    def fraction(self, value: float) -> None:
        """The task in flight is ``value`` (0..1) done; the line never moves backwards."""
        if self._task is None:
            return
        self._fraction = min(1.0, max(self._fraction, float(value)))
        self._refresh(self.clock())

    # -- estimates ---------------------------------------------------------------------------
    def position(self) -> float:
        """Units done, counting the task in flight by its fraction."""
        return self.done + (self._task[0] * self._fraction if self._task else 0.0)

    def eta(self) -> float | None:
        """Seconds left: the rest of the task in flight, then every remaining unit at its
        kind's measured rate (the task in flight's own rate for its kind until one of its
        units is done; None before anything was measured)."""
        rest = 0.0
        pending = dict(self.remaining)
        live: tuple[str, float] | None = None  # the kind in flight and its rate so far
        if self._task is not None:
            units, kind, started = self._task
            pending[kind] = max(0.0, pending.get(kind, 0.0) - units)
            spent = self.clock() - started
            if self._fraction > 0:
                rest += spent * (1 - self._fraction) / self._fraction
                live = (kind, spent / (self._fraction * units)) if units > 0 else None
            else:
                rate = self.rates.per_unit(kind)
                if rate is None:
                    return None
                rest += max(0.0, units * rate - spent)
        for kind, units in pending.items():
            if units <= 0:
                continue
            rate = self.rates.per_unit(kind)  # the mean of the others for an unseen kind
            in_flight = live is not None and kind == live[0] and kind not in self.rates.units
            if live is not None and (rate is None or in_flight):
                rate = live[1]
            if rate is None:
                return None
            rest += units * rate
        return rest

    # -- display -----------------------------------------------------------------------------
    def line(self) -> str:
        """The progress line as shown."""
        elapsed = self.clock() - self.start
        position = self.position()
        percent = 100.0 * position / self.total if self.total > 0 else 100.0
        count = f"{position:.1f}" if position != int(position) else f"{int(position)}"
        total = int(self.total) if self.total == int(self.total) else self.total
        name = " ".join(part for part in (self.desc, self.label) if part)
        head = f"{name}: " if name else ""
        return (
            f"{head}{percent:3.0f}% {count}/{total} {self.unit} "
            f"[{format_seconds(elapsed)} elapsed, {format_seconds(self.eta())} left]"
        )

    def _wanted(self, now: float) -> bool:
        if not self.allowed:
            return False
        if self.shown or self.forced:
            return True
        elapsed = now - self.start
        eta = self.eta()
        return elapsed >= SHOW_AFTER or (eta is not None and elapsed + eta > SHOW_AFTER)

    def _refresh(self, now: float, force: bool = False) -> None:
        if not self._wanted(now):
            return
        wait = REFRESH if self.terminal else REFRESH_PLAIN
        if now - self.last_render < (0.0 if force else wait):
            return
        self.shown = True
        self.last_render = now
        self.renders += 1
        text = self.line()
        self.stream.write(f"\r{text}\x1b[K" if self.terminal else f"{text}\n")
        self.stream.flush()

    def write(self, text: str, file: IO[str] | None = None) -> None:
        """Print ``text`` (a line of output) without tearing the progress line."""
        out = sys.stdout if file is None else file
        if self.shown and self.terminal:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        print(text, file=out, flush=True)
        if self.shown and self.terminal:
            self.last_render = -math.inf
            self._refresh(self.clock())

    def close(self) -> None:
        """Clear the line (a terminal) or write the last one (elsewhere)."""
        if not self.shown:
            return
        if self.terminal:
            self.stream.write("\r\x1b[K")
        else:
            self.stream.write(f"{self.line()}\n")
        self.stream.flush()
        self.shown = False

    def __enter__(self) -> Progress:
        self._token = _CURRENT.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _CURRENT.reset(self._token)
            self._token = None
        self.close()


def current() -> Progress | None:
    """The reporter active in this context (None outside any)."""
    return _CURRENT.get()


@contextlib.contextmanager
def track(
    total: float, desc: str = "", unit: str = "row", *, enabled: bool | None = None
) -> Iterator[Advance]:
    """A loop of ``total`` steps (sample rows, forward batches) reports its advance here.

    Inside an active reporter's task, ``advance(k)`` moves that task forward by k / total; with
    no reporter active, a :class:`Progress` of its own is shown (``enabled``: None = automatic,
    see the module). ``enabled=False`` inside an active reporter still moves its task: the
    caller asked for no line of its own, and none is drawn.
    """
    parent = _CURRENT.get()
    if parent is None and enabled is not True and (enabled is False or not interactive(sys.stderr)):
        yield float  # nothing can be shown: a builtin no-op advance(k), nothing traced per call
        return
    if parent is not None:
        done = [0.0]

        def advance_parent(k: float) -> None:
            done[0] += k
            parent.fraction(done[0] / total if total > 0 else 1.0)

        yield advance_parent
        return
    with Progress(total, desc, unit, enabled=enabled) as own:
        yield own.advance
