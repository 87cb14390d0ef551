"""Picks a user can act on: different pipelines, each with an uncertainty and a reason.

Three things turn a scored list of candidate configurations into picks:

* **Uncertainty.** The predictor is refitted on :data:`BAGS` bootstrap samples of whole
  data sets (a data set drawn twice counts as two); a candidate's uncertainty is the
  standard deviation of its score across those fits. With 7-8 training data sets,
  which data sets were seen is the main source of doubt, so that is what is resampled.
* **Different pipelines.** Configurations differing only in ``aug_p``/``repeated_aug``
  are one pipeline (the best is kept). Then picks are taken greedily, and every two
  picks differ in at least :data:`MIN_DIFFERENT` of the four components (mapping,
  intermediate loss with α, prediction loss, augmentation policy): a pick is never an
  earlier one with one component swapped, e.g. the same PKD/EMD/CE pipeline under another
  augmentation policy. *Unless confident*: the best remaining candidate is kept although
  it is such a near copy when its score beats the best candidate that is different enough
  by more than their combined uncertainty, sqrt(u_a² + u_b²). (The spread of the gap
  itself across the bootstrap fits would be smaller, as the fits err together; it would
  call the predictor confident far more often than its leave-one-dataset-out Spearman of
  about 0.4 warrants.) The picks are then listed by score.
* **Reason.** Which dataset features moved the pick, against the average candidate on the
  same data set: per feature group, the pick's contribution minus the candidates' mean
  contribution. Tree designs give exact contributions (TreeSHAP, ``pred_contrib``); for
  the others a group is replaced by the training data sets' typical value (median, or
  most common kind) and the change of score is its contribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from autodistill.predictor.model import Predictor, PredictorSettings, add_interactions, fit_predictor

#: Bootstrap fits behind each uncertainty.
BAGS = 5
#: Two picks differ in at least this many of the four components (unless confident).
MIN_DIFFERENT = 2
#: Candidates the reasons' "average candidate" is taken over (a fixed sample keeps it cheap).
REFERENCE_CANDIDATES = 500
#: Dataset feature groups a reason can name, by the model input columns in them.
_COLUMN_GROUP = {
    "log_examples": "data set size",
    "n_labels": "number of labels",
    "baseline_score": "baseline score",
    "teacher_score": "teacher score",
    "headroom": "headroom (teacher - baseline)",
    "task_kind": "task kind",
}
#: Interaction columns are credited to the dataset feature in them (student size is not one).
_INTERACTION_GROUP = {"_x_size": "data set size"}
#: Contributions smaller than this do not make a reason.
_NEGLIGIBLE = 1e-3


def group_of(column: str) -> str | None:
    """The dataset feature group a model input column belongs to (None: a configuration, teacher or
    student column; the student is chosen by the user, not a property of the data set)."""
    for suffix, group in _INTERACTION_GROUP.items():
        if column.endswith(suffix):
            return group
    if column.startswith("ctx_"):
        return "domain (context embedding)"
    if column.startswith("task_") and column[5:].isdigit():
        return "task description (task embedding)"
    return _COLUMN_GROUP.get(column)


def components(config: object) -> tuple[str, str, str, str]:
    """The four components of Eq. 1 as one pipeline: intermediate loss (α folded in), mapping,
    prediction loss, augmentation policy."""
    return (config.inter_level, config.mapping, config.pred_loss, config.policy)  # type: ignore[attr-defined]


def bagged(
    table: pd.DataFrame, version: str, settings: PredictorSettings, cache_dir: Path | None = None, seed: int = 0
) -> list[Predictor]:
    """The predictor refitted on :data:`BAGS` bootstrap samples of whole data sets (cached like any fit)."""
    rng = np.random.default_rng(seed)
    names = sorted(table["dataset"].unique())
    fits = []
    for _ in range(BAGS):
        drawn = rng.choice(names, size=len(names), replace=True)
        sample = pd.concat(
            [table[table["dataset"] == name].assign(dataset=f"{name}#{k}") for k, name in enumerate(drawn)],
            ignore_index=True,
        )
        fits.append(fit_predictor(sample, version, settings, cache_dir))
    return fits


@dataclass(frozen=True)
class Chosen:
    """One pick before it becomes a :class:`autodistill.advice.recommendation.Pick`: its row in the scored
    candidates, its uncertainty, and a note when it was kept as a confident near copy."""

    row: int
    uncertainty: float
    note: str


def choose(scores: np.ndarray, bags: np.ndarray, keys: Sequence[tuple[str, ...]], top: int) -> list[Chosen]:
    """Greedy picks over distinct pipelines: ``scores`` (n,), ``bags`` (BAGS, n) in the same order,
    ``keys`` each row's four components. Rows are assumed distinct pipelines."""
    parts = np.array(keys, dtype=object)
    order = list(np.argsort(-scores, kind="stable"))
    picked: list[Chosen] = []
    while order and len(picked) < top:
        taken = [c.row for c in picked]
        different = [
            r for r in order if all((parts[r] != parts[t]).sum() >= MIN_DIFFERENT for t in taken)
        ]  # every remaining row far enough from every pick
        best, note = order[0], ""
        if different and different[0] != best:
            gap = scores[best] - scores[different[0]]
            doubt = float(np.hypot(np.std(bags[:, best]), np.std(bags[:, different[0]])))
            if gap > doubt:
                note = (
                    f"kept although 3 of its components are an earlier pick's: ahead of the next different "
                    f"pipeline by {gap:.3f}, more than their uncertainty {doubt:.3f}"
                )
            else:
                best = different[0]
        elif not different:
            note = f"no remaining pipeline differs from every pick in {MIN_DIFFERENT}+ components"
        picked.append(Chosen(int(best), float(np.std(bags[:, best])), note))
        order.remove(best)
    return sorted(picked, key=lambda c: -scores[c.row])


