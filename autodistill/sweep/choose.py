"""Which backend runs a sweep's trials: in this process, a local process pool, or Ray."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from autodistill.sweep.backends import Backend, InProcess, Processes, check_choice
from autodistill.sweep.execute import TrialFn
from autodistill.sweep.ray_backend import RayBackend
from engine import TaskData


@contextmanager
def open_backend(
    backend: str, workers: int, address: str | None, fn: TrialFn, tasks: Mapping[str, TaskData]
) -> Iterator[Backend]:
    """The chosen backend, closed on exit; on an error or interrupt its running trials are stopped."""
    check_choice(backend, workers, address)
    chosen: Backend
    if backend == "ray":
        chosen = RayBackend(fn, tasks, workers, address)
    elif workers == 0:
        chosen = InProcess(fn, tasks)
    else:
        chosen = Processes(fn, tasks, workers)
    try:
        yield chosen
    except BaseException:
        chosen.close(abort=True)
        raise
    chosen.close()
