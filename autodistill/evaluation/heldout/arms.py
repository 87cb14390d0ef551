"""Which configurations each arm of the held-out evaluation runs on one data set, chosen without it.

Everything here is a choice made *before* the held-out data set's runs are looked at:
the advice's gain model learns from the other families' runs only (the caller's
:func:`autodistill.advice.runs.training_runs` with ``unseen``), and ``best-mean-rank`` is read off
the other data sets' runs of the study's fixed list.
The oracle alone looks at the held-out data set's stored runs: it is the ceiling the
study reached there, not an arm anyone could choose in advance.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from autodistill.advice.evidence import Evidence
from autodistill.advice.proposals import propose
from autodistill.advice.verdict import decide
from autodistill.bridge import space_for
from autodistill.space import Pipeline
from autodistill.space.defaults import FIXED_DEFAULTS, fixed_default
from autodistill.store.database import record_from_row
from autodistill.sweep import sample_configs
from autodistill.sweep.study_plan import STUDY_CONFIGS, study_names, task_type_of
from engine import AutodistillError, real_valued

#: The runs-store column the oracle and ``best-mean-rank`` are CHOSEN by: the dev ratio, since
#: choosing is selection (the oracle's row then reports its test ratio, ``test_ratio``, where the
#: store has one). Choosing by test would let the test split pick what it then scores.
STORE_SCORE = "ratio"
BEST_MEAN_RANK = "best-mean-rank"
#: The arm of a trial's alternatives (``recommend --trial``), run beside the logit KD arm.
TRIAL = "trial"


def stored_score(runs: pd.DataFrame) -> pd.Series:
    """The score the store gives each run, for the oracle and ``best-mean-rank`` (:data:`STORE_SCORE`)."""
    if STORE_SCORE not in runs or runs[STORE_SCORE].isna().all():
        raise AutodistillError(
            f"the runs store's runs have no {STORE_SCORE!r} scores; fill them by rerunning the study's sweep with "
            "this version (`autodistill sweep ...`), which scores every run on its test split"
        )
    return runs[STORE_SCORE]


@dataclass(frozen=True)
class ArmConfig:
    """One configuration an arm runs: ``config`` None is the student's no-KD baseline."""

    arm: str
    config: Pipeline | None
    rank: int | None = None  # a pick's place in the advice's order (1 = its top pick)


# -- the advice's picks, without the held-out data set -------------------------------------------------


def proposed(evidence: Evidence, configs: Sequence[Pipeline], n: int) -> list[Pipeline]:
    """The ``n`` distinct pipelines of ``configs`` with the highest predicted gain over logit KD
    (:func:`autodistill.advice.proposals.propose`, as ``recommend`` weighs them); none without a gain model."""
    if evidence.gains is None:
        return []
    return [p.config for p in propose(evidence.gains, configs).top(n)]


def advised_picks(
    candidates: Sequence[Pipeline], logit: Pipeline, evidence: Evidence, k: int
) -> tuple[list[Pipeline], str]:
    """The ``k`` picks in ``recommend``'s order: logit KD first unless a candidate's predicted gain over it
    clears its uncertainty (:func:`autodistill.advice.verdict.decide`), then the candidates' order (by
    predicted gain); and the line that says which case held."""
    challengers = [c for c in candidates if not c.logit_only]
    if evidence.gains is None or not challengers:
        first, line = logit, f"logit KD first: {evidence.missing or 'no challenger among the candidates'}"
    else:
        verdict = decide(logit, challengers, evidence.gain(challengers))  # type: ignore[arg-type]
        first, line = verdict.top, verdict.line
    return [first, *[c for c in candidates if c != first]][:k], line


# -- the other arms ------------------------------------------------------------------------------------


def random_configs(task_type: str, dataset: str, k: int, seed: int) -> list[Pipeline]:
    """``k`` distinct random points the task can run, drawn from a generator seeded by (seed, data set)."""
    return sample_configs(space_for(task_type), k, random.Random(f"autodistill-heldout:{seed}:{dataset}"))


