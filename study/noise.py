"""The noise section's numbers beyond the noise floor itself.

:func:`fidelity_spearman`: per (data set, student), the Spearman correlation between the
configurations' ratios at the cheap and at the realistic budget: does what wins in a 24-step
run still win in a real one? :func:`resolution_summary`: how much of the study can resolve the
differences it claims: which counted data sets pin a configuration's mean down to
:data:`RESOLVED`, on which the whole fixed list has its seeds (the noise model's
:func:`~autodistill.evaluation.noise.seeded_pairs`), and how many runs were scored on splits
large enough to count. Both read the outcomes of the meta layer's noise model
(:func:`autodistill.evaluation.noise.study_outcomes`), which also gives the page its noise floor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd
from scipy.stats import spearmanr

from autodistill.evaluation.noise import NO_KD, PAIR, SEEDS, seeded_pairs, seeds_needed, widest_configuration
from engine import SplitResolution

#: The noise of a configuration's mean over :data:`SEEDS` seeds (seed spread and test sampling) at
#: which a data set resolves the study's differences.
RESOLVED = 0.01


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


def resolution_summary(
    floor: pd.DataFrame, outcomes: pd.DataFrame, resolved: Mapping[str, SplitResolution | None]
) -> str:
    """One paragraph: counted data sets resolved to :data:`RESOLVED`, those with the whole fixed list
    seeded per student, and the runs with a test ratio on a split the claims count."""
    counted = sorted(name for name, r in resolved.items() if r is not None and not r.claims_note)
    mine = outcomes[outcomes["dataset"].isin(counted)]
    pairs = seeded_pairs(mine)
    complete = pairs[pairs["complete"]]
    sharp = _resolved(floor[floor["dataset"].isin(counted)], pairs)
    scored = int(mine["test_ratio"].notna().sum())
    lines = [
        f"Resolution: on {len(sharp)} of the {len(counted)} counted data sets a configuration's mean over "
        f"{SEEDS} seeds, or over the more seeds every configuration of the fixed list ran with, has a noise of "
        f"{RESOLVED:g} or less ({', '.join(f'{d}{n}' for d, n in sharp.items()) or 'none'}).",
        *_short_of_it(floor, mine, set(counted) - set(sharp)),
    ]
    for student in sorted(set(pairs["student"])):
        names = sorted(complete[complete["student"] == student]["dataset"])
        lines.append(
            f"The whole fixed list with {SEEDS}+ seeds at the realistic budget, `{student}`: {len(names)} counted data "
            f"set(s) ({', '.join(names) or 'none'})."
        )
    lines.append(f"Runs with a test ratio on counted splits (no-KD baselines included): {scored:,}.")
    return " ".join(lines)


def _resolved(floor: pd.DataFrame, pairs: pd.DataFrame) -> dict[str, str]:
    """The data sets whose configuration means resolve to :data:`RESOLVED` for some student: over
    :data:`SEEDS` seeds, or over the fewest seeds that student's whole fixed list ran with where that is
    more and reaches it; each with a note naming those seeds (empty at :data:`SEEDS`)."""
    fewest = pairs.set_index(["dataset", "student"])["seeds"]
    found: dict[str, str] = {}
    for _, row in floor.sort_values("dataset").iterrows():
        if row[f"noise ({SEEDS} seeds)"] <= RESOLVED:
            found[row["dataset"]] = ""
            continue
        seeds = int(fewest.get((row["dataset"], row["student"]), 0))
        needed = seeds_needed(row["seed std"], row["sampling SE"], RESOLVED)
        if needed is not None and SEEDS < needed <= seeds and row["dataset"] not in found:
            found[row["dataset"]] = f" (`{row['student']}` with {seeds} seeds)"
    return found


def _short_of_it(floor: pd.DataFrame, outcomes: pd.DataFrame, names: set[str]) -> list[str]:
    """What would resolve each data set of ``names`` (those :data:`SEEDS` seeds leave short), from its
    best-resolved student: more seeds (how many, and fewer without a configuration whose seeds alone
    spread widely), or a larger test split (test sampling alone is too large)."""
    short = floor[floor["dataset"].isin(names)]
    seeds, split, unseeded = [], [], sorted(names - set(short["dataset"]))
    for dataset, rows in short.groupby("dataset"):
        best = rows.loc[rows[f"noise ({SEEDS} seeds)"].fillna(math.inf).idxmin()]
        needed = seeds_needed(best["seed std"], best["sampling SE"], RESOLVED)
        if needed is not None:
            pair = outcomes[(outcomes["dataset"] == dataset) & (outcomes["student_name"] == best["student"])]
            seeds.append(f"{dataset} ({needed} seeds would reach it{_unsteady(pair, best, needed)})")
        elif math.isfinite(best["seed std"]):
            split.append(f"{dataset} ({best['sampling SE']:.3f})")
        else:
            unseeded.append(str(dataset))
    lines = [f"Short of it with more seeds: {'; '.join(seeds)}."] if seeds else []
    if split:
        lines.append(
            f"Test sampling alone exceeds {RESOLVED:g} on {', '.join(split)}: no number of seeds resolves "
            "these, only a larger test split."
        )
    if unseeded:
        lines.append(f"No configuration run with seeds yet: {', '.join(sorted(unseeded))}.")
    return lines


def _unsteady(pair: pd.DataFrame, best: pd.Series, needed: int) -> str:
    """A clause for a data set whose seed spread one configuration sets: without it, fewer seeds would do."""
    found = widest_configuration(pair[pair["fidelity"] == "realistic"])
    if found is None or not math.isfinite(found[2]):
        return ""
    label, spread, rest = found
    fewer = seeds_needed(rest, best["sampling SE"], RESOLVED)
    if fewer is None or fewer >= needed:
        return ""
    return (
        f", or {fewer} without {label}, whose seeds spread {spread:.3f} where the others' pooled spread is {rest:.3f}"
    )
