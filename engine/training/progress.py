"""Progress of long work, shown the way the place it is shown can take it.

A terminal (or a notebook) gets rich's live bar. Anything else (a pipe, a CI log, ``| tee``, a
file) gets a plain line every :data:`PLAIN_INTERVAL_S` seconds with the step, the rate and the
time left: a live bar there prints nothing until the work ends, which reads as a hang. Both go
to stderr, beside the warnings, so that what a command prints on stdout stays its output.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

#: Seconds between two plain progress lines.
PLAIN_INTERVAL_S = 30.0
#: A rate read over less time than this is noise (a bar made as its first step ends reads thousands
#: of steps a second): the line says the time left is not known yet instead.
MIN_RATE_S = 1.0


def announce(text: str) -> None:
    """One line where progress goes (stderr), e.g. what a long step is about to do."""
    Console(stderr=True).print(text, markup=False, highlight=False, soft_wrap=True)


@dataclass
class Position:
    """Where the latest long work of this process stood: what it was, and its step of how many."""

    description: str
    done: int
    total: int


#: The latest position any :func:`progress` reached in this process (None before any), so that an
#: interrupted command can say where it stopped without each piece of work reporting it.
_LATEST: list[Position] = []


def latest_position() -> Position | None:
    """Where the last long work stood when it last advanced; None when there was none."""
    return _LATEST[-1] if _LATEST else None


@contextmanager
def progress(
    description: str, total: int, completed: int = 0, *, enabled: bool = True, unit: str = "step"
) -> Iterator[Callable]:
    """A callable taking the number of steps done so far, shown as a bar or as plain lines; the
    position is remembered (:func:`latest_position`) whether or not it is shown."""
    _LATEST[:] = [Position(description, completed, total)]

    def remember(done: int) -> None:
        _LATEST[0].done = done

    with _shown(description, total, completed, enabled, unit) as show:

        def advance(done: int) -> None:
            remember(done)
            show(done)

        yield advance


@contextmanager
def _shown(description: str, total: int, completed: int, enabled: bool, unit: str) -> Iterator[Callable]:
    if not enabled:
        yield lambda done: None
        return
    console = Console(stderr=True)
    if console.is_terminal or console.is_jupyter:
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task(description, total=total, completed=completed)
            yield lambda done: bar.update(task, completed=done)
        return
    yield PlainLines(description, total, completed, unit=unit).update


@dataclass
class PlainLines:
    """Plain progress lines at a steady interval; the last step always gets its line."""

    description: str
    total: int
    first: int  # steps done before this process started (a resumed run)
    unit: str = "step"  # what is counted, as the line names it: steps, or examples where those are counted
    started: float = field(default_factory=time.monotonic)
    printed: float = -math.inf

    def update(self, done: int) -> None:
        now = time.monotonic()
        if done < self.total and now - self.printed < PLAIN_INTERVAL_S:
            return
        self.printed = now
        percent = 100 * done / max(self.total, 1)
        where = f"{self.description}: {self.unit} {done}/{self.total} ({percent:.0f}%)"
        rate = (done - self.first) / (now - self.started) if now - self.started >= MIN_RATE_S else 0.0
        if rate <= 0:
            announce(where if done >= self.total else f"{where}, time left not known yet")
            return
        announce(f"{where}, {rate:.2f} {self.unit}s/s, {duration((self.total - done) / rate)} left")


def duration(seconds: float) -> str:
    """``"42 s"``, ``"7 min"``, ``"1 h 05 min"``: as precise as a person planning around it needs."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"