def listed(kind: str) -> set[str]:
    """The fixed-list configurations a data set of task ``kind`` can run."""
    return {c.name for c in STUDY_CONFIGS if c.for_task(task_type_of(kind)) is not None}


def best_mean_rank(runs: pd.DataFrame, task_type: str, fidelity: str | None = None) -> Pipeline | None:
    """The fixed-list configuration (:data:`~autodistill.sweep.study_plan.STUDY_CONFIGS`) with the best
    mean within-data-set rank over the data sets where ``runs`` hold the whole list, among those run on
    every one of them that the held-out task can run, as that task runs it; None when there is none.

    A configuration is followed across task types by its name: a regression data set runs it with
    the MSE prediction loss and a token-tagging one not at all if it rewrites text
    (:meth:`~autodistill.sweep.study_plan.StudyConfig.for_task`); keyed by the pipeline instead,
    only the configurations whose prediction loss is MSE everywhere would ever cover every data set.
    A data set where the sweep is partial is left out rather than shrinking the list to what it has.
    With a ``fidelity``, only the runs at that budget count: what wins in 24 steps need not win at
    the plateau. Ranks are percentiles of :func:`stored_score` within each (data set, student,
    fidelity) over all its runs, so data sets whose ratios differ in level count alike; ties go to
    the earlier configuration of the list.
    """
    if fidelity is not None:
        runs = runs[runs["fidelity"] == fidelity]
    if runs.empty:
        return None
    groups = [runs["dataset"], runs["student_name"], runs["fidelity"].fillna("")]
    ranks = stored_score(runs).groupby(groups).rank(pct=True)
    named = [
        (name, row["dataset"], row["task_kind"], rank)
        for row, rank in zip(runs.to_dict("records"), ranks, strict=True)
        for name in study_names(record_from_row(row).config, row["task_kind"])
    ]
    frame = pd.DataFrame(named, columns=["name", "dataset", "kind", "rank"])
    whole = [d for d, group in frame.groupby("dataset") if set(group["name"]) >= listed(group["kind"].iloc[0])]
    frame = frame[frame["dataset"].isin(whole)]
    coverage = frame.groupby("name")["dataset"].nunique()
    runnable = [c for c in STUDY_CONFIGS if c.for_task(task_type) is not None]
    everywhere = [c for c in runnable if whole and coverage.get(c.name, 0) == len(whole)]
    if not everywhere:
        return None
    means = frame.groupby("name")["rank"].mean()
    best = max(everywhere, key=lambda c: (means[c.name], -everywhere.index(c)))
    return best.for_task(task_type)


def oracle_run(runs: pd.DataFrame) -> pd.Series | None:
    """The held-out data set's best stored run by :func:`stored_score` (None when it has none)."""
    if runs.empty:
        return None
    return runs.loc[stored_score(runs).idxmax()]


def assemble_arms(
    picks: Sequence[Pipeline],
    task_type: str,
    dataset: str,
    k: int,
    seed: int,
    best: Pipeline | None,
    trial: Sequence[Pipeline] = (),
) -> list[ArmConfig]:
    """Every configuration run on one held-out data set, with its arm: the picks, ``k`` random
    points, the fixed defaults (plus ``best-mean-rank`` when the store has one), the no-KD baseline
    and the alternatives a trial on the data set would run beside logit KD."""
    regression = real_valued(task_type)
    arms = [ArmConfig("pick", c, rank) for rank, c in enumerate(picks, start=1)]
    arms += [ArmConfig("random", c) for c in (random_configs(task_type, dataset, k, seed) if k else [])]
    arms += [ArmConfig(f"default:{name}", fixed_default(name, regression=regression)) for name in FIXED_DEFAULTS]
    if best is not None:
        arms.append(ArmConfig(f"default:{BEST_MEAN_RANK}", best))
    arms.append(ArmConfig("baseline", None))
    arms += [ArmConfig(TRIAL, c) for c in trial]
    return arms
