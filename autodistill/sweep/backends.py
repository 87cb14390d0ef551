"""Where trials run: in this process, or a local process pool; the Ray backend is in
:mod:`autodistill.sweep.ray_backend`; :mod:`autodistill.sweep.choose` picks one.

Every backend yields (trial, outcome) pairs as trials finish and all of them hand
the outcomes back to the sweep's process, which alone writes the store, so a
worker on another machine needs no access to it.

* ``workers=0``: in this process, one trial after another (debugging, tests);
* ``local`` (default): a ``spawn`` process pool of ``workers`` processes; each trial
  takes an even split of this process's share of the cores as it starts
  (:func:`engine.core_share`), so other commands started on the machine meanwhile count;
* ``ray``: Ray tasks on a running cluster or a local Ray instance.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator, Mapping, Sequence

from autodistill.sweep.execute import Outcome, TrialFn, error_line, init_worker
from autodistill.sweep.plan import Trial
from engine import AutodistillError, TaskData, choices_error, core_share

BACKENDS = ("local", "ray")


class Backend:
    """Runs trials somewhere and yields (trial, outcome) as they finish."""

    def map(self, trials: Sequence[Trial]) -> Iterator[tuple[Trial, Outcome]]:
        raise NotImplementedError

    def close(self, abort: bool = False) -> None:
        """Release the workers; ``abort`` (an interrupt or error): also stop trials still running."""
        return None


class InProcess(Backend):
    def __init__(self, fn: TrialFn, tasks: Mapping[str, TaskData]) -> None:
        self.fn, self.tasks = fn, tasks

    def map(self, trials: Sequence[Trial]) -> Iterator[tuple[Trial, Outcome]]:
        for trial in trials:
            yield trial, self.fn(trial, None, self.tasks.get(trial.dataset))


class Processes(Backend):
    def __init__(self, fn: TrialFn, tasks: Mapping[str, TaskData], workers: int) -> None:
        self.fn, self.tasks, self.workers = fn, tasks, workers
        self.pool = cf.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_worker,
            initargs=(self.threads(),),
        )

    def threads(self) -> int:
        """A worker's threads for the trial it starts now: an even split of this process's share."""
        return max(1, core_share() // self.workers)

    def map(self, trials: Sequence[Trial]) -> Iterator[tuple[Trial, Outcome]]:
        """Trials are handed out one per free worker, each with the threads of that moment."""
        waiting = iter(trials)
        running: dict[cf.Future[Outcome], Trial] = {}

        def start_next() -> None:
            trial = next(waiting, None)
            if trial is not None:
                running[self.pool.submit(self.fn, trial, self.threads(), self.tasks.get(trial.dataset))] = trial

        for _ in range(self.workers):
            start_next()
        while running:
            finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                trial = running.pop(future)
                start_next()  # before the caller stores the outcome: no worker waits on it
                yield trial, self._outcome(trial, future)

    @staticmethod
    def _outcome(trial: Trial, future: cf.Future[Outcome]) -> Outcome:
        try:
            return future.result()
        except cf.process.BrokenProcessPool:
            raise AutodistillError(
                f"a worker process died while running trial {trial.trial_id} (out of memory?); "
                "finished trials are saved, rerun the same command to resume"
            ) from None
        except Exception as exc:  # e.g. a result that cannot be pickled back
            return Outcome(trial.trial_id, None, error_line(exc), 0.0)

    def close(self, abort: bool = False) -> None:
        if not abort:
            self.pool.shutdown(wait=True)
            return
        # Interrupt running trials as Ctrl-C in a terminal would (the engine then stops its own
        # augmentation workers and keeps its checkpoint). The pool is shut down first so that a
        # worker whose trial returns the KeyboardInterrupt as its result then takes the exit
        # sentinel instead of waiting for more work; whatever still runs after the grace period
        # is terminated and reaped, so no orphan outlives the sweep.
        workers = multiprocessing.active_children()
        self.pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGINT)  # type: ignore[arg-type]
        deadline = time.monotonic() + 20
        _reap(workers, deadline)
        _reap(multiprocessing.active_children(), deadline)  # started as the interrupt came: takes the exit sentinel


def _reap(workers: list[multiprocessing.process.BaseProcess], deadline: float) -> None:
    """Wait for each worker until ``deadline``, then terminate it: none outlives the sweep."""
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            worker.terminate()
            worker.join(5)


def check_choice(backend: str, workers: int, address: str | None) -> None:
    if backend not in BACKENDS:
        raise choices_error("sweep backend", backend, BACKENDS)
    if workers < 0:
        raise AutodistillError(f"--workers must be 0 (in this process) or more, got {workers}")
    if backend == "ray" and workers == 0:
        raise AutodistillError("the ray backend needs --workers 1 or more (trials at a time)")
    if address and backend != "ray":
        raise AutodistillError("--address names a Ray cluster; add --backend ray")
