"""Random search over the Distiller space (paper §4), in local worker processes or on a Ray cluster.

AutoDistiller learns from past runs; a sweep makes them. :func:`plan` turns
(seed, data sets, students, n) — plus the teacher and the per-trial budget —
into a fixed list of trials:

* per data set, ``n`` distinct configurations drawn with
  :meth:`SearchSpace.sample <autodistill.space.SearchSpace.sample>` from a
  generator seeded by (seed, data set), so adding a data set or raising ``n``
  keeps every trial planned before (the first ``n`` draws do not change);
* every configuration is run with every student (paired comparisons), through
  :func:`engine.pipelines.run.run`;
* plus each student's no-KD baseline (:func:`engine.pipelines.run.finetune`), the
  reference a distillation has to beat.

A trial's id hashes what the sweep chose (kind, data set, teacher, student,
configuration, budget; see :func:`trial_id`), so :func:`run_trials` is
resumable: trials the store's ``trials`` log has as finished are skipped,
failed ones too unless ``retry_failed``, and an interrupted trial resumes from
the engine's own checkpoint in its run folder.
Every finished distillation becomes a ``runs`` row (source ``ours``, with its
budget and engine config in ``full_config``); a failed trial is logged with its
error line and the sweep goes on.

Backends (all write to the store from this process only, so a Ray worker on
another machine needs no access to it):

* ``workers=0``: in this process, one trial after another (debugging, tests);
* ``local`` (default): a ``spawn`` process pool of ``workers`` processes, torch
  threads split evenly between them (``cpu_count // workers`` each);
* ``ray``: Ray tasks on a running cluster (``address``) or a local Ray instance,
  at most ``workers`` at a time, each reserving ``cluster CPUs // workers``
  CPUs; the data sets travel through Ray's object store.

With more than one trial at a time, the first trial of each data set runs
alone (data sets in parallel): it fine-tunes the teacher and builds the
teacher-output cache, which every later trial of that data set reads, so
that no two processes build the same cache at once. On a multi-machine Ray
cluster each machine still fine-tunes its own teachers the first time.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import json
import logging
import math
import multiprocessing
import os
import random
import signal
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import pandas as pd

from autodistill.baseline import BaselineSettings
from autodistill.bridge import (
    BUDGET_FIELDS,
    baseline_config,
    engine_config,
    make_budget,
    record_from_result,
    space_for,
)
from autodistill.features import check_task, featurize_all, featurizer_version
from autodistill.space import DEFAULT_SPACE, DistillerConfig, SearchSpace
from autodistill.store import RunRecord, RunStore, TrialRecord, trial_from_row
from engine.config import DistillConfig, TrainSettings
from engine.data.schema import TaskData
from engine.errors import AutodistillError, choices_error
from engine.models.zoo import DEFAULT_TEACHER

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class Trial:
    """One unit of a sweep: a distillation of one configuration, or a student's no-KD baseline."""

    trial_id: str
    kind: str  # "distill" (engine.pipelines.run.run) or "finetune" (engine.pipelines.run.finetune)
    dataset: str
    student: str
    engine: DistillConfig
    config: DistillerConfig | None = None  # None for a baseline

    @classmethod
    def make(cls, kind: str, engine: DistillConfig, student: str, config: DistillerConfig | None = None) -> Trial:
        return cls(trial_id(kind, engine, config), kind, engine.dataset, student, engine, config)


