"""``autodistill search``: recommend's picks first, then TPE with pruning over epochs, every trial stored.

Beyond the paper. AutoDistiller's picks are a prior; a search then learns from this
data set's own results:

1. recommend's top picks are queued first (Optuna's ``enqueue_trial``), so a
   search never does worse than running them;
2. then Optuna's TPE sampler proposes pipelines from the trials so far
   (:mod:`autodistill.search.space`: the Distiller space plus logit-only KD, α only for MI-α);
3. each trial reports its dev score after every epoch through the engine's epoch
   callback; a multi-fidelity pruner (:data:`PRUNERS`: asynchronous successive halving
   by default, or Hyperband) stops the unpromising ones, which still end as complete
   runs of the epochs they ran;
4. every trial goes into the runs store through the sweep's record path
   (:func:`autodistill.sweep.record_outcome`), so the meta-dataset grows with use;
5. the best completed trial is chosen on dev (the distillation ratio), reported with
   its test ratio, and its student is exported.

Budgets are trials, seconds, or both (whichever ends first), counted over the whole
study, so a resumed search finishes what is left (:mod:`autodistill.search.study`).
Locally trials run one after another in this process; ``backend="ray"`` hands them to
Ray Tune (:mod:`autodistill.search.ray_tune`).
"""

from __future__ import annotations

import math
import shutil
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, Trial, TrialState

from autodistill.bridge import space_for
from autodistill.search.request import PRUNERS, SearchRequest, make_trial, search_key
from autodistill.search.space import params_of, suggest_pipeline
from autodistill.search.study import (
    SECONDS,
    SearchKey,
    counted,
    distinct_pipelines,
    open_study,
    repeats_at_end,
    result_attrs,
    spent_seconds,
    trial_seconds,
)
from autodistill.space import ADVICE_SPACE, Pipeline, SearchSpace
from autodistill.store.configurations import is_logit_kd
from autodistill.store.database import RunStore
from autodistill.sweep import Outcome, TrialFn, execute_trial, record_outcome
from autodistill.sweep import Trial as SweepTrial
from engine import AutodistillError, RunResult, TaskData, TrainSettings, one_answer_note, paths

if TYPE_CHECKING:
    from autodistill.advice.recommendation import Pick


@dataclass
class SearchReport:
    """The study's trials, the best on dev with its test ratio, and where its student went."""

    study_name: str
    trials: list[FrozenTrial]
    ran: int = 0
    best: FrozenTrial | None = None
    best_pipeline: Pipeline | None = None
    exported: Path | None = None
    notes: list[str] = field(default_factory=list)
    #: Logit KD's dev ratio at the search's budget on this data set, from the store, beside the best
    #: (:func:`logit_kd_reference`): a search's best is worth running only where it beats the default.
    reference: str | None = None
    #: The dev examples the best trial was scored on, and the standard error of its dev ratio from their
    #: number alone: on a small dev split, trials closer than that are not told apart.
    dev_resolution: tuple[int, float] | None = None


