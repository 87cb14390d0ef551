"""``autodistill search --backend ray``: the same search on Ray Tune, trials in parallel.

Ray Tune's :class:`~ray.tune.search.optuna.OptunaSearch` runs the same TPE over the same
define-by-run space (:func:`autodistill.search.space.suggest_pipeline`), recommend's
picks as its first points, and :class:`~ray.tune.schedulers.ASHAScheduler` prunes over
epochs: each trial reports its dev score per epoch (``tune.report`` from the engine's
epoch callback), then its whole result once more at the end.

Ray stops a trial by ending its worker, so a pruned run cannot finish itself there. This
process finishes it afterwards: the engine resumes the run and the callback stops it at
the epoch Ray stopped it (at once from the run's checkpoint where the run folder is on this
machine's disk, by retraining those epochs, with the same seeds, where it is not). Every
trial is then recorded as the local search records it: in the runs store, and in the
search's Optuna study, so that the best pipeline is chosen and a resume counts them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict
from functools import partial
from typing import Any

import optuna
from optuna.trial import FixedTrial, TrialState

from autodistill.search.request import SearchRequest, make_trial
from autodistill.search.space import distributions, params_of, suggest_pipeline
from autodistill.search.study import SECONDS, counted, distinct_pipelines, result_attrs, spent_seconds, study_path
from autodistill.space import Pipeline, SearchSpace
from autodistill.store.database import RunStore
from autodistill.sweep import Outcome, TrialFn, record_outcome
from engine import AutodistillError, RunResult, TaskData

METRIC = "dev_score"


def define_by_run(trial: optuna.trial.BaseTrial, space: SearchSpace) -> None:
    """OptunaSearch's define-by-run space: the suggestions alone (Ray reads them off the trial)."""
    suggest_pipeline(trial, space)


def tune_trial(params: dict[str, Any], setup: dict[str, Any]) -> None:
    """One Ray Tune trial (a Ray worker runs it): the engine run, each epoch reported, then its outcome."""
    from ray import tune

    pipeline = suggest_pipeline(FixedTrial(params), setup["space"])
    planned = make_trial(setup["request"], pipeline)

    def report(epoch: int, score: float) -> bool:
        tune.report({METRIC: score, "epoch": epoch})
        return False  # ASHA stops a trial by ending this worker

    outcome = setup["trial_fn"](planned, setup["threads"], setup["task"], on_epoch=report)
    if outcome.error is not None:
        raise RuntimeError(outcome.error)
    result: RunResult = outcome.result  # type: ignore[assignment]
    whole = {"result": asdict(result), "seconds": outcome.seconds}
    tune.report({METRIC: result.student_score, "epoch": len(result.history), "outcome": json.dumps(whole)})


def run_ray(
    study: optuna.Study,
    request: SearchRequest,
    space: SearchSpace,
    task: TaskData,
    store: RunStore,
    version: str,
    picks: Mapping[int, Pipeline],
    trial_fn: TrialFn,
    on_status: Callable[[str], None],
) -> int:
    """Run the rest of the budget on Ray Tune, then record every trial; returns how many ran."""
    left = None if request.trials is None else request.trials - distinct_pipelines(study)
    seconds = None if request.time_budget is None else request.time_budget - spent_seconds(study)
    if (left is not None and left <= 0) or (seconds is not None and seconds <= 0):
        return 0
    ray, tune = _import_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    try:
        threads = max(1, int(ray.cluster_resources().get("CPU", 1)) // request.workers)
        if request.workers > 1:  # parallel first trials must not fine-tune the same teacher at once
            from engine import TEACHER_SETTINGS, finetune_teacher

            finetune_teacher(request.teacher, task, TEACHER_SETTINGS, show_progress=False)
        setup = {"space": space, "request": request, "task": task, "threads": threads, "trial_fn": trial_fn,
                 "picks": {rank: params_of(p) for rank, p in picks.items()}}  # fmt: skip
        grid = _tuner(tune, study, setup, left, seconds).fit()
        for result in grid:
            _record(study, setup, store, version, result)
            on_status(f"trial {len(counted(study))}: {study.trials[-1].state.name.lower()}")
    finally:
        if started:
            ray.shutdown()
    return len(grid)


def _tuner(tune: Any, study: optuna.Study, setup: dict[str, Any], left: int | None, seconds: float | None) -> Any:
    """Ray Tune's run: TPE through OptunaSearch (the picks first), ASHA over epochs, the budget left."""
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    request = setup["request"]
    searcher = OptunaSearch(
        space=partial(define_by_run, space=setup["space"]),
        metric=METRIC,
        mode="max",
        points_to_evaluate=list(setup["picks"].values()) or None,
        sampler=optuna.samplers.TPESampler(seed=request.seed),
    )
    return tune.Tuner(
        tune.with_resources(tune.with_parameters(tune_trial, setup=setup), {"cpu": setup["threads"]}),
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode="max",
            search_alg=searcher,
            # one report per epoch, then the whole result: max_t leaves room for that last report
            scheduler=ASHAScheduler(max_t=int(request.budget.epochs) + 1, grace_period=1, reduction_factor=3),
            num_samples=left if left is not None else -1,
            time_budget_s=seconds,
            max_concurrent_trials=request.workers,
        ),
        run_config=tune.RunConfig(
            name=f"{study.study_name}-{len(study.trials)}",
            storage_path=str(study_path(study.study_name).parent / "ray"),
            verbose=0,
        ),
    )


