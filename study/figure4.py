"""The paper's Figure 4 protocol: AutoDistiller's top picks against random configurations.

Run the top N picks of a recommendation and N random configurations under one budget
and compare their actual distillation ratios (the student's no-KD baseline is run too,
for reference). The runs go to the store like any sweep trial, so a report can look
them up by trial id without running anything. This is the project's own evidence
(``autodistill study report``, ``autodistill recommend --run-top``), not part of the
recommender itself, which is why it lives here rather than in :mod:`autodistill.advice.recommend`.

For the study page, :func:`versus_random` picks once per held-out data set, saves the
picks next to the page and reuses them, so the ratios shown belong to the picks that
were run (see :mod:`study.report`).
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from autodistill import (
    DEFAULT_STUDENT,
    Pipeline,
    Recommendation,
    RunStore,
    Trial,
    engine_config,
    load_recommendation,
    make_budget,
    recommend,
    space_for,
)
from autodistill.bridge import baseline_config
from autodistill.store.schema import fidelity_of
from autodistill.sweep import TrialFn, execute_trial, run_trials
from engine import AutodistillError, TaskData, TrainSettings, load_task
from study.tables import TOP_K, sweep_setting


def random_configs(task: TaskData, n: int, seed: int, exclude: Sequence[Pipeline]) -> list[Pipeline]:
    """``n`` distinct random configurations the task can run, none of them in ``exclude``."""
    space = space_for(task.spec.task_type)
    rng = random.Random(f"autodistill-vs-random:{seed}:{task.spec.name}")
    drawn: dict[Pipeline, None] = {}
    while len(drawn) < n:
        config = space.sample(rng)
        if config not in exclude:
            drawn.setdefault(config, None)
    return list(drawn)


def versus_random_trials(
    recommendation: Recommendation,
    task: TaskData,
    *,
    top: int,
    random_n: int,
    seed: int = 0,
    budget: TrainSettings | None = None,
) -> list[tuple[str, Trial]]:
    """The Figure 4 trials, each with its group: the top ``top`` picks (``AutoDistiller``),
    ``random_n`` random configurations (``random``) and the student's no-KD baseline (``no-KD``).

    A pure function of its arguments, so the trial ids can be looked up in a store
    without running anything (``autodistill study report`` does).
    """
    if top > len(recommendation.picks):
        raise AutodistillError(f"--run-top {top} exceeds the {len(recommendation.picks)} picks; raise --top")
    budget = budget or make_budget()
    fidelity = fidelity_of(budget.max_train_examples, budget.max_length)  # the study's cheap budget, as its runs
    rec = recommendation
    picked = [p.config for p in rec.picks[:top]]
    groups: list[tuple[str, Pipeline | None]] = [("AutoDistiller", c) for c in picked]
    groups += [("random", c) for c in random_configs(task, random_n, seed, picked)]
    groups.append(("no-KD", None))
    on_splits = {"split_version": rec.picks[0].engine.get("split_version")}  # the splits the picks were made for
    return [
        (
            group,
            Trial.make(
                "distill",
                engine_config(c, rec.dataset, teacher=rec.teacher, student=rec.student, budget=budget).model_copy(
                    update=on_splits
                ),
                rec.student,
                c,
                fidelity,
            )
            if c is not None
            else Trial.make(
                "finetune",
                baseline_config(rec.dataset, teacher=rec.teacher, student=rec.student, budget=budget).model_copy(
                    update=on_splits
                ),
                rec.student,
                fidelity=fidelity,
            ),
        )
        for group, c in groups
    ]


def versus_random_results(planned: Sequence[tuple[str, Trial]], store: RunStore) -> pd.DataFrame:
    """One row per planned trial as the store's trials log has it: group, config, trial id,
    status (``done``, ``failed``, or None: not run yet), actual ratio (NaN unless done; on the test
    split where the trial read it, else dev), the split it is on, and error."""
    log = store.trials(source="ours").set_index("trial_id")
    rows = []
    for group, trial in planned:
        row = log.loc[trial.trial_id] if trial.trial_id in log.index else None
        status = None if row is None else str(row["status"])
        done = row is not None and status == "done"
        tested = done and not pd.isna(row["test_ratio"])  # type: ignore[index]
        rows.append(
            {
                "group": group,
                "config": trial.config,
                "trial_id": trial.trial_id,
                "status": status,
                "ratio": float(row["test_ratio" if tested else "ratio"]) if done else math.nan,  # type: ignore[index]
                "scored on": ("test" if tested else "dev only") if done else None,
                "error": row["error"] if row is not None and isinstance(row["error"], str) else None,
            }
        )
    return pd.DataFrame(rows)


def run_versus_random(
    recommendation: Recommendation,
    task: TaskData,
    store: RunStore,
    *,
    top: int,
    random_n: int,
    seed: int = 0,
    budget: TrainSettings | None = None,
    workers: int = 0,
    show_progress: bool = True,
    trial_fn: Callable | None = None,
) -> pd.DataFrame:
    """Run the top ``top`` picks, ``random_n`` random configurations and the student's no-KD baseline.

    One row per run (group ``AutoDistiller``, ``random`` or ``no-KD``) with its actual ratio
    (:func:`versus_random_results`); all under one budget, logged in the store like sweep
    trials (finished ones are reused).
    """
    planned = versus_random_trials(recommendation, task, top=top, random_n=random_n, seed=seed, budget=budget)
    run_trials(
        [trial for _, trial in planned],
        store,
        featurizer_version=recommendation.featurizer_version,
        workers=workers,
        tasks={recommendation.dataset: task},
        show_progress=show_progress,
        trial_fn=trial_fn or execute_trial,
    )
    return versus_random_results(planned, store)


def group_stats(results: pd.DataFrame) -> dict[str, tuple[float, float, int]]:
    """Mean, standard deviation and count of the finished runs' ratios per group (Figure 4's legend)."""
    stats = {}
    for group, frame in results.groupby("group", sort=False):
        ratios = [r for r in frame["ratio"] if not math.isnan(r)]
        mean = statistics.fmean(ratios) if ratios else math.nan
        std = statistics.stdev(ratios) if len(ratios) > 1 else math.nan
        stats[str(group)] = (mean, std, len(ratios))
    return stats


# -- the study's Figure 4: frozen picks per held-out data set ----------------------------------------


@dataclass(frozen=True)
class VersusRandom:
    """Figure 4 on one held-out data set: its frozen picks, and what the store has of their trials.

    ``recommendation`` and ``results`` (:func:`~study.figure4.versus_random_results`)
    are None while the data set has not been picked for; ``error`` holds the one
    line that stopped picking or running.
    """

    dataset: str
    recommendation: Recommendation | None = None
    results: pd.DataFrame | None = None
    error: str | None = None


def finished_ratios(results: pd.DataFrame, group: str) -> pd.Series:
    """The ratios of ``group``'s finished runs in one data set's results (not-run and failed ones have none)."""
    return results.loc[(results["group"] == group) & (results["status"] == "done"), "ratio"]


def picked_run_ids(store: RunStore, items: Sequence[VersusRandom]) -> set[str]:
    """The stored runs of AutoDistiller's picks: not random search, so kept out of its analyses."""
    ids = {
        trial_id
        for item in items
        if item.results is not None
        for trial_id in item.results.loc[item.results["group"] == "AutoDistiller", "trial_id"]
    }
    trials = store.trials(status="done")
    return set(trials.loc[trials["trial_id"].isin(ids), "run_id"].dropna())


