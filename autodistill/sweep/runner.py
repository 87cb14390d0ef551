"""Running a sweep's trials and recording them: resumable, failures logged, one writer.

A trial's id hashes what the sweep chose (:func:`~autodistill.sweep.plan.trial_id`),
so :func:`run_trials` is resumable: trials the store's ``trials`` log has as
finished are skipped, failed ones too unless ``retry_failed``, and an interrupted
trial resumes from the engine's own checkpoint in its run folder. Every finished
distillation becomes a ``runs`` row (source ``ours``, with its budget and engine
config in ``full_config``); a failed trial is logged with its error line and the
sweep goes on.

With more than one trial at a time, the first trial of each data set runs
alone (data sets in parallel): it fine-tunes the teacher and builds the
teacher-output cache, which every later trial of that data set reads, so
that no two processes build the same cache at once.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import pandas as pd

from autodistill.bridge import record_from_result, test_scores
from autodistill.features.baseline import BaselineSettings
from autodistill.features.featurize import check_task, featurize_all, featurizer_version
from autodistill.store.database import RunRecord, RunStore, TrialRecord, trial_from_row
from autodistill.sweep.choose import open_backend
from autodistill.sweep.execute import Outcome, TrialFn, execute_trial
from autodistill.sweep.plan import Trial, load_tasks, plan
from engine import (
    DEFAULT_TEACHER,
    AutodistillError,
    DataColumns,
    TaskData,
    TrainSettings,
    split_version_of,
    written_predictions,
)


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
        """Per data set and student: trials done/failed, the no-KD ratio (the mean over its seeds, as the
        mean KD ratio is over its runs), the best and mean KD ratio.

        Ratios are student / teacher dev score; a configuration is shown as
        intermediate loss / mapping / prediction loss / augmentation policy.
        """
        rows = []
        for (dataset, student), group in _group(self.trials).items():
            kd = [self.ratio(t) for t in group if t.kind == "distill"]
            kd_done = [r for r in kd if r is not None]
            base = [r for r in (self.ratio(t) for t in group if t.kind == "finetune") if r is not None]
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
                    "no-KD": sum(base) / len(base) if base else math.nan,
                    "best KD": max(kd_done) if kd_done else math.nan,
                    "mean KD": sum(kd_done) / len(kd_done) if kd_done else math.nan,
                    "best configuration": best.config.label if best is not None and best.config else "",
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


def record_outcome(
    store: RunStore, trial: Trial, outcome: Outcome, version: str, *, source: str = "ours"
) -> TrialRecord:
    """Log one outcome (and store its run) in one transaction: the path every trial takes into the
    store, a sweep's, a search's or a user's own run (``source``). A run a search's pruner stopped
    early is logged with the epoch it stopped at and gets no ``runs`` row (the predictor learns from
    whole runs only)."""
    common = {
        "trial_id": trial.trial_id,
        "kind": trial.kind,
        "dataset": trial.dataset,
        "student_name": trial.student,
        "budget": trial.engine.train.model_dump(mode="json"),
        "config": trial.engine.model_dump(mode="json"),
        "wall_time_s": outcome.seconds,
        "fidelity": trial.fidelity,
        "split_version": split_version_of(trial.engine),
        "source": source,
    }
    run: RunRecord | None = None
    result = outcome.result
    error = outcome.error
    pruned = getattr(result, "pruned_after_epoch", None)
    if error is None and trial.kind == "distill" and pruned is None:
        try:
            run = record_from_result(result, featurizer_version=version, source=source, fidelity=trial.fidelity)  # type: ignore[arg-type]
        except AutodistillError as exc:
            error = str(exc)
    if error is not None:
        record = TrialRecord(status="failed", error=error, **common)
    else:
        test_score, teacher_test, test_ratio = test_scores(result)  # type: ignore[arg-type]
        record = TrialRecord(
            status="done",
            run_id=run.run_id if run else None,
            student_score=result.student_score,  # type: ignore[union-attr]
            teacher_score=result.teacher_score,  # type: ignore[union-attr]
            ratio=result.ratio,  # type: ignore[union-attr]
            test_score=test_score,
            teacher_test_score=teacher_test,
            test_ratio=test_ratio,
            dev_curve=tuple(epoch[result.metric] for epoch in result.history),  # type: ignore[union-attr]
            pruned_after_epoch=pruned,
            **common,
        )
    key = _predictions_key(trial, record, run)
    written = None if key is None or result is None else written_predictions(result.output_dir)
    with store.transaction():
        store.record_trial(record, run)
        if key is not None and written is not None:
            store.put_test_predictions({key: written})
    return record


def _predictions_key(trial: Trial, record: TrialRecord, run: RunRecord | None) -> str | None:
    """What the store keeps a trial's per-example test predictions under (runs compared on one split):
    its run's id, or a finished no-KD baseline's trial id (it has no runs row); None for a failed or
    pruned trial, which keeps none."""
    if run is not None:
        return run.run_id
    return trial.trial_id if trial.kind == "finetune" and record.status == "done" else None


def _stored(store: RunStore) -> dict[str, TrialRecord]:
    return {row["trial_id"]: trial_from_row(row) for row in store.trials().to_dict("records")}


def phases(pending: Sequence[Trial], workers: int) -> list[list[Trial]]:
    """The trials in the order of their phases, each phase finished before the next starts.

    A data set's first trial fine-tunes its teacher and builds its caches; each of those is built
    once, under a lock, by whichever trial comes first (:func:`engine.paths.exclusive`). With at
    least as many data sets as workers, one trial of each goes first, so that no worker waits on
    another data set's lock while a data set of its own is untouched. With fewer, that phase would
    leave workers idle that could run trials (a resumed sweep's caches are built already, and
    otherwise a worker waits on the lock as it would have idled), so there is one phase."""
    if workers <= 1:
        return [list(pending)]
    first, rest = _warm_up_first(pending)
    return [first, rest] if len(first) >= workers else [list(pending)]


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
    """A bar on a terminal; elsewhere (a pipe, a log file) one plain line per finished trial."""
    if not show:
        yield lambda _text: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not (console.is_terminal or console.is_jupyter):
        count = iter(range(done + 1, total + 1))
        yield lambda text: console.print(
            f"sweep {next(count, total)}/{total}: {text}", markup=False, highlight=False, soft_wrap=True
        )
        return
    with Progress(
        TextColumn("[bold]sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
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
    with (
        _terminate_as_interrupt(),
        open_backend(backend, workers, address, trial_fn, tasks) as runner,
        _progress(show_progress, len(trials), report.skipped) as advance,
    ):
        failures = 0
        for phase in phases(pending, workers):
            for trial, outcome in runner.map(phase):
                record = record_outcome(store, trial, outcome, featurizer_version)
                report.records[trial.trial_id] = record
                report.ran += 1
                failures += record.status == "failed"
                last = finished_line(trial, record, getattr(outcome.result, "one_answer", None))
                advance(f"{last}  ({failures} failed)" if failures else last)
    return report


def finished_line(trial: Trial, record: TrialRecord, one_answer: str | None = None) -> str:
    """What a sweep says of a finished trial: which pipeline on which data set and student, its dev ratio
    (or that it failed) and its minutes, so that a log read later says what each line cost; and the
    answer its student gave every dev example where it gave one only (``RunResult.one_answer``)."""
    what = trial.config.key if trial.config is not None else "no-KD"
    outcome = "failed" if record.status == "failed" else "done"
    if record.status == "done" and record.ratio is not None:
        outcome = f"ratio {record.ratio:.3f}"
        if one_answer is not None:
            outcome += f" (answers {one_answer!r} to every dev example)"
    took = record.wall_time_s
    spent = "" if took is None else f" in {took:.0f} s" if took < 60 else f" in {took / 60:.1f} min"
    return f"{trial.dataset} {trial.student} {what}: {outcome}{spent}"


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


def featurize_tasks(
    store: RunStore, tasks: Sequence[TaskData], baseline: BaselineSettings, on_status: Callable[[str], None]
) -> None:
    """Before any trial of a sweep: refuse a task the featurizer cannot read, featurize the new ones, say so."""
    for task in tasks:
        check_task(task)
    done = ensure_features(store, tasks, baseline)
    if done:
        on_status(f"featurized {', '.join(done)} ({featurizer_version(baseline.model)})")


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
    columns: DataColumns | None = None,
) -> SweepReport:
    """The whole ``autodistill sweep``: load data sets, featurize them, plan and run the trials;
    ``columns`` says how every file among the data sets is read (the flags ``run`` takes)."""
    from engine import check_student, dataset_source

    datasets = [dataset_source(name) for name in datasets]  # a file: the name its trials and runs carry
    if not datasets:
        raise AutodistillError("no data sets given; e.g. --datasets bbc-news,drug-review")
    if len(set(datasets)) != len(datasets):
        raise AutodistillError(f"a data set is listed twice in {','.join(datasets)}")
    for student in students:  # once here, not as a failed trial per data set
        check_student(student, teacher)
    baseline = baseline or BaselineSettings()
    tasks = load_tasks(datasets, columns)
    if featurize:
        featurize_tasks(store, list(tasks.values()), baseline, on_status)
    trials = plan(tasks, students, n, seed=seed, teacher=teacher, budget=budget, columns=columns)
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