def _import_ray() -> tuple[Any, Any]:
    try:
        import ray
        from ray import tune
    except ImportError:
        raise AutodistillError(
            "the ray backend needs Ray Tune: pip install 'autodistill[distributed]' "
            "(scripts/setup.sh installs it unless --no-ray), or use --backend local"
        ) from None
    return ray, tune


def _record(study: optuna.Study, setup: dict[str, Any], store: RunStore, version: str, result: Any) -> None:
    """One finished Ray trial into the runs store and the study (a pruned one finished here first)."""
    request, space, task = setup["request"], setup["space"], setup["task"]
    params = {name: value for name, value in result.config.items() if name in distributions(space)}
    planned = make_trial(request, suggest_pipeline(FixedTrial(params), space))
    metrics = result.metrics or {}
    if result.error is not None:
        outcome = Outcome(planned.trial_id, None, str(result.error).strip().splitlines()[-1], 0.0)
    elif "outcome" in metrics:
        whole = json.loads(metrics["outcome"])
        outcome = Outcome(planned.trial_id, RunResult(**whole["result"]), None, whole["seconds"])
    else:  # stopped by ASHA after metrics["epoch"]: finish the run as the pruned run it is
        stop_at = int(metrics["epoch"])
        outcome = setup["trial_fn"](planned, None, task, on_epoch=lambda epoch, _score: epoch >= stop_at)
        outcome = Outcome(outcome.trial_id, outcome.result, outcome.error, outcome.seconds + metrics["time_total_s"])
    record = record_outcome(store, planned, outcome, version)
    frozen = _frozen(params, space, outcome, record.status == "failed")
    frozen.set_user_attr("pipeline", planned.config.label)  # type: ignore[union-attr]
    frozen.set_user_attr("trial_id", planned.trial_id)
    rank = next((rank for rank, pick in setup["picks"].items() if pick == params), None)
    if rank is not None:
        frozen.set_user_attr("pick", rank)
    study.add_trial(frozen)


def _frozen(params: dict[str, Any], space: SearchSpace, outcome: Outcome, failed: bool) -> optuna.trial.FrozenTrial:
    """The Ray trial as a trial of the search's study (its state, dev ratio and epochs)."""
    result: RunResult | None = outcome.result  # type: ignore[assignment]
    attrs: dict[str, Any] = {SECONDS: outcome.seconds}
    if failed or result is None:
        attrs["error"] = outcome.error or "not recorded"
        state, value, steps = TrialState.FAIL, None, {}
    else:
        attrs.update(result_attrs(result))
        steps = {int(row["epoch"]): float(row[result.metric]) for row in result.history}
        pruned = result.pruned_after_epoch is not None
        state, value = (TrialState.PRUNED, None) if pruned else (TrialState.COMPLETE, result.ratio)
    dists = distributions(space)
    return optuna.trial.create_trial(
        params=params,
        distributions={name: dists[name] for name in params},
        value=value,
        state=state,
        intermediate_values=steps,
        user_attrs=attrs,
    )
