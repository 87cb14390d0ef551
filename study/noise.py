"""The agreement of the two fidelities, as numbers for the study page.

:func:`fidelity_spearman`: per (data set, student), the Spearman correlation between the
configurations' ratios at the cheap and at the realistic budget: does what wins in a 24-step
run still win in a real one? It reads the outcomes of the meta layer's noise model
(:func:`autodistill.evaluation.noise.study_outcomes`), which also gives the page its noise floor.
"""

from __future__ import annotations

import math

import pandas as pd
from scipy.stats import spearmanr

from autodistill import NO_KD, PAIR


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
