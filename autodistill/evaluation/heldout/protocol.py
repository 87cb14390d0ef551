"""Running the held-out evaluation: per data set, choose the arms without it, run them, one row per run.

For each data set in turn the choices are made first and frozen in ``choices.json``
beside the results (the advice's picks and ``best-mean-rank``), so that a rerun
runs the same trials even though the store has grown since: every trial goes through
the sweep's :func:`~autodistill.sweep.run_trials`, so it lands in the store, and a
rerun skips what is done. The runs this evaluation made are also kept out of the
advice's training rows for the data sets that come later (they are listed in the
results file), so the order of the data sets does not change what is learned.

Test ratios come from each run's :class:`engine.RunResult`: a finished trial's is
read back through the engine, which returns a finished run's stored result at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from autodistill.advice.evidence import gather_evidence
from autodistill.advice.recommend import CHALLENGERS, model_descriptors
from autodistill.advice.runs import budget_inputs, import_shipped_if_empty, training_runs
from autodistill.advice.trial import TRIAL_SEEDS, plan_trial
from autodistill.bridge import BUDGET_FIELDS, baseline_config, engine_config, make_budget, space_for
from autodistill.evaluation.heldout.arms import (
    ArmConfig,
    advised_picks,
    assemble_arms,
    best_mean_rank,
    oracle_run,
    proposed,
)
from autodistill.features.baseline import BaselineSettings
from autodistill.features.featurize import featurizer_version
from autodistill.space import ADVICE_SPACE, Pipeline
from autodistill.space.defaults import fixed_default
from autodistill.store.database import RunStore, TrialRecord, record_from_row
from autodistill.store.shipped import STUDY_DIR
from autodistill.sweep import Trial, TrialFn, execute_trial, run_trials
from autodistill.sweep.study_plan import Fidelity, fidelity, probe_trial
from autodistill.sweep.study_run import found_plateaus
from engine import (
    DEFAULT_TEACHER,
    AutodistillError,
    TaskData,
    TrainSettings,
    choices_error,
    dataset_family,
    paths,
    real_valued,
)

HELDOUT_RESULTS = paths.META_DATA / "heldout" / "results.csv"
CHOICES_FILE = "choices.json"
#: How the picks are made, recorded with them: choices made by an older rule are made again.
ADVICE_ORDER = "by predicted dev-ratio gain over logit KD; logit KD first unless a pick's gain clears its interval"
#: One row per run; ``seed`` is empty for the oracle (a stored run, not one of ours), ``rank`` for
#: every arm but the picks (1 = the advice's top pick).
COLUMNS = (
    "dataset", "arm", "rank", "seed", "student", "fidelity", "config", "test_ratio", "dev_ratio",
    "wall_seconds", "device", "run_id", "trial_id", "error", "config_json",
)  # fmt: skip
#: Ids stay text (``"12e4..."`` is no number); the oracle's empty seed keeps the others integers.
DTYPES = {"run_id": "string", "trial_id": "string", "seed": "Int64", "rank": "Int64"}
#: The store's column holding a run's test ratio, where it has one (the oracle's row reads it).
STORE_TEST_COLUMN = "test_ratio"


@dataclass(frozen=True)
class HeldoutSettings:
    """One budget, one student and teacher, ``seeds`` training seeds, ``k`` picks and ``random``
    random configurations (None: ``k`` of them, so the picks face as many draws).

    ``fidelity`` (``cheap`` or ``realistic``) takes each data set's budget from the study's plan
    instead of ``budget``: at the realistic one the epochs are the no-KD probe's plateau for that
    data set (the probe runs first if the store lacks it), and the seeds are the study's. Arms
    that the study also runs (the baseline, the fixed defaults, often ``best-mean-rank``) are
    then the same trials and are not trained twice. ``retry_failed`` reruns arms the store logged
    as failed (an interrupted run's pool dies with it), as ``study sweep --retry-failed`` does.
    """

    k: int = 3
    random: int | None = None
    seeds: int = 1
    draw_seed: int = 0
    teacher: str = DEFAULT_TEACHER
    student: str = "tiny"
    budget: TrainSettings = field(default_factory=make_budget)
    baseline: BaselineSettings = field(default_factory=BaselineSettings)
    workers: int = 0
    fidelity: str | None = None
    retry_failed: bool = False
    #: Alternatives of ``recommend --trial`` run beside logit KD (0: none); the summary picks among
    #: them and logit KD by the trial's rule on dev (:func:`~autodistill.evaluation.heldout.summary.trial_final`).
    trial: int = 0

    def __post_init__(self) -> None:
        if self.fidelity is not None:
            fidelity(self.fidelity)  # an unknown name is refused here, before anything runs
        given = sorted(self.budget.model_fields_set & set(BUDGET_FIELDS))
        if self.fidelity is not None and given:
            raise AutodistillError(
                f"--fidelity {self.fidelity} sets the per-trial budget; drop --{given[0].replace('_', '-')}"
            )
        if self.k < 1:
            raise AutodistillError(f"--k must be at least 1 (configurations per arm), got {self.k}")
        if self.random is not None and self.random < 0:
            raise AutodistillError(f"--random must be 0 or more (random configurations), got {self.random}")
        if self.trial < 0:
            raise AutodistillError(f"--trial must be 0 or more (alternatives beside logit KD), got {self.trial}")
        if self.seeds < 1:
            raise AutodistillError(f"--seeds must be at least 1 (training seeds per configuration), got {self.seeds}")

    @property
    def study_fidelity(self) -> Fidelity | None:
        return fidelity(self.fidelity) if self.fidelity is not None else None

    def budgets(self, epochs: int | None = None, split_version: int = 1) -> list[TrainSettings]:
        """The budget once per training seed: the budget's own seed (the study's first, with a
        fidelity), then the next ``seeds - 1``; ``epochs`` is the data set's plateau at the realistic
        fidelity, ``split_version`` the splits it reads (a fidelity reads sized ones whole)."""
        chosen = self.study_fidelity
        if chosen is not None:
            first = chosen.seeds[0]
            return [
                chosen.budget(self.student, seed=first + i, epochs=epochs, split_version=split_version)
                for i in range(self.seeds)
            ]
        given = self.budget.model_dump(exclude_unset=True)
        return [make_budget(**{**given, "seed": self.budget.seed + i}) for i in range(self.seeds)]


def describe(config: Pipeline | None) -> str:
    """A configuration as the study writes it (``mi-0.9 / skip / ce / none``); ``no-KD`` for the baseline."""
    return "no-KD" if config is None else config.label


# -- which data sets, and what the advice learns from ----------------------------------------------------


def study_datasets(runs: pd.DataFrame, chosen: Sequence[str] | None, catalog: set[str]) -> list[str]:
    """The data sets to hold out: the catalog data sets the store has runs of ours on, or ``chosen`` among
    the catalog's (a user's file has no fixed test split the study could be compared on). A chosen data
    set the store has no runs on is a prospective test: the advice has never seen its family."""
    known = sorted(set(runs["dataset"]) & catalog)
    if len(known) < 2:
        raise AutodistillError(f"held-out evaluation needs runs on 2+ data sets; the store has {len(known)}")
    for name in chosen or ():
        if name not in catalog:
            raise choices_error("data set", name, sorted(catalog))
    return list(chosen) if chosen else known


@dataclass(frozen=True)
class Choices:
    """What was chosen for one data set before any of its arms ran (frozen in ``choices.json``), and by
    which rule (:func:`choice_identity`)."""

    picks: tuple[Pipeline, ...]
    best: Pipeline | None
    trained_on: tuple[str, ...]
    n_runs: int
    rule: dict[str, Any] = field(default_factory=dict)
    verdict: str = ""  # why the first pick is first (choices made before the advice have none)
    #: The alternatives ``recommend --trial`` would run beside logit KD (:func:`plan_trial`).
    trial: tuple[Pipeline, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "picks": [p.to_dict() for p in self.picks],
            "best_mean_rank": self.best.to_dict() if self.best else None,
            "trained_on": {"datasets": list(self.trained_on), "runs": self.n_runs},
            "rule": self.rule,
            "verdict": self.verdict,
            "trial": [p.to_dict() for p in self.trial],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Choices:
        best = data["best_mean_rank"]
        return cls(
            tuple(Pipeline.from_dict(p) for p in data["picks"]),
            Pipeline.from_dict(best) if best else None,
            tuple(data["trained_on"]["datasets"]),
            int(data["trained_on"]["runs"]),
            data.get("rule", {}),  # choices frozen by the ranker (``predictor``) or before: made again
            data.get("verdict", ""),
            tuple(Pipeline.from_dict(p) for p in data.get("trial", [])),
        )


def _choices_key(dataset: str, s: HeldoutSettings, task: TaskData) -> str:
    """The picks depend on the budget they are scored at, so a fidelity is part of the key, and on
    the splits the runs read (a data set's later split version is chosen for again)."""
    key = f"{dataset}|{s.teacher}|{s.student}|k={s.k}"
    key += f"|{s.fidelity}" if s.fidelity else ""
    key += f"|trial={s.trial}" if s.trial else ""
    version = task.extra.get("split_version", 1)
    return key + (f"|splits={version}" if version != 1 else "")


def make_choices(task: TaskData, runs: pd.DataFrame, s: HeldoutSettings, budget: TrainSettings) -> Choices:
    """The advice's top ``k`` and ``best-mean-rank`` for ``task``, from ``runs`` of the other families
    (runs of its own family are refused here, so that no caller can leak them)."""
    from engine import TEACHER_SETTINGS, finetune_teacher  # looked up per call, so tests can replace them

    if (runs["dataset"].map(dataset_family) == dataset_family(task.spec.name)).any():
        raise AutodistillError(f"the advice's runs include the held-out data set {task.spec.name!r} or a sibling")

    finetuned = finetune_teacher(s.teacher, task, TEACHER_SETTINGS, show_progress=False)
    teacher_d, student_d = model_descriptors(runs, s.teacher, s.student, finetuned.model_dir, task)
    configs = list(space_for(task.spec.task_type, ADVICE_SPACE).configurations())
    inputs = budget_inputs(budget, len(task.train))
    evidence = gather_evidence(runs, task, (student_d, teacher_d), inputs, budget.max_eval_examples)
    logit = fixed_default("logit", regression=real_valued(task.spec.task_type))
    picks, verdict = advised_picks(proposed(evidence, configs, CHALLENGERS * s.k), logit, evidence, s.k)
    best = best_mean_rank(runs, task.spec.task_type, s.fidelity)
    trained_on = tuple(sorted(set(runs["dataset"])))
    trial = plan_trial(evidence, task.spec.task_type, logit, s.trial, TRIAL_SEEDS).alternatives if s.trial else ()
    return Choices(tuple(picks), best, trained_on, len(runs), choice_identity(), verdict, trial)


def choice_identity() -> dict[str, Any]:
    """What made the picks: the advice's rule (its models and order)."""
    return {"order": ADVICE_ORDER}


def frozen_choices(
    path: Path, key: str, rule: dict[str, Any], make: Callable[[], Choices], on_status: Callable[[str], None]
) -> Choices:
    """The choices saved under ``key`` in ``path`` by this ``rule``, else made now and saved (a rerun
    reuses them). Choices made by another rule (an older predictor or order) are made again: one
    evaluation should score one advice on every data set."""
    saved = json.loads(path.read_text()) if path.exists() else {}
    if key in saved:
        frozen = Choices.from_json(saved[key])
        if frozen.rule == rule:
            return frozen
        on_status(f"{key}: the frozen picks were made by another rule; choosing again with this one")
    chosen = make()
    saved[key] = chosen.to_json()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")
    return chosen


# -- trials and rows ---------------------------------------------------------------------------------------


def arm_trials(
    dataset: str, arms: Sequence[ArmConfig], s: HeldoutSettings, budgets: Sequence[TrainSettings]
) -> list[tuple[ArmConfig, int, Trial]]:
    """Each arm's configuration once per training seed, as a sweep trial."""
    planned = []
    for budget in budgets:
        for arm in arms:
            if arm.config is None:
                config = baseline_config(dataset, teacher=s.teacher, student=s.student, budget=budget)
                trial = Trial.make("finetune", config, s.student, fidelity=s.fidelity)
            else:
                config = engine_config(arm.config, dataset, teacher=s.teacher, student=s.student, budget=budget)
                trial = Trial.make("distill", config, s.student, arm.config, fidelity=s.fidelity)
            planned.append((arm, budget.seed, trial))
    return planned


def _row(dataset: str, arm: ArmConfig, seed: int | None, student: str, **values: Any) -> dict[str, Any]:
    config = json.dumps(arm.config.to_dict(), sort_keys=True) if arm.config else ""
    base = {"dataset": dataset, "arm": arm.arm, "rank": arm.rank, "seed": seed, "student": student,
            "config": describe(arm.config)}  # fmt: skip
    return {**dict.fromkeys(COLUMNS), **base, "config_json": config, **values}


def run_rows(
    planned: Sequence[tuple[ArmConfig, int, Trial]],
    store: RunStore,
    task: TaskData,
    s: HeldoutSettings,
    *,
    show_progress: bool,
    trial_fn: TrialFn,
) -> list[dict[str, Any]]:
    """Run the planned trials through the sweep (done ones skipped) and make one row per (arm, seed, trial)."""
    unique = list({trial.trial_id: trial for _, _, trial in planned}.values())
    report = run_trials(
        unique,
        store,
        featurizer_version=featurizer_version(s.baseline.model),
        workers=s.workers,
        retry_failed=s.retry_failed,
        tasks={task.spec.name: task},
        show_progress=show_progress,
        trial_fn=trial_fn,
    )
    results = {t.trial_id: _scores(t, report.records.get(t.trial_id), task, trial_fn) for t in unique}
    devices = run_devices(store, task.spec.name)
    rows = []
    for arm, seed, trial in planned:
        scores, error = results[trial.trial_id]
        values = {"trial_id": trial.trial_id, "error": error, "fidelity": s.fidelity, **(scores or {})}
        values["device"] = devices.get(values.get("run_id"))
        rows.append(_row(task.spec.name, arm, seed, s.student, **values))
    return rows


def run_devices(store: RunStore, dataset: str) -> dict[str, str]:
    """Each stored run's training device on ``dataset``: a study run read from the store trained where
    the study ran it (a GPU, say), so its wall seconds are that device's, not this machine's."""
    runs = store.runs(source="ours", dataset=dataset)
    return {str(k): str(v) for k, v in zip(runs["run_id"], runs["device"], strict=True) if pd.notna(v)}


def _scores(
    trial: Trial, record: TrialRecord | None, task: TaskData, trial_fn: TrialFn
) -> tuple[dict[str, Any] | None, str | None]:
    """A done trial's row values, or its error line.

    The sweep logged the run's test ratio beside its dev ratio as the run finished; reading them
    there never trains a finished trial again (a study run made under another home has no run
    folder here, and asking the engine for it would retrain it). Only a trial logged before test
    scoring goes to the engine, which returns a finished run's stored result."""
    if record is None or record.status != "done":
        return None, record.error if record is not None else "not run"
    if record.test_ratio is not None:
        logged = {"test_ratio": record.test_ratio, "dev_ratio": record.ratio, "wall_seconds": record.wall_time_s}
        return logged | {"run_id": record.run_id}, None
    outcome = trial_fn(trial, None, task)
    result = outcome.result
    if result is None:
        return None, outcome.error
    if result.test_ratio is None:
        raise AutodistillError(
            f"a finished run of the held-out arms has no test score (stored before test scoring: {result.output_dir});"
            " delete the folders of such runs and rerun this command to score them on test"
        )
    return {"test_ratio": result.test_ratio, "dev_ratio": result.ratio, "wall_seconds": result.wall_seconds,
            "run_id": result.run_id}, None  # fmt: skip


def oracle_row(runs: pd.DataFrame, dataset: str, student: str, split_version: int) -> dict[str, Any] | None:
    """The study's best stored run of ``student`` on ``dataset`` as a row (arm ``oracle``), among the
    runs on the arms' split version: a dev ratio on another version's splits is no bound on theirs."""
    mine = (runs["dataset"] == dataset) & (runs["student_name"] == student) & (runs["split_version"] == split_version)
    best = oracle_run(runs[mine])
    if best is None:
        return None
    arm = ArmConfig("oracle", record_from_row(best.to_dict()).config)
    test = best.get(STORE_TEST_COLUMN)
    return _row(
        dataset, arm, None, student,
        test_ratio=None if pd.isna(test) else float(test), dev_ratio=float(best["ratio"]),
        wall_seconds=best["wall_time_s"], device=best.get("device"), run_id=best["run_id"],
        fidelity=best.get("fidelity"),
    )  # fmt: skip


# -- the whole evaluation -----------------------------------------------------------------------------------


def read_rows(path: Path) -> pd.DataFrame:
    """The results file as written (an empty frame of :data:`COLUMNS` when there is none yet)."""
    if not path.exists():
        return pd.DataFrame(columns=list(COLUMNS)).astype(DTYPES)
    rows = pd.read_csv(path, dtype=DTYPES)
    if "rank" not in rows:  # written before picks were ranked: those rows say nothing of the order
        rows.insert(COLUMNS.index("rank"), "rank", pd.Series(pd.NA, index=rows.index, dtype="Int64"))
    return rows


def made_here(rows: pd.DataFrame, s: HeldoutSettings) -> set[str]:
    """The run ids of the runs this evaluation made (the oracle's row names a study run, not one of ours).

    At a study fidelity the fixed arms (defaults, baseline, best-mean-rank) are the study's own
    trials, which advice learns from like any study run; only the picks and the random
    configurations are this evaluation's.
    """
    made = rows["arm"] != "oracle"
    if s.fidelity is not None:
        made &= rows["arm"].isin(["pick", "random"])
    return set(rows.loc[made, "run_id"].dropna())


def write_rows(path: Path, frames: Sequence[pd.DataFrame]) -> Path:
    """Write the rows of ``frames`` (those with any) as one results file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = [frame.astype(DTYPES) for frame in frames if not frame.empty]
    frame = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=list(COLUMNS))
    frame[list(COLUMNS)].to_csv(path, index=False)
    return path


def plateau_epochs_of(
    task: TaskData, store: RunStore, s: HeldoutSettings, *, show_progress: bool, trial_fn: TrialFn
) -> int | None:
    """The study's epochs for ``task`` at ``s.fidelity``: fixed, or the no-KD probe's plateau
    (the probe is run first when the store lacks it, as ``autodistill study sweep`` would)."""
    chosen = s.study_fidelity
    if chosen is None or chosen.epochs is not None:
        return None
    name = task.spec.name
    found = found_plateaus(store, [name], [s.student], chosen, s.teacher)
    if (name, s.student) not in found:
        probe = probe_trial(name, s.student, chosen, s.teacher)
        run_trials([probe], store, featurizer_version=featurizer_version(s.baseline.model), workers=0,
                   tasks={name: task}, show_progress=show_progress, trial_fn=trial_fn)  # fmt: skip
        found = found_plateaus(store, [name], [s.student], chosen, s.teacher)
    if (name, s.student) not in found:
        raise AutodistillError(
            f"the no-KD probe of {name} ({s.student}, {chosen.name}) failed, so its epochs are unknown; "
            "the trials log holds the error (`autodistill study export` writes it to trials.csv)"
        )
    return found[(name, s.student)].epochs


def evaluate_dataset(
    name: str,
    store: RunStore,
    s: HeldoutSettings,
    *,
    out: Path,
    tasks: Callable[[str], TaskData],
    show_progress: bool,
    trial_fn: TrialFn,
    on_status: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Hold ``name`` out: choose (or reuse the frozen choices), run every arm, return its rows."""
    version = featurizer_version(s.baseline.model)
    ours = made_here(read_rows(out), s)
    runs = training_runs(store, "ours", version, name, unseen=True)
    runs = runs[~runs["run_id"].isin(ours)]  # earlier data sets' held-out runs are not training rows
    task = tasks(name)
    epochs = plateau_epochs_of(task, store, s, show_progress=show_progress, trial_fn=trial_fn)
    split_version = task.extra.get("split_version", 1)
    budgets = s.budgets(epochs, split_version=split_version)
    chosen = frozen_choices(
        out.parent / CHOICES_FILE, _choices_key(name, s, task), choice_identity(),
        lambda: make_choices(task, runs, s, budgets[0]), on_status,
    )  # fmt: skip
    draws = s.k if s.random is None else s.random
    arms = assemble_arms(chosen.picks, task.spec.task_type, name, draws, s.draw_seed, chosen.best, chosen.trial)
    planned = arm_trials(name, arms, s, budgets)
    rows = run_rows(planned, store, task, s, show_progress=show_progress, trial_fn=trial_fn)
    study = store.runs(source="ours", dataset=name)
    if s.fidelity is not None:
        study = study[study["fidelity"] == s.fidelity]  # the oracle at the same budget
    others = study[~study["run_id"].isin(ours | {r["run_id"] for r in rows})]
    oracle = oracle_row(others, name, s.student, split_version)
    return rows + ([oracle] if oracle else [])


def evaluate_heldout(
    store: RunStore,
    settings: HeldoutSettings | None = None,
    *,
    datasets: Sequence[str] | None = None,
    out: Path = HELDOUT_RESULTS,
    show_progress: bool = True,
    trial_fn: TrialFn = execute_trial,
    on_status: Callable[[str], None] = lambda _text: None,
) -> pd.DataFrame:
    """Every data set of the store's study (or ``datasets``) held out in turn; the results file is
    rewritten after each, keeping rows of data sets not evaluated this time. Returns all its rows."""
    from engine import list_datasets, load_task

    s = settings or HeldoutSettings()
    version = featurizer_version(s.baseline.model)
    import_shipped_if_empty(store, "ours", version, STUDY_DIR, on_status)
    runs = training_runs(store, "ours", version, "", unseen=False)
    names = study_datasets(runs, datasets, {spec.name for spec in list_datasets()})
    tasks = cache(load_task)
    for name in names:
        on_status(f"holding out {name}: choosing without it, then running every arm")
        rows = evaluate_dataset(
            name, store, s, out=out, tasks=tasks, show_progress=show_progress, trial_fn=trial_fn,
            on_status=on_status,
        )  # fmt: skip
        kept = read_rows(out)
        kept = kept[kept["dataset"] != name]
        write_rows(out, [kept, pd.DataFrame(rows, columns=list(COLUMNS))])
    return read_rows(out)
