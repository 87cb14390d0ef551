"""The noise floor and the agreement of the two fidelities, as numbers for the study page.

Differences between configurations of 0.02-0.04 mean nothing without the seed noise
beside them. At the realistic budget the no-KD baseline and the fixed defaults run
with several seeds (:mod:`autodistill.sweep.study_plan`); from them:

* :func:`noise_floor`: per (data set, student), the pooled standard deviation over seeds,
  the best KD configuration (chosen on dev, reported on test where there is one) and
  whether it beats no-KD by more than the noise;
* :func:`fidelity_spearman`: per (data set, student), the Spearman correlation between
  the configurations' ratios at the cheap and at the realistic budget: does what wins in
  a 24-step run still win in a real one?

Both read one frame of outcomes (:func:`study_outcomes`): the runs and the no-KD
baselines, each with its fidelity, seed, configuration, dev ratio and test ratio.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from autodistill.space import inter_level, policy_name

NO_KD = "no-KD"
PAIR = ["dataset", "student_name"]
#: How many pooled standard deviations of a difference count as beyond the noise (about 95%).
NOISE_Z = 2.0
NOISE_COLUMNS = [
    "dataset", "student", "scored on", "seed std", "configurations with seeds", "no-KD ratio", "best KD (by dev)",
    "best KD ratio", "difference", "beyond noise",
]  # fmt: skip


def configuration(runs: pd.DataFrame) -> pd.Series:
    """Each run's configuration as one label (intermediate / mapping / prediction / augmentation)."""
    parts = zip(
        runs["inter_loss"], runs["alpha"], runs["mapping"], runs["pred_loss"], runs["augmentation"], runs["mixup"],
        strict=True,
    )  # fmt: skip
    return pd.Series(
        [f"{inter_level(i, a)}/{m}/{p}/{policy_name(s or '', bool(x))}" for i, a, m, p, s, x in parts],
        index=runs.index,
        dtype=object,
    )


