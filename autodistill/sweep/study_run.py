"""Running the study's plan (:mod:`autodistill.sweep.study_plan`): probes first, then the rest; resumable.

At a fidelity whose epochs are found per (data set, student), the no-KD probes run first;
their logged dev curves give each pair's plateau epochs, and the plan made with those runs
next. Both steps go through :func:`~autodistill.sweep.runner.run_trials`, which skips trials
the store has finished, so rerunning the same command resumes where it stopped. Nothing is
committed: ``autodistill study export`` writes the store out for that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from autodistill.features.baseline import BaselineSettings
from autodistill.features.featurize import featurizer_version
from autodistill.store.database import RunStore, trial_from_row
from autodistill.sweep.execute import TrialFn, execute_trial
from autodistill.sweep.runner import SweepReport, featurize_tasks, run_trials
from autodistill.sweep.study_plan import Fidelity, Plateau, StudyConfig, plateau_epochs, probe_trial, study_plan
from engine import DEFAULT_TEACHER, AutodistillError, TaskData, check_student


@dataclass
class StudyReport:
    """The study sweep's outcome: the plan's report and each pair's plateau (realistic fidelity)."""

    sweep: SweepReport
    plateaus: dict[tuple[str, str], Plateau] = field(default_factory=dict)


def found_plateaus(
    store: RunStore, tasks: Sequence[str], students: Sequence[str], chosen: Fidelity, teacher: str
) -> dict[tuple[str, str], Plateau]:
    """Each pair's plateau, read off its finished probe's logged dev curve (pairs without one are left out)."""
    logged = {row["trial_id"]: row for row in store.trials(status="done").to_dict("records")}
    plateaus = {}
    for dataset in tasks:
        for student in students:
            row = logged.get(probe_trial(dataset, student, chosen, teacher).trial_id)
            curve = trial_from_row(row).dev_curve if row is not None else None
            if curve:
                plateaus[(dataset, student)] = plateau_epochs(curve)
    return plateaus


def run_study(
    tasks: dict[str, TaskData],
    students: Sequence[str],
    chosen: Fidelity,
    store: RunStore,
    *,
    configs: Sequence[StudyConfig],
    teacher: str = DEFAULT_TEACHER,
    workers: int = 1,
    featurize: bool = True,
    baseline: BaselineSettings | None = None,
    retry_failed: bool = False,
    show_progress: bool = True,
    trial_fn: TrialFn = execute_trial,
    on_status: Callable[[str], None] = lambda _text: None,
) -> StudyReport:
    """``autodistill study sweep``: featurize, run the probes (if the fidelity needs them), then the plan."""
    for student in students:  # once here, not as a failed trial per data set
        check_student(student, teacher)
    baseline = baseline or BaselineSettings()
    if featurize:
        featurize_tasks(store, list(tasks.values()), baseline, on_status)
    options = {
        "featurizer_version": featurizer_version(baseline.model),
        "workers": workers,
        "retry_failed": retry_failed,
        "tasks": tasks,
        "show_progress": show_progress,
        "trial_fn": trial_fn,
    }
    plateaus: dict[tuple[str, str], Plateau] = {}
    if chosen.epochs is None:
        probes = study_plan(tasks, students, chosen, {}, teacher=teacher, configs=configs)
        run_trials(probes, store, **options)  # type: ignore[arg-type]
        plateaus = found_plateaus(store, list(tasks), students, chosen, teacher)
        missing = [f"{d}/{s}" for d in tasks for s in students if (d, s) not in plateaus]
        if missing:
            raise AutodistillError(
                f"the no-KD probe failed for {', '.join(missing)}, so its epochs are unknown (the trials log "
                "holds the error; `autodistill study export` writes it to trials.csv); rerun with --retry-failed"
            )
        for (dataset, student), plateau in plateaus.items():
            shape = "plateaus" if plateau.plateaued else "still climbing at the probe's last epoch,"
            on_status(f"{dataset} {student}: no-KD dev {shape} at {plateau.epochs} epoch(s)")
    epochs = {pair: plateau.epochs for pair, plateau in plateaus.items()}
    trials = study_plan(tasks, students, chosen, epochs, teacher=teacher, configs=configs)
    return StudyReport(run_trials(trials, store, **options), plateaus)  # type: ignore[arg-type]