def recommended_picks(
    task: TaskData,
    store: RunStore,
    request: SearchRequest,
    top: int,
    on_status: Callable[[str], None],
    unseen: bool = False,
) -> list[Pipeline]:
    """AutoDistiller's top ``top`` pipelines for this data set and student at the search's budget
    (:func:`autodistill.advice.recommend.recommend`); ``unseen`` leaves the runs of the data set's family (it and
    the data sets sharing its source examples) out of the models (held-out measurements). The advice's
    longer-budget pick trains past a trial's epochs, so it is named and passed over: where it was among the
    top, the advice is asked for one more, so that ``top`` picks still run. Where fewer than ``top`` remain
    (no other pipeline is predicted to beat logit KD), logit KD, the default they are weighed against, runs
    among them: the search's best is then read against it at this budget on this data."""
    from autodistill.advice.recommend import recommend

    if top < 1:
        return []

    def advise(n: int, status: Callable[[str], None]) -> tuple[list[Pipeline], Pick | None, Pick | None]:
        rec = recommend(
            task, store, dataset=request.dataset, teacher=request.teacher, student=request.student, top=n,
            budget=request.budget, unseen=unseen, show_progress=False, on_status=status, columns=request.columns,
        )  # fmt: skip
        longer = rec.patient.rank if rec.patient is not None else 0
        return [pick.config for pick in rec.picks if pick.rank != longer][:top], rec.patient, rec.logit_kd

    picks, longer, logit = advise(top, on_status)
    if longer is not None and 0 < longer.rank <= top:
        picks, _, logit = advise(top + 1, lambda _text: None)  # its steps were said the first time
    if longer is not None and longer.rank:
        epochs = longer.engine.get("train", {}).get("epochs")
        on_status(
            f"the advice's {longer.config.name} for {epochs} epochs trains past a trial's budget; "
            "`autodistill recommend` then `autodistill run --recommendation ... --pick N` runs it"
        )
    if len(picks) < top and logit is not None and logit.config not in picks:
        picks.append(logit.config)
        on_status(f"logit KD, the default, runs among the picks: {_fewer(len(picks) - 1)}")
    return picks


def _fewer(others: int) -> str:
    """Why logit KD is among a search's picks: ``others`` pipelines are predicted to beat it at this budget."""
    if others == 0:
        return "no other pipeline is predicted to beat it at a trial's budget"
    return f"only {others} other{'s' * (others != 1)} {'is' if others == 1 else 'are'} predicted to beat it here"


def run_search(
    request: SearchRequest,
    task: TaskData,
    store: RunStore,
    *,
    featurizer_version: str,
    picks: Callable[[], Sequence[Pipeline]] = lambda: (),
    space: SearchSpace = ADVICE_SPACE,
    trial_fn: TrialFn = execute_trial,
    out: Path | None = None,
    on_status: Callable[[str], None] = lambda _text: None,
) -> SearchReport:
    """Search ``request`` on ``task``; ``picks`` is asked only when the study is new (it fine-tunes a teacher)."""
    request.check()
    space = space_for(task.spec.task_type, space)
    key = search_key(request, space)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # multivariate/group TPE
        sampler = optuna.samplers.TPESampler(seed=request.seed, multivariate=True, group=True, n_startup_trials=5)
    study = open_study(key, request.study, sampler, PRUNERS[request.pruner](key.budget["epochs"]))
    _refuse_too_small(request, study, trial_seconds(study, store, key))  # before the costly picks
    first = _searchable(picks(), space, on_status) if not study.trials else {}
    if first:
        on_status(f"the predictor's {', '.join(f'pick {rank}' for rank in first)} run{'s' * (len(first) == 1)} first")
    if request.backend == "ray":
        from autodistill.search.ray_tune import run_ray

        ran = run_ray(study, request, space, task, store, featurizer_version, first, trial_fn, on_status)
    else:
        for rank, pipeline in first.items():
            study.enqueue_trial(params_of(pipeline), user_attrs={"pick": rank})
        ran = _run_local(study, request, key, space, task, store, featurizer_version, trial_fn, on_status)
    report = _report(study, request, space, ran, out)
    if report.best is not None:
        report.reference = logit_kd_reference(store.runs(dataset=task.spec.name), key, len(task.train), report.best)
    return report