def study_outcomes(runs: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """Runs (store columns) and finished no-KD baselines (trials log) as one frame; the ratio
    reported is the test one where the run has it, else the dev one (``scored_on`` says which)."""
    kd = runs.assign(configuration=configuration(runs))
    base = trials[(trials["kind"] == "finetune") & (trials["status"] == "done")]
    budgets = [json.loads(budget) for budget in base["budget_json"]]
    base = base.assign(
        configuration=NO_KD, seed=[b.get("seed") for b in budgets], epochs=[b.get("epochs") for b in budgets]
    )
    base = base[_at_kd_epochs(base, kd)]
    columns = [*PAIR, "fidelity", "seed", "configuration", "ratio", "test_ratio"]
    frame = pd.concat([kd[columns], base[columns]], ignore_index=True).rename(columns={"ratio": "dev_ratio"})
    tested = frame["test_ratio"].notna()
    frame["reported_ratio"] = frame["test_ratio"].where(tested, frame["dev_ratio"])
    frame["scored_on"] = np.where(tested, "test", "dev only")
    return frame


def _at_kd_epochs(base: pd.DataFrame, kd: pd.DataFrame) -> pd.Series:
    """Which baselines trained as long as their (data set, student, fidelity)'s KD runs: the realistic
    no-KD probe (12 epochs, run to find the plateau) is no baseline of runs trained to the plateau.
    A group without KD runs or without an ``epochs`` column keeps its baselines."""
    if "epochs" not in kd:
        return pd.Series(True, index=base.index)
    key = [*PAIR, "fidelity"]
    kd_epochs = kd.dropna(subset=["epochs"]).groupby(key)["epochs"].agg(lambda e: {int(x) for x in e})
    return pd.Series(
        [
            (d, s, f) not in kd_epochs.index or (e is not None and int(e) in kd_epochs[(d, s, f)])
            for d, s, f, e in zip(base["dataset"], base["student_name"], base["fidelity"], base["epochs"], strict=True)
        ],
        index=base.index,
        dtype=bool,
    )


def _pooled_std(group: pd.DataFrame) -> tuple[float, int]:
    """The seeds' standard deviation pooled over every configuration run with more than one seed."""
    repeated = group.groupby("configuration")["reported_ratio"].agg(["var", "count"])
    repeated = repeated[repeated["count"] > 1]
    if repeated.empty:
        return math.nan, 0
    dof = int((repeated["count"] - 1).sum())
    return math.sqrt(float((repeated["var"] * (repeated["count"] - 1)).sum()) / dof), len(repeated)


def noise_floor(outcomes: pd.DataFrame, fidelity: str = "realistic") -> pd.DataFrame:
    """Per (data set, student) at ``fidelity``: the seed std, no-KD's mean ratio, the best KD
    configuration (highest mean dev ratio) with its mean reported ratio, their difference, and
    whether that difference exceeds :data:`NOISE_Z` standard errors of a difference of means."""
    rows = []
    for (dataset, student), group in outcomes[outcomes["fidelity"] == fidelity].groupby(PAIR):
        std, repeated = _pooled_std(group)
        means = group.groupby("configuration")[["dev_ratio", "reported_ratio"]].mean()
        counts = group.groupby("configuration").size()
        kd = means.drop(index=NO_KD, errors="ignore")
        if NO_KD not in means.index or kd.empty:
            continue
        best = kd["dev_ratio"].idxmax()
        difference = kd.loc[best, "reported_ratio"] - means.loc[NO_KD, "reported_ratio"]
        floor = NOISE_Z * std * math.sqrt(1 / counts[best] + 1 / counts[NO_KD])
        rows.append(
            {
                "dataset": dataset,
                "student": student,
                "scored on": "test" if (group["scored_on"] == "test").all() else "dev (some or all)",
                "seed std": std,
                "configurations with seeds": repeated,
                "no-KD ratio": means.loc[NO_KD, "reported_ratio"],
                "best KD (by dev)": best,
                "best KD ratio": kd.loc[best, "reported_ratio"],
                "difference": difference,
                "beyond noise": bool(difference > floor) if not math.isnan(floor) else None,
            }
        )
    return pd.DataFrame(rows, columns=NOISE_COLUMNS)


def fidelity_spearman(outcomes: pd.DataFrame, low: str = "cheap", high: str = "realistic") -> pd.DataFrame:
    """Per (data set, student): Spearman between the configurations' mean reported ratios at the two
    fidelities, over the configurations run at both (no-KD left out: it is no configuration)."""
    kd = outcomes[outcomes["configuration"] != NO_KD]
    means = kd.groupby([*PAIR, "configuration", "fidelity"])["reported_ratio"].mean().unstack("fidelity")
    columns = ["dataset", "student", "configurations", "spearman"]
    if not {low, high} <= set(means.columns):
        return pd.DataFrame(columns=columns)
    rows = []
    for (dataset, student), group in means.groupby(level=PAIR):
        both = group[[low, high]].dropna()
        if both.empty:
            continue  # a student that never ran at one of the budgets (the layer subset: cheap only)
        ordered = len(both) >= 3 and both[low].nunique() > 1 and both[high].nunique() > 1
        rho = float(spearmanr(both[low], both[high]).statistic) if ordered else math.nan
        rows.append(dict(zip(columns, (dataset, student, len(both), rho), strict=True)))
    return pd.DataFrame(rows, columns=columns)


def spearman_summary(table: pd.DataFrame, at_least: int) -> str:
    """One line on the per-data-set Spearmans computed over ``at_least`` configurations or more."""
    kept = table[(table["configurations"] >= at_least) & table["spearman"].notna()]
    if kept.empty:
        return f"No (data set, student) has {at_least}+ configurations at both budgets yet."
    rho = kept["spearman"]
    return (
        f"Over the {len(kept)} (data set, student) pairs with {at_least}+ configurations at both budgets the "
        f"Spearman has median {rho.median():.2f} (from {rho.min():.2f} to {rho.max():.2f}); it is positive on "
        f"{int((rho > 0).sum())} of {len(kept)}."
    )
