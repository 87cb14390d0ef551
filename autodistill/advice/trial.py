"""A trial on the data set itself: the evidence other data sets cannot give.

Where other data sets' runs do not point past logit KD (recommend's usual verdict), what is left is
the data set's own runs: recommend puts a configuration first once it led logit KD there, on mean dev
ratio, by more than twice its standard error (:func:`autodistill.advice.gain.own_leads`), and says to
train the student alone once that led logit KD so, by more than any configuration
(:func:`autodistill.advice.alone.alone_lead`). A trial collects those runs: logit KD, the student trained
alone and the ``k`` configurations of the study's fixed list most likely to beat logit KD here (highest
top of the predicted gain's 80 % interval: a trial looks for what *might* win), each with seeds
``0 .. s-1`` under the recommendation's budget, stored where recommend reads them. The student alone is
there because the data set may not need a teacher at all: on a word-list task the study never saw
(stopwords-language, ``meta_data/prospective/``) it beat logit KD by 0.17 test ratio.

Replayed on the study's own runs (``benchmarks/own_trial.py``), four alternatives with three seeds
found two of the three leads the study finds beyond its noise, for about 20 logit KD runs, and picked
nothing that lost to logit KD on test; the third needed the whole list with six seeds. So a trial is
priced before it runs (:attr:`~autodistill.advice.recommendation.TrialPlan.minutes`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from autodistill.advice.evidence import Evidence
from autodistill.advice.gain import OWN_Z, GainEstimate, gains_over
from autodistill.advice.recommendation import Recommendation, TrialPlan
from autodistill.bridge import baseline_config, engine_config
from autodistill.space import Pipeline
from autodistill.store.database import RunStore
from autodistill.store.schema import fidelity_of
from autodistill.sweep.execute import TrialFn, execute_trial
from autodistill.sweep.plan import Trial
from autodistill.sweep.runner import SweepReport, run_trials
from autodistill.sweep.study_plan import STUDY_CONFIGS
from engine import AutodistillError, DataColumns, TrainSettings

#: Seeds per configuration unless asked otherwise: the study's, and what the replay above used.
TRIAL_SEEDS = 3


def check_trial(k: int, seeds: int, *, unseen: bool = False) -> None:
    """Refuse a trial that could not show a lead, before anything is fitted or run."""
    if unseen:
        raise AutodistillError("--trial collects the data set's own runs, which --unseen leaves out; drop one")
    if k < 1 or seeds < 2:
        raise AutodistillError(
            f"--trial needs at least 1 alternative and --trial-seeds at least 2 (a lead's standard error "
            f"comes from the seeds' spread), got {k} and {seeds}"
        )


def plan_trial(evidence: Evidence, task_type: str, logit: Pipeline, k: int, seeds: int) -> TrialPlan:
    """The ``k`` fixed-list configurations with the highest top of their predicted gain's interval here;
    where the store's runs predict no gain (a student started as no stored run's was), the list's first
    ``k`` in its order (the paper's fixed defaults first), and the plan says why: the trial's own runs
    are then the only evidence, and they are what it is for."""
    check_trial(k, seeds)
    fixed = [c.for_task(task_type) for c in STUDY_CONFIGS]
    candidates = list(dict.fromkeys(p for p in fixed if p is not None and not p.logit_only))
    if evidence.gains is None:
        chosen, gains = tuple(candidates[:k]), (None,) * min(k, len(candidates))
    else:
        estimates = evidence.gains.estimate(candidates)
        order = by_interval_top(estimates)[:k]
        chosen, gains = tuple(candidates[i] for i in order), tuple(estimates[i] for i in order)
    minutes = tuple(m for m, _range in evidence.minutes([logit, *chosen]))
    examples, length = (int(evidence.setting[key]) for key in ("train_examples", "max_length"))  # type: ignore[call-overload]
    return TrialPlan(logit, chosen, gains, minutes, seeds, fidelity_of(examples, length), unranked=evidence.missing)


def by_interval_top(gains: Sequence[GainEstimate]) -> list[int]:
    """Positions of ``gains``, the highest top of the interval first (ties keep their order): the order
    a trial tries alternatives in, here and in its replay (:mod:`autodistill.evaluation.own_trial`)."""
    return [int(i) for i in np.argsort([-g.high for g in gains], kind="stable")]


def run_trial(
    rec: Recommendation,
    store: RunStore,
    budget: TrainSettings,
    *,
    show_progress: bool = True,
    trial_fn: TrialFn = execute_trial,
) -> SweepReport:
    """Run ``rec``'s planned trial into ``store`` (finished runs are reused, so a cut-short trial
    resumes); advise again afterwards to read it."""
    if rec.trial is None:
        raise AutodistillError("this recommendation plans no trial: ask for one with --trial K")
    made_for = rec.picks[0].engine  # the splits and columns the recommendation was made for
    trials = trial_runs(
        rec.trial, rec.dataset, teacher=rec.teacher, student=rec.student, budget=budget,
        split_version=made_for.get("split_version"), columns=made_for.get("columns"),
    )  # fmt: skip
    return run_trials(
        trials, store, featurizer_version=rec.featurizer_version, workers=0, show_progress=show_progress,
        trial_fn=trial_fn,
    )  # fmt: skip


def trial_readout(plan: TrialPlan, report: SweepReport) -> str:
    """What the trial measured, on dev: each alternative's and the student alone's mean ratio less logit
    KD's, with its standard error (the seeds' variance pooled, :func:`autodistill.advice.gain.gains_over`),
    and which lead clears :data:`~autodistill.advice.gain.OWN_Z` of them; the advice that follows reads the
    same runs. Said even where nothing clears, so that a trial never ends without its answer."""
    arms = [("the student alone" if t.kind == "finetune" else t.config.label, report.ratio(t)) for t in report.trials]
    scores = pd.DataFrame([(arm, ratio) for arm, ratio in arms if ratio is not None], columns=["config", "ratio"])
    found = sorted(gains_over(scores, plan.logit.label), key=lambda arm: -arm[1]) if len(scores) else []
    if not found:
        return "trial: too few finished runs to set beside logit KD's (two seeds of one arm at least)"
    each = "; ".join(f"{arm} {gain:+.3f} ± {se:.3f}" for arm, gain, se in found)
    beyond = [arm for arm, gain, se in found if gain > OWN_Z * se]
    cleared = ", ".join(beyond) if beyond else "none"
    return (
        f"trial, dev ratio over logit KD's ({plan.seeds} seeds each, ± one standard error): {each}; "
        f"beyond {OWN_Z:g} standard errors: {cleared}"
    )


def trial_runs(
    plan: TrialPlan,
    dataset: str,
    *,
    teacher: str,
    student: str,
    budget: TrainSettings,
    split_version: int | None,
    columns: DataColumns | None = None,
) -> list[Trial]:
    """The trial's runs, seed by seed (a trial cut short still pairs each configuration with logit KD),
    as sweep trials of the recommendation's budget class on the splits it was made for: the student
    alone first, then each pipeline."""
    trials = []
    for seed in range(plan.seeds):
        seeded = budget.model_copy(update={"seed": seed})
        trials.append(alone_trial(dataset, teacher=teacher, student=student, budget=seeded, columns=columns,
                                  fidelity=plan.fidelity, split_version=split_version))  # fmt: skip
        for pipeline in plan.pipelines:
            engine = engine_config(pipeline, dataset, teacher=teacher, student=student, budget=seeded, columns=columns)
            engine = engine.model_copy(update={"split_version": split_version})
            trials.append(Trial.make("distill", engine, student, pipeline, plan.fidelity))
    return trials


def alone_trial(
    dataset: str,
    *,
    teacher: str,
    student: str,
    budget: TrainSettings,
    columns: DataColumns | None = None,
    fidelity: str | None = None,
    split_version: int | None = None,
) -> Trial:
    """The student trained alone at ``budget`` (its seed included) as a sweep trial: a trial's baseline, or
    the probe of whether to distil at all (:mod:`autodistill.advice.probe`), stored either way, so that a
    second ``recommend`` reads it instead of training again."""
    config = baseline_config(dataset, teacher=teacher, student=student, budget=budget, columns=columns)
    config = config.model_copy(update={"split_version": split_version})
    return Trial.make("finetune", config, student, fidelity=fidelity)