def versus_random(
    store: RunStore,
    dataset: str,
    picks: Path,
    *,
    run_missing: bool,
    trial_fn: TrialFn | None = None,
) -> VersusRandom:
    """Figure 4 for one data set: pick (once, saved to ``picks``), run what is missing if asked, look up the rest.

    The student is ``layers=0,2,4`` (three of the teacher's layers, recommend's
    default), in the place of the paper's TinyBERT_4. Picking uses :func:`autodistill.advice.recommend.recommend`
    with ``unseen=True``
    (the data set's own runs stay out of training), under the teacher and budget
    of that student's sweep trials on the data set (:func:`study.tables.sweep_setting`), so the
    picks are comparable with its random search; the random configurations are
    :func:`random_configs` (seed 0, none of the picks).
    """
    if picks.exists():
        rec = load_recommendation(picks)
        if (rec.dataset, rec.student) != (dataset, DEFAULT_STUDENT):
            raise AutodistillError(
                f"{picks} holds picks for {rec.dataset} / {rec.student}, not {dataset} / {DEFAULT_STUDENT}; "
                "delete it to pick again"
            )
    elif run_missing:
        teacher, budget = sweep_setting(store.trials(source="ours"), dataset, DEFAULT_STUDENT)
        rec = recommend(
            load_task(dataset),
            store,
            teacher=teacher,
            student=DEFAULT_STUDENT,
            top=TOP_K,
            source="ours",
            budget=budget,
            unseen=True,
            show_progress=False,
            shipped=None,
            probe=False,  # the arms are pipelines: whether to distil at all is not asked here
        )
        rec.save(picks)
    else:
        return VersusRandom(dataset)
    task = load_task(rec.dataset)
    budget = TrainSettings(**rec.picks[0].engine["train"])
    if run_missing:
        results = run_versus_random(
            rec, task, store, top=TOP_K, random_n=TOP_K, budget=budget, show_progress=False, trial_fn=trial_fn
        )
    else:
        planned = versus_random_trials(rec, task, top=TOP_K, random_n=TOP_K, budget=budget)
        results = versus_random_results(planned, store)
    return VersusRandom(dataset, rec, results)


def finished_versus(items: Sequence[VersusRandom]) -> list[tuple[str, pd.DataFrame]]:
    """(data set, results) of the held-out data sets with finished runs in both groups (Figure 4's plot)."""
    return [
        (item.dataset, item.results)
        for item in items
        if item.error is None
        and item.results is not None
        and item.recommendation is not None
        and all(len(finished_ratios(item.results, group)) for group in ("AutoDistiller", "random"))
    ]
