"""What finding headroom over logit KD costs on a new data set: recommend's alternatives tried on its own data.

The held-out evaluation (:mod:`autodistill.evaluation.advice`) finds that other data sets' runs do not
point to the pipelines that beat logit KD where the study finds one, so recommend, rightly, says
"logit KD" there. The one evidence left is the new data set's own runs, which recommend reads when the
store holds them (:func:`~autodistill.advice.gain.own_leads`). This replays, from the stored runs, a
user who takes that route: for a held-out data set, rank the alternatives by the gain model fitted
without its family, by the top of their interval (a trial looks for what *might* win), run the first
``k`` of them and logit KD with seeds ``0 .. s-1``, and let the own-runs rule choose on dev. The pick is
scored on those same runs' test ratios (select on dev, report on test), against logit KD's, and where
the study ran both on further seeds, on those too (runs the choice never saw); its cost is the trial's
runs in units of one logit KD run.

Nothing is trained: the ``k`` are ranked among every alternative the study ran on that data set
(``None``: all of them, the fixed list run whole), and a trial is replayed only where the study ran
logit KD and each of those ``k`` with all of its seeds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from autodistill.advice.cost import run_seconds
from autodistill.advice.gain import GainModel, observed_gains, own_leads
from autodistill.advice.trial import by_interval_top
from autodistill.store.configurations import configurations, is_logit_kd

#: What a setting is: the runs one trial compares.
_SETTING = ["dataset", "teacher_name", "student_name"]


def own_trials(
    runs: pd.DataFrame,
    family_of: Callable[[str], str],
    alternatives: Sequence[int | None],
    seeds: Sequence[int],
    fidelity: str = "realistic",
) -> pd.DataFrame:
    """One row per held-out setting, number of alternatives ``k`` and seeds ``s`` (see module
    docstring): the pick, its test ratio beside logit KD's on the trial's seeds, and the trial's cost.
    ``runs`` should hold each data set's latest split version (the rule reads no other)."""
    at_budget = runs[(runs["fidelity"] == fidelity) & runs["seed"].notna()]
    at_budget = at_budget.dropna(subset=["ratio", "test_ratio"]).assign(config=configurations)
    gains = observed_gains(at_budget).assign(family=lambda f: f["dataset"].map(family_of))
    rows = []
    for family in sorted(set(gains["family"])):
        model = GainModel.fit(gains[gains["family"] != family])
        held = at_budget[at_budget["dataset"].map(family_of) == family]
        for _, setting in held.groupby(_SETTING):
            rows += [_trial(model, setting, k, s) for k in alternatives for s in seeds]
    return pd.DataFrame([row for row in rows if row is not None])


def _trial(model: GainModel, setting: pd.DataFrame, k: int | None, s: int) -> dict | None:
    """One setting's trial with ``k`` alternatives and ``s`` seeds; None where logit KD or one of the
    ``k`` alternatives did not run on all of seeds ``0 .. s-1``, or fewer than ``k`` alternatives ran.
    The ``k`` are ranked among every alternative the study ran there, not among those it seeded
    further: it seeded the ones that led further, and ranking among them would let that choice in."""
    seeded = setting[setting["seed"] < s]
    complete = seeded.groupby("config")["seed"].nunique() == s
    logit = seeded[is_logit_kd(seeded) & seeded["config"].map(complete)]
    ranked = _ranked(model, setting[~is_logit_kd(setting)])
    if logit.empty or not ranked or (k is not None and k > len(ranked)):
        return None
    tried = ranked[:k]
    if not all(complete.get(config, False) for config in tried):
        return None
    reference = logit["config"].value_counts().index[0]  # one logit KD variant: the one a user would run
    trial = seeded[seeded["config"].isin([reference, *tried])]
    dataset, teacher, student = setting.iloc[0][_SETTING]
    leads = own_leads(trial, dataset, teacher, student)
    pick = leads[0].config if leads else reference
    test = trial.groupby("config")["test_ratio"].mean()
    later = setting[(setting["seed"] >= s) & setting["config"].isin([pick, reference])]
    later = later.groupby("config")["test_ratio"].mean()  # seeds the choice did not see, where the study ran them
    return {
        "dataset": dataset,
        "student": student,
        "asked": "all" if k is None else str(k),
        "alternatives": len(tried),
        "seeds": s,
        "pick": pick,
        "pick_is_logit": pick == reference,
        "pick_ratio": float(test[pick]),
        "logit_ratio": float(test[reference]),
        "gain": float(test[pick] - test[reference]),
        "gain_later_seeds": float(later[pick] - later[reference]) if {pick, reference} <= set(later.index) else np.nan,
        "cost_x_logit": _relative_cost(trial, reference, s),
        "tried": " | ".join(tried),
    }


def _ranked(model: GainModel, candidates: pd.DataFrame) -> list[str]:
    """The candidates' configurations, highest top of the predicted gain's interval first."""
    rows = candidates.drop_duplicates("config").reset_index(drop=True)
    if rows.empty:
        return []
    return list(rows["config"].iloc[by_interval_top(model.estimate_rows(rows))])


def _relative_cost(trial: pd.DataFrame, reference: str, seeds: int) -> float:
    """The trial's runs in units of one logit KD run: per configuration, its median seconds over logit
    KD's on each device both ran on (runs of one setting may have trained on different machines), the
    median of those; NaN where a configuration shares no device with logit KD."""
    medians = trial.assign(seconds=run_seconds(trial)).groupby(["config", "device"])["seconds"].median().unstack()
    per_config = (medians / medians.loc[reference]).median(axis=1)  # NaN cells (no common device) skipped
    return float(seeds * per_config.sum()) if per_config.notna().all() else float("nan")