def logit_kd_reference(runs: pd.DataFrame, key: SearchKey, n_train: int, best: FrozenTrial) -> str:
    """Logit KD's mean dev ratio over ``runs`` (the store's on the data set) of the search's student and
    teacher at its budget, against the best trial's; or that the store holds none to compare with."""
    from autodistill.advice.runs import budget_inputs, same_scoring  # as recommend prices and reads them

    runs = same_scoring(runs, set(runs["dataset"]), (key.columns or {}).get("metric"))  # all on the data set
    alike = is_logit_kd(runs) & (runs["student_name"] == key.student) & (runs["teacher_name"] == key.teacher)
    for column, value in budget_inputs(TrainSettings(**key.budget), n_train).items():
        alike &= runs[column] == value
    same = runs[alike]
    if same.empty:
        return "logit KD, the default: no run at this budget in the store to compare with (`autodistill run` makes one)"
    ratio, n = float(same["ratio"].mean()), len(same)
    return (
        f"logit KD, the default: dev ratio {ratio:.3f} at this budget ({n} run{'s' * (n != 1)} in the store); "
        f"the best trial is {float(best.value) - ratio:+.3f} from it"  # type: ignore[arg-type]
    )


def _searchable(picks: Sequence[Pipeline], space: SearchSpace, on_status: Callable[[str], None]) -> dict[int, Pipeline]:
    """The picks this search's space holds, each once, by their rank in the recommendation. A pick outside
    it (logit KD with augmentation, from the longer-budget list) would be enqueued as the nearest point
    the space holds, a pipeline other than the pick; it is named instead, for ``autodistill run
    --recommendation`` to run as it is."""
    kept: dict[int, Pipeline] = {}
    for rank, pick in enumerate(picks, start=1):
        if suggest_pipeline(optuna.trial.FixedTrial(params_of(pick)), space) != pick:
            on_status(f"pick {rank} ({pick.name}) is outside the search's space; `autodistill run` runs it as it is")
        elif pick not in kept.values():
            kept[rank] = pick
    return kept


def _refuse_too_small(request: SearchRequest, study: optuna.Study, estimate: tuple[float, str] | None) -> None:
    """A new search whose time budget cannot fit one whole trial, by what one took before, is refused
    up front (a resumed one just stops when its budget is spent)."""
    if request.time_budget is None or estimate is None or counted(study):
        return
    seconds, source = estimate
    if request.time_budget < seconds:
        raise AutodistillError(
            f"a time budget of {request.time_budget:.0f} s is too small for one trial: one takes about "
            f"{seconds:.0f} s here ({source}); give --time-budget {math.ceil(seconds)} or more"
        )


#: Proposals in a row of pipelines already run after which a search stops: its sampler has converged.
MAX_REPEATS = 10


def _room_for_another(study: optuna.Study, request: SearchRequest, store: RunStore, key: SearchKey) -> bool:
    """Trials (distinct pipelines) and seconds left for one more whole trial, and a sampler still exploring."""
    if request.trials is not None and distinct_pipelines(study) >= request.trials:
        return False
    if repeats_at_end(study) >= MAX_REPEATS:
        return False
    if request.time_budget is None:
        return True
    estimate = trial_seconds(study, store, key)
    return spent_seconds(study) + (estimate[0] if estimate else 0.0) <= request.time_budget


def _run_local(
    study: optuna.Study,
    request: SearchRequest,
    key: SearchKey,
    space: SearchSpace,
    task: TaskData,
    store: RunStore,
    version: str,
    trial_fn: TrialFn,
    on_status: Callable[[str], None],
) -> int:
    """Ask, run through the engine with the pruner listening, record, tell; until the budget is spent."""
    ran = 0
    while _room_for_another(study, request, store, key):
        trial = study.ask()
        pipeline = suggest_pipeline(trial, space)
        planned, listener = make_trial(request, pipeline), Pruning(trial)
        outcome = trial_fn(planned, None, task, on_epoch=listener)  # type: ignore[call-arg]
        record = record_outcome(store, planned, outcome, version)
        tell(study, trial, planned, outcome, record.status == "failed", listener.heard)
        ran += 1
        on_status(_line(len(counted(study)), pipeline, study.trials[trial.number]))
    return ran


@dataclass
class Pruning:
    """The engine's epoch callback for one trial: report the dev score, stop where the pruner says.
    Intermediate values are student dev scores (the teacher's is the same for every trial)."""

    trial: Trial
    heard: bool = False

    def __call__(self, epoch: int, score: float) -> bool:
        self.heard = True
        self.trial.report(score, epoch)
        return self.trial.should_prune()