def reasons(predictor: Predictor, inputs: pd.DataFrame, rows: Sequence[int], training: pd.DataFrame) -> list[str]:
    """One line per row of ``inputs`` (candidates on one data set): the (at most two) dataset feature
    groups that moved its score most against the average candidate, signed."""
    sample = inputs.sample(min(REFERENCE_CANDIDATES, len(inputs)), random_state=0)
    effects = _group_effects(predictor, pd.concat([inputs.iloc[list(rows)], sample]), training)
    relative = effects.iloc[: len(rows)] - effects.iloc[len(rows) :].mean()
    return [_reason_line(relative.iloc[k]) for k in range(len(rows))]


def _group_effects(predictor: Predictor, frame: pd.DataFrame, training: pd.DataFrame) -> pd.DataFrame:
    """Per row and feature group, that group's contribution to the score."""
    contributions = predictor.contributions(frame)
    if contributions is not None:
        groups = pd.Series({c: group_of(c) for c in contributions.columns}).dropna()
        return contributions[groups.index].T.groupby(groups.to_numpy()).sum().T.reset_index(drop=True)
    scores, typical = predictor.predict(frame), _typical(training)
    effects = {}
    for group in sorted({g for c in frame.columns if (g := group_of(c))}):
        columns = [c for c in frame.columns if group_of(c) == group and "_x_" not in c]
        moved = frame.assign(**{c: typical[c] for c in columns})
        add_interactions(moved)
        effects[group] = scores - predictor.predict(moved)
    return pd.DataFrame(effects)


def _typical(training: pd.DataFrame) -> pd.Series:
    """A typical training data set: each feature's median over the data sets (the most common kind)."""
    per_dataset = training.drop_duplicates("dataset")
    return pd.Series(
        {
            c: per_dataset[c].mode().iloc[0] if per_dataset[c].dtype == object else per_dataset[c].median()
            for c in training.columns
            if group_of(c) is not None
        }
    )


def _reason_line(relative: pd.Series) -> str:
    top = relative[relative.abs() >= _NEGLIGIBLE].abs().sort_values(ascending=False).index[:2]
    if len(top) == 0:
        return "no dataset feature moves it: predicted about as good on every data set"
    return ", ".join(f"{g} {relative[g]:+.3f}" for g in top)
