"""Wall and CPU seconds of a run or of its training, counted across the processes of a resumed run.

:class:`Clock` adds the seconds spent in each named step; a run stores them as
``RunResult.phases`` in the order the steps first ran, so that overhead (loading,
tokenising, caches, evaluation, latency timing, saving) shows beside training. It also
keeps the process's CPU seconds since it started: wall seconds alone cannot tell a run that
had its cores from one that waited for them on a busy machine, and a cost model fitted on
the second kind predicts too much. The trainer holds one too, so that a checkpoint records
what the training has cost so far and a resumed run counts every sitting.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Clock:
    """Seconds per named step; a step timed twice adds up. Started on creation (:meth:`carry_over`
    moves the start back by what earlier processes of a resumed run spent)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._wall = time.perf_counter()
        self._cpu: float | None = time.process_time()  # None: an earlier process's CPU time is unknown
        #: Wall and CPU seconds counted in from earlier processes (:meth:`carry_over`), CPU None where unknown.
        self.carried: tuple[float, float | None] = (0.0, 0.0)

    @contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        tick = time.perf_counter()
        try:
            yield
        finally:
            self.add(step, time.perf_counter() - tick)

    def add(self, step: str, seconds: float) -> None:
        self.seconds[step] = self.seconds.get(step, 0.0) + seconds

    def carry_over(self, wall: float, cpu: float | None, step: str | None = None) -> None:
        """Count seconds an earlier process spent on this run before it stopped (a resumed run): in
        the elapsed wall and CPU time, as if this clock had run then too, and in ``step`` if named.
        ``cpu`` None (a checkpoint from before CPU time was kept) leaves the CPU time unknown: a part
        of it would read as a run that waited for its cores."""
        if step is not None:
            self.add(step, wall)
        self._wall -= wall
        self._cpu = None if cpu is None or self._cpu is None else self._cpu - cpu
        earlier_cpu = self.carried[1]
        self.carried = (self.carried[0] + wall, None if cpu is None or earlier_cpu is None else earlier_cpu + cpu)

    def wall_elapsed(self) -> float:
        """Wall seconds since the clock was created."""
        return time.perf_counter() - self._wall

    def cpu_elapsed(self) -> float | None:
        """CPU seconds this process's threads used since the clock was created (child processes,
        such as augmentation workers, not included); None where an earlier process's are unknown."""
        return None if self._cpu is None else time.process_time() - self._cpu

    def rounded(self) -> dict[str, float]:
        return {step: round(s, 3) for step, s in self.seconds.items()}