def trial_id(kind: str, engine: DistillConfig, config: DistillerConfig | None) -> str:
    """A trial's identity: what the sweep chose (kind, data set, models, configuration, budget).

    Not the engine's run id, which hashes every engine field: a field the engine
    adds later (with a default) would otherwise make every logged trial look new.
    """
    chosen = {
        "kind": kind,
        "dataset": engine.dataset,
        "teacher": engine.teacher,
        "student": engine.student,
        "distiller": config.to_dict() if config is not None else None,
        "budget": {name: getattr(engine.train, name) for name in BUDGET_FIELDS},
    }
    return hashlib.sha256(json.dumps(chosen, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Outcome:
    """What a worker sends back: the engine's result, or the one-line reason it failed."""

    trial_id: str
    result: object | None  # engine.pipelines.run.RunResult
    error: str | None
    seconds: float


TrialFn = Callable[[Trial, int | None, TaskData | None], Outcome]


# -- planning -------------------------------------------------------------------------------------------


def parse_students(text: str) -> list[str]:
    """``"tiny,layers=0,2,4,mini"`` -> ``["tiny", "layers=0,2,4", "mini"]`` (layer indices stay together)."""
    students: list[str] = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        if token.isdigit() and students and students[-1].startswith("layers"):
            students[-1] += f",{token}"
        else:
            students.append(token)
    if not students:
        raise AutodistillError("no students given; e.g. --students tiny,layers=0,2,4")
    return students


def sample_configs(space: SearchSpace, n: int, rng: random.Random) -> list[DistillerConfig]:
    """``n`` distinct random configurations (the §4 random search), in draw order."""
    size = sum(1 for _ in space.configurations())
    if not 1 <= n <= size:
        raise AutodistillError(f"cannot draw {n} distinct configurations from a space of {size}")
    drawn: dict[DistillerConfig, None] = {}
    while len(drawn) < n:
        drawn.setdefault(space.sample(rng), None)
    return list(drawn)


def plan(
    tasks: Mapping[str, TaskData],
    students: Sequence[str],
    n: int,
    *,
    seed: int = 0,
    teacher: str = DEFAULT_TEACHER,
    budget: TrainSettings | None = None,
    space: SearchSpace = DEFAULT_SPACE,
    baselines: bool = True,
) -> list[Trial]:
    """The sweep's trials, a deterministic function of (seed, data sets, students, n, teacher, budget).

    ``tasks`` maps each data set as the engine will load it (catalog name or path)
    to its loaded data, which decides the valid part of the space (no CE
    prediction loss for regression).
    """
    budget = budget or make_budget()
    trials: dict[str, Trial] = {}
    for dataset, task in tasks.items():
        rng = random.Random(f"autodistill-sweep:{seed}:{dataset}")
        configs = sample_configs(space_for(task.spec.task_type, space), n, rng)
        planned = []
        if baselines:
            planned += [
                Trial.make("finetune", baseline_config(dataset, teacher=teacher, student=s, budget=budget), s)
                for s in students
            ]
        for config in configs:
            for student in students:
                engine = engine_config(config, dataset, teacher=teacher, student=student, budget=budget)
                planned.append(Trial.make("distill", engine, student, config))
        for trial in planned:
            trials.setdefault(trial.trial_id, trial)
    return list(trials.values())


# -- one trial ----------------------------------------------------------------------------------------


def error_line(exc: BaseException) -> str:
    """One line for the trials log: our own errors as they are, others with their type and where."""
    lines = str(exc).strip().splitlines()
    message = lines[0] if lines else ""
    if isinstance(exc, AutodistillError):
        return message
    frames = traceback.extract_tb(exc.__traceback__)
    where = next((f for f in reversed(frames) if "site-packages" not in f.filename), frames[-1] if frames else None)
    at = f" (at {os.path.basename(where.filename)}:{where.lineno})" if where else ""
    return f"{type(exc).__name__}: {message}{at}" if message else f"{type(exc).__name__}{at}"


def execute_trial(trial: Trial, threads: int | None = None, task: TaskData | None = None) -> Outcome:
    """Run one trial through the engine's public API; a failure comes back as an error line, never raised."""
    import torch

    from engine.pipelines import run as engine_run

    if threads:
        torch.set_num_threads(threads)
    started = time.perf_counter()
    entry = engine_run.run if trial.kind == "distill" else engine_run.finetune
    try:
        result = entry(trial.engine, show_progress=False, task=task)
    except Exception as exc:  # a failed trial must not stop the sweep
        return Outcome(trial.trial_id, None, error_line(exc), time.perf_counter() - started)
    return Outcome(trial.trial_id, result, None, time.perf_counter() - started)


def available_cpus() -> int:
    """CPUs this process may use (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _init_worker(threads: int) -> None:
    import torch
    from transformers.utils import logging as hf_logging

    from engine.lifetime import exit_with_parent

    exit_with_parent()

    torch.set_num_threads(threads)
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


# -- backends -----------------------------------------------------------------------------------------


class _Backend:
    """Runs trials somewhere and yields (trial, outcome) as they finish."""

    def map(self, trials: Sequence[Trial]) -> Iterator[tuple[Trial, Outcome]]:
        raise NotImplementedError

    def close(self, abort: bool = False) -> None:
        """Release the workers; ``abort`` (an interrupt or error): also stop trials still running."""
        return None


class _InProcess(_Backend):
    def __init__(self, fn: TrialFn, tasks: Mapping[str, TaskData]) -> None:
        self.fn, self.tasks = fn, tasks

    def map(self, trials: Sequence[Trial]) -> Iterator[tuple[Trial, Outcome]]:
        for trial in trials:
            yield trial, self.fn(trial, None, self.tasks.get(trial.dataset))


class _Processes(_Backend):
    def __init__(self, fn: TrialFn, tasks: Mapping[str, TaskData], workers: int) -> None:
        self.fn, self.tasks = fn, tasks
        self.threads = max(1, available_cpus() // workers)
        self.pool = cf.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.threads,),
        )

    def map(self, trials: Sequence[Trial]) -> Iterator[tuple[Trial, Outcome]]:
        futures = {self.pool.submit(self.fn, t, self.threads, self.tasks.get(t.dataset)): t for t in trials}
        for future in cf.as_completed(futures):
            trial = futures[future]
            try:
                outcome = future.result()
            except cf.process.BrokenProcessPool:
                raise AutodistillError(
                    f"a worker process died while running trial {trial.trial_id} (out of memory?); "
                    "finished trials are saved, rerun the same command to resume"
                ) from None
            except Exception as exc:  # e.g. a result that cannot be pickled back
                outcome = Outcome(trial.trial_id, None, error_line(exc), 0.0)
            yield trial, outcome

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
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
            if worker.is_alive():
                worker.terminate()
                worker.join(5)


class _Ray(_Backend):
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


@contextmanager
def _backend(
    backend: str, workers: int, address: str | None, fn: TrialFn, tasks: Mapping[str, TaskData]
) -> Iterator[_Backend]:
    if backend not in BACKENDS:
        raise choices_error("sweep backend", backend, BACKENDS)
    if workers < 0:
        raise AutodistillError(f"--workers must be 0 (in this process) or more, got {workers}")
    if backend == "ray" and workers == 0:
        raise AutodistillError("the ray backend needs --workers 1 or more (trials at a time)")
    if address and backend != "ray":
        raise AutodistillError("--address names a Ray cluster; add --backend ray")
    chosen: _Backend
    if backend == "ray":
        chosen = _Ray(fn, tasks, workers, address)
    elif workers == 0:
        chosen = _InProcess(fn, tasks)
    else:
        chosen = _Processes(fn, tasks, workers)
    try:
        yield chosen
    except BaseException:
        chosen.close(abort=True)
        raise
    chosen.close()


# -- running and recording ----------------------------------------------------------------------------


@dataclass
class SweepReport:
    """What a sweep did: its trials, their logged outcomes, and what happened this time."""

    trials: list[Trial]
    records: dict[str, TrialRecord | None] = field(default_factory=dict)
    ran: int = 0
    skipped: int = 0

    @property
    def failed(self) -> list[TrialRecord]:
        return [r for r in self.records.values() if r is not None and r.status == "failed"]

    def ratio(self, trial: Trial) -> float | None:
        record = self.records.get(trial.trial_id)
        return record.ratio if record is not None and record.status == "done" else None

    def summary(self) -> pd.DataFrame:
        """Per data set and student: trials done/failed, the no-KD ratio, the best and mean KD ratio.

        Ratios are student / teacher dev score; a configuration is shown as
        intermediate loss / mapping / prediction loss / augmentation policy.
        """
        rows = []
        for (dataset, student), group in _group(self.trials).items():
            kd = [self.ratio(t) for t in group if t.kind == "distill"]
            kd_done = [r for r in kd if r is not None]
            base = [self.ratio(t) for t in group if t.kind == "finetune"]
            best = max(
                ((self.ratio(t), t) for t in group if t.kind == "distill" and self.ratio(t) is not None),
                default=(None, None),
                key=lambda pair: pair[0],
            )[1]
            rows.append(
                {
                    "dataset": dataset,
                    "student": student,
                    "trials": len(group),
                    "done": sum(1 for t in group if self._status(t) == "done"),
                    "failed": sum(1 for t in group if self._status(t) == "failed"),
                    "no-KD": base[0] if base and base[0] is not None else math.nan,
                    "best KD": max(kd_done) if kd_done else math.nan,
                    "mean KD": sum(kd_done) / len(kd_done) if kd_done else math.nan,
                    "best configuration": _describe(best.config) if best is not None and best.config else "",
                }
            )
        return pd.DataFrame(rows)

    def _status(self, trial: Trial) -> str | None:
        record = self.records.get(trial.trial_id)
        return record.status if record is not None else None


def _group(trials: Sequence[Trial]) -> dict[tuple[str, str], list[Trial]]:
    groups: dict[tuple[str, str], list[Trial]] = {}
    for trial in trials:
        groups.setdefault((trial.dataset, trial.student), []).append(trial)
    return groups


def _describe(config: DistillerConfig) -> str:
    return f"{config.inter_level}/{config.mapping}/{config.pred_loss}/{config.policy}"


def _record(store: RunStore, trial: Trial, outcome: Outcome, version: str) -> TrialRecord:
    """Log one outcome (and store its run) in one transaction."""
    common = {
        "trial_id": trial.trial_id,
        "kind": trial.kind,
        "dataset": trial.dataset,
        "student_name": trial.student,
        "budget": trial.engine.train.model_dump(mode="json"),
        "config": trial.engine.model_dump(mode="json"),
        "wall_time_s": outcome.seconds,
    }
    run: RunRecord | None = None
    result = outcome.result
    error = outcome.error
    if error is None and trial.kind == "distill":
        try:
            run = record_from_result(result, featurizer_version=version)  # type: ignore[arg-type]
        except AutodistillError as exc:
            error = str(exc)
    if error is not None:
        record = TrialRecord(status="failed", error=error, **common)
    else:
        record = TrialRecord(
            status="done",
            run_id=run.run_id if run else None,
            student_score=result.student_score,  # type: ignore[union-attr]
            teacher_score=result.teacher_score,  # type: ignore[union-attr]
            ratio=result.ratio,  # type: ignore[union-attr]
            **common,
        )
    store.record_trial(record, run)
    return record


def _stored(store: RunStore) -> dict[str, TrialRecord]:
    return {row["trial_id"]: trial_from_row(row) for row in store.trials().to_dict("records")}


def _warm_up_first(pending: Sequence[Trial]) -> tuple[list[Trial], list[Trial]]:
    """One trial per data set to run first (a distillation without augmentation if there is one)."""
    first: dict[str, Trial] = {}
    for trial in pending:
        current = first.get(trial.dataset)
        better = trial.kind == "distill" and not trial.engine.augment
        if current is None or (better and not (current.kind == "distill" and not current.engine.augment)):
            first[trial.dataset] = trial
    chosen = {t.trial_id for t in first.values()}
    return list(first.values()), [t for t in pending if t.trial_id not in chosen]


@contextmanager
def _progress(show: bool, total: int, done: int) -> Iterator[Callable[[str], None]]:
    if not show:
        yield lambda _text: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    ) as bar:
        task = bar.add_task("", total=total, completed=done)

        def advance(text: str) -> None:
            bar.update(task, advance=1, description=text)

        yield advance


def run_trials(
    trials: Sequence[Trial],
    store: RunStore,
    *,
    featurizer_version: str,
    workers: int = 1,
    backend: str = "local",
    address: str | None = None,
    retry_failed: bool = False,
    tasks: Mapping[str, TaskData] | None = None,
    show_progress: bool = True,
    trial_fn: TrialFn = execute_trial,
) -> SweepReport:
    """Run the trials the store has not finished; log each outcome as it arrives.

    ``trial_fn`` must be importable by worker processes (a module-level function);
    tests replace it with a cheap fake.
    """
    tasks = tasks or {}
    logged = _stored(store)
    finished = {tid for tid, r in logged.items() if r.status == "done" or (r.status == "failed" and not retry_failed)}
    pending = [t for t in trials if t.trial_id not in finished]
    report = SweepReport(list(trials), {t.trial_id: logged.get(t.trial_id) for t in trials})
    report.skipped = len(trials) - len(pending)
    if not pending:
        return report
    phases = [pending] if workers <= 1 else list(_warm_up_first(pending))
    with (
        _terminate_as_interrupt(),
        _backend(backend, workers, address, trial_fn, tasks) as runner,
        _progress(show_progress, len(trials), report.skipped) as advance,
    ):
        failures = 0
        for phase in phases:
            for trial, outcome in runner.map(phase):
                record = _record(store, trial, outcome, featurizer_version)
                report.records[trial.trial_id] = record
                report.ran += 1
                failures += record.status == "failed"
                last = f"{trial.dataset} {trial.student}: " + (
                    f"ratio {record.ratio:.3f}" if record.status == "done" else "failed"
                )
                advance(f"{last}  ({failures} failed)" if failures else last)
    return report


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a batch scheduler's stop) stops a sweep as Ctrl-C does: running trials
    are interrupted and keep their checkpoints, nothing half-done is logged. Ctrl-C itself may be
    ignored, as it is in a background job."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def ensure_features(store: RunStore, tasks: Sequence[TaskData], baseline: BaselineSettings | None = None) -> list[str]:
    """Featurize (as one IDF corpus) the data sets the store has no current features for; return their names."""
    baseline = baseline or BaselineSettings()
    have = {f.dataset for f in store.features(featurizer_version(baseline.model))}
    missing = [t for t in tasks if t.spec.name not in have]
    if missing:
        featurize_all(missing, store, baseline=baseline)
    return [t.spec.name for t in missing]


def run_sweep(
    datasets: Sequence[str],
    students: Sequence[str],
    n: int,
    store: RunStore,
    *,
    seed: int = 0,
    teacher: str = DEFAULT_TEACHER,
    budget: TrainSettings | None = None,
    workers: int = 1,
    backend: str = "local",
    address: str | None = None,
    retry_failed: bool = False,
    featurize: bool = True,
    baseline: BaselineSettings | None = None,
    show_progress: bool = True,
    trial_fn: TrialFn = execute_trial,
    on_status: Callable[[str], None] = lambda _text: None,
) -> SweepReport:
    """The whole ``autodistill sweep``: load data sets, featurize them, plan and run the trials."""
    from engine.data import load_task

    if not datasets:
        raise AutodistillError("no data sets given; e.g. --datasets bbc-news,drug-review")
    if len(set(datasets)) != len(datasets):
        raise AutodistillError(f"a data set is listed twice in {','.join(datasets)}")
    baseline = baseline or BaselineSettings()
    tasks = {name: load_task(name) for name in datasets}
    if featurize:
        for task in tasks.values():
            check_task(task)
        done = ensure_features(store, list(tasks.values()), baseline)
        if done:
            on_status(f"featurized {', '.join(done)} ({featurizer_version(baseline.model)})")
    trials = plan(tasks, students, n, seed=seed, teacher=teacher, budget=budget)
    return run_trials(
        trials,
        store,
        featurizer_version=featurizer_version(baseline.model),
        workers=workers,
        backend=backend,
        address=address,
        retry_failed=retry_failed,
        tasks=tasks,
        show_progress=show_progress,
        trial_fn=trial_fn,
    )
