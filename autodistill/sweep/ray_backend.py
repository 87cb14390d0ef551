"""The Ray backend: trials as Ray tasks on a running cluster (``address``) or a local Ray instance.

At most ``workers`` trials run at a time, each reserving ``cluster CPUs // workers``
CPUs; the data sets travel through Ray's object store. On a multi-machine cluster
each machine fine-tunes its own teachers the first time it needs them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence

from autodistill.sweep.backends import Backend
from autodistill.sweep.execute import Outcome, TrialFn, error_line
from autodistill.sweep.plan import Trial
from engine import AutodistillError, TaskData


class RayBackend(Backend):
    def __init__(self, fn: TrialFn, tasks: Mapping[str, TaskData], workers: int, address: str | None) -> None:
        try:
            import ray
        except ImportError:
            raise AutodistillError(
                "the ray backend needs Ray: pip install 'autodistill[distributed]' "
                "(scripts/setup.sh installs it unless --no-ray), or use --backend local"
            ) from None
        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise AutodistillError(f"cannot connect to a Ray cluster at {address!r}: {error_line(exc)}") from None
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = workers
        self.threads = max(1, cpus // workers)
        self.remote = ray.remote(num_cpus=self.threads, max_retries=0)(fn)
        self.task_refs = {name: ray.put(task) for name, task in tasks.items()}
        self.running: dict[object, Trial] = {}

    def map(self, trials: Sequence[Trial]) -> Iterator[tuple[Trial, Outcome]]:
        ray = self.ray
        queue, running = list(trials), self.running
        while queue or running:
            while queue and len(running) < self.workers:
                trial = queue.pop(0)
                ref = self.remote.remote(trial, self.threads, self.task_refs.get(trial.dataset))
                running[ref] = trial
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                trial = running.pop(ref)
                try:
                    outcome = ray.get(ref)
                except ray.exceptions.RayError as exc:  # the worker died, or the task could not run
                    outcome = Outcome(trial.trial_id, None, f"Ray: {error_line(exc)}", 0.0)
                yield trial, outcome

    def close(self, abort: bool = False) -> None:
        for ref in self.running:  # interrupted: do not leave trials running on the cluster
            self.ray.cancel(ref, force=True)
        if self.started:
            self.ray.shutdown()
