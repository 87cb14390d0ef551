"""Whether to distil at all: the student trained alone against logit KD.

In the study the student trained on labels alone (no-KD) beat every KD pipeline on several
(data set, student) pairs, brown-pos-fine and moby-syllables among them. Advice that can only
choose among KD pipelines cannot say so. Two kinds of evidence answer:

* **Other data sets'** (:func:`predicted_alone`): over the (data set, student) pairs where the store
  ran both at one budget, the mean of no-KD's dev ratio minus logit KD's, with an interval for a new
  pair (the pairs' spread), as the gain model gives a pipeline's. An interval wholly above zero makes
  "train alone" the advice.
* **The data set's own** (:func:`alone_lead`): where the store holds the target's own no-KD baselines
  (a sweep's, a trial's) beside its logit KD runs, at one budget and split version, with the same
  teacher and student, their mean dev ratios are compared seed for seed as
  :func:`autodistill.advice.gain.own_leads` compares pipelines: a lead beyond
  :data:`~autodistill.advice.gain.OWN_Z` standard errors makes "train alone" the advice.

Dev ratios only: the test split chooses nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from autodistill.advice.gain import OWN_Z, GainEstimate, new_draw_estimate
from autodistill.store.configurations import is_logit_kd

#: What runs must share for their dev ratios to be compared: the budget and the split version.
SAME = ["fidelity", "epochs", "max_length", "split_version"]
#: One (data set, student) pair at one budget: the runs of both defaults compared with each other.
PAIR_KEYS = ["dataset", "teacher_name", "student_name", *SAME]
#: Fewer (data set, student) pairs than this with both no-KD and logit KD, and nothing is predicted.
MIN_PAIRS = 4


@dataclass(frozen=True)
class AloneLead:
    """The student trained alone led logit KD on the target's own runs by ``gain`` dev ratio."""

    gain: float
    se: float
    seeds: int
    logit_seeds: int
    epochs: int

    @property
    def line(self) -> str:
        """What the verdict says of it."""
        return (
            f"train the student alone (no KD): {self.gain:+.3f} dev ratio over logit KD on this data set's own "
            f"runs ({self.seeds} seeds against {self.logit_seeds} at {self.epochs} epochs; "
            f"{self.gain / self.se:.1f} standard errors, {OWN_Z:g} needed)"
        )


def baseline_rows(trials: pd.DataFrame) -> pd.DataFrame:
    """The finished no-KD baselines of a trials log, with the columns runs have: teacher, epochs, length, seed."""
    done = trials[(trials["kind"] == "finetune") & (trials["status"] == "done")].dropna(subset=["ratio"])
    budgets = done["budget_json"].map(json.loads)
    return done.assign(
        teacher_name=done["config_json"].map(lambda text: json.loads(text).get("teacher")),
        epochs=budgets.map(lambda b: b.get("epochs")),
        max_length=budgets.map(lambda b: b.get("max_length")),
        seed=budgets.map(lambda b: b.get("seed")),
    )


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Runs or baselines with the budget columns they are matched on filled alike."""
    return frame.assign(
        fidelity=frame["fidelity"].fillna("-"), split_version=frame["split_version"].fillna(1).astype(int)
    )


def default_pairs(runs: pd.DataFrame, baselines: pd.DataFrame) -> pd.DataFrame:
    """Per (data set, student) and budget where both defaults ran (same teacher, budget and splits): the
    mean dev ratios of no-KD and of logit KD over their seeds (``alone``, ``logit``), and the lowest
    seed's no-KD dev ratio (``probe``, :mod:`autodistill.advice.probe`); ``baselines``: :func:`baseline_rows`."""
    logit = normalised(runs[is_logit_kd(runs)]).groupby(PAIR_KEYS)["ratio"].mean().rename("logit")
    alone = normalised(baselines).sort_values("seed").groupby(PAIR_KEYS)["ratio"]
    both = pd.concat([alone.first().rename("probe"), alone.mean().rename("alone")], axis=1)
    return both.join(logit, how="inner").reset_index()


def alone_gains(runs: pd.DataFrame, baselines: pd.DataFrame) -> pd.Series:
    """Per (data set, student): no-KD's mean dev ratio minus logit KD's, each budget where both ran
    (same teacher, budget and splits) counted once, then averaged over the pair's budgets."""
    pairs = default_pairs(runs, baselines)
    return (pairs["alone"] - pairs["logit"]).groupby([pairs["dataset"], pairs["student_name"]]).mean()


def predicted_alone(runs: pd.DataFrame, baselines: pd.DataFrame) -> GainEstimate | None:
    """No-KD's predicted dev-ratio gain over logit KD on a new (data set, student) pair, with its
    :data:`~autodistill.advice.gain.LEVEL` interval: the pairs' mean and their spread (the interval a
    new draw from them falls in); None with fewer than :data:`MIN_PAIRS` pairs."""
    gains = alone_gains(runs, baselines)
    n = len(gains)
    if n < MIN_PAIRS:
        return None
    return new_draw_estimate(gains)


def alone_lead(
    runs: pd.DataFrame, baselines: pd.DataFrame, dataset: str, teacher: str, student: str
) -> AloneLead | None:
    """The largest lead of no-KD over logit KD beyond :data:`OWN_Z` standard errors on ``dataset``'s own
    runs (``baselines``: :func:`baseline_rows`), at any one budget where both ran with two seeds or
    more; None where none clears (or none was run)."""

    def own(frame: pd.DataFrame) -> pd.DataFrame:
        mine = (frame["dataset"] == dataset) & (frame["teacher_name"] == teacher) & (frame["student_name"] == student)
        return normalised(frame[mine])

    logit = own(runs[is_logit_kd(runs)])
    alone = own(baselines)
    leads = []
    for key, group in logit.groupby(SAME):
        paired = alone[(alone[SAME] == pd.Series(key, index=SAME)).all(axis=1)]
        if len(group) < 2 or len(paired) < 2:
            continue
        gain, se = alone_gain(paired["ratio"], group["ratio"])
        if se > 0 and gain > OWN_Z * se:
            leads.append(AloneLead(gain, se, len(paired), len(group), int(key[1])))
    return max(leads, key=lambda lead: lead.gain, default=None)


def alone_gain(alone: pd.Series, logit: pd.Series) -> tuple[float, float]:
    """No-KD's mean ratio less logit KD's over their seeds, and the standard error of that difference
    (each side's own spread: the two are different models, so no variance is pooled between them)."""
    gain = float(alone.mean() - logit.mean())
    return gain, float(np.sqrt(alone.var() / len(alone) + logit.var() / len(logit)))