def tell(study: optuna.Study, trial: Trial, planned: SweepTrial, outcome: Outcome, failed: bool, heard: bool) -> None:
    """Close ``trial`` with its outcome: the dev ratio of a whole run, pruned, or failed. A run the
    engine had stored whole (``heard`` no epoch) reports its history, so the pruner sees it too."""
    trial.set_user_attr("trial_id", planned.trial_id)
    trial.set_user_attr("pipeline", planned.config.label)  # type: ignore[union-attr]
    trial.set_user_attr(SECONDS, outcome.seconds)
    if failed or outcome.result is None:
        trial.set_user_attr("error", outcome.error or "not recorded")
        study.tell(trial, state=TrialState.FAIL)
        return
    result = cast(RunResult, outcome.result)
    if not heard:
        for row in result.history:
            trial.report(float(row[result.metric]), int(row["epoch"]))
    for name, value in result_attrs(result).items():
        trial.set_user_attr(name, value)
    if result.pruned_after_epoch is not None:
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, result.ratio)


def _line(number: int, pipeline: Pipeline, trial: FrozenTrial) -> str:
    what = pipeline.label
    if trial.state == TrialState.COMPLETE:
        answer = trial.user_attrs.get("one_answer")
        guessed = f" (answers {answer!r} to every dev example)" if answer is not None else ""
        return f"trial {number}: {what}: dev ratio {trial.value:.3f}{guessed}"
    if trial.state == TrialState.PRUNED:
        return f"trial {number}: {what}: pruned after epoch {trial.user_attrs.get('epochs')}"
    return f"trial {number}: {what}: failed: {trial.user_attrs.get('error')}"


def _report(
    study: optuna.Study,
    request: SearchRequest,
    space: SearchSpace,
    ran: int,
    out: Path | None,
) -> SearchReport:
    """The best whole trial on dev, its student exported; a budget that fit no trial said plainly."""
    trials = counted(study)
    report = SearchReport(study.study_name, trials, ran)
    whole = [t for t in trials if t.state == TrialState.COMPLETE]
    shortest = min((float(t.user_attrs[SECONDS]) for t in trials), default=0.0)
    if request.time_budget is not None and shortest > request.time_budget:
        report.notes.append(
            f"the time budget of {request.time_budget:.0f} s was too small for one trial: the shortest took "
            f"{shortest:.0f} s; give --time-budget {math.ceil(shortest)} or more"
        )
    if repeats_at_end(study) >= MAX_REPEATS:
        report.notes.append(f"stopped early: the sampler proposed {MAX_REPEATS} pipelines in a row it had run")
    if not whole:
        report.notes.append("no trial ran to its last epoch, so there is no best pipeline yet; raise the budget")
        return report
    best = max(whole, key=lambda t: float(t.value))  # type: ignore[arg-type]
    report.best, report.best_pipeline = best, suggest_pipeline(optuna.trial.FixedTrial(best.params), space)
    report.exported = export_student(Path(best.user_attrs["output_dir"]), out or _default_out(study.study_name))
    if best.user_attrs.get("dev_examples"):  # trials of searches made before it was kept have none
        report.dev_resolution = int(best.user_attrs["dev_examples"]), float(best.user_attrs["dev_ratio_se"])
    if (answer := best.user_attrs.get("one_answer")) is not None:
        note = one_answer_note("the best trial's student", answer)
        report.notes.append(f"warning: {note}; more --epochs per trial, or the advice's longer budget")
    return report


def _default_out(name: str) -> Path:
    return paths.subdir("search", name) / "best-student"


def export_student(run_dir: Path, out: Path) -> Path:
    """The best run's student, as the engine exported it (a Hugging Face folder with its model card)."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(run_dir / "student", out)
    return out
