"""Where a run's wall time goes, step by step, so that a run's cost beyond training shows.

:class:`Clock` adds the seconds spent in each named step; the run stores them as
``RunResult.phases`` in the order the steps first ran, so that overhead (loading,
tokenising, caches, evaluation, latency timing, saving) shows beside training.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Clock:
    """Seconds per named step; a step timed twice adds up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        tick = time.perf_counter()
        try:
            yield
        finally:
            self.add(step, time.perf_counter() - tick)

    def add(self, step: str, seconds: float) -> None:
        self.seconds[step] = self.seconds.get(step, 0.0) + seconds

    def rounded(self) -> dict[str, float]:
        return {step: round(s, 3) for step, s in self.seconds.items()}
