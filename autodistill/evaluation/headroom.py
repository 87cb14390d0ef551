"""Headroom per data set: does any pipeline beat logit KD, and no-KD, by more than the noise?

This is the signal a recommender has to learn: where the best configuration the study ran
(chosen on mean dev ratio, reported on mean test ratio) leads plain logit KD by more than the
noise of :mod:`autodistill.evaluation.noise` (seed spread, test sampling, less the bias of choosing on dev),
advice can pay; where it does not, logit KD is as good as anything the study tried, and the
table says so plainly ("none").
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import pandas as pd

from autodistill.evaluation.noise import (
    NO_KD,
    PAIR,
    arm_stats,
    beyond_noise,
    group_noise,
    lead_noise,
    mean_noise,
)
from autodistill.store.configurations import logit_kd_keys
from engine import ExamplePredictions, SplitResolution

HEADROOM_COLUMNS = [
    "dataset", "student", "best pipeline (by dev)", "best", "seeds", "logit KD", "logit seeds", "no-KD", "no-KD seeds",
    "over logit KD", "noise vs logit", "paired vs logit", "over no-KD", "noise vs no-KD", "paired vs no-KD",
    "dev-selection bias", "headroom", "claims",
]  # fmt: skip


def _versus(
    group: pd.DataFrame,
    best: pd.Series,
    other: pd.Series | None,
    terms: Mapping[str, float],
    predictions: Mapping[str, ExamplePredictions],
) -> tuple[float, float, str, bool | None]:
    """The best pipeline's lead over ``other`` (reported ratios), its noise (:func:`lead_noise`), the runs
    its sampling part was paired on, and whether the lead is beyond the noise."""
    if other is None:
        return math.nan, math.nan, "", None
    lead = best["reported_ratio"] - other["reported_ratio"]
    noise, paired = lead_noise(group, (best, other), terms, predictions)
    return lead, noise, paired, beyond_noise(lead, noise, terms["selection_bias"])


def _verdict(over_logit: bool | None, over_none: bool | None) -> str:
    """One word on the headroom: over logit KD, over no-KD only, none, or unknown (no noise estimate)."""
    if over_logit:
        return "over logit KD"
    if over_none:
        return "over no-KD only"
    if over_logit is None and over_none is None:
        return "unknown (no seeds)"
    return "none"


def _logit_row(arms: pd.DataFrame) -> pd.Series | None:
    """Logit KD's arm (the best of its prediction losses by dev, should there be two)."""
    logit = arms[arms.index.isin(logit_kd_keys())]
    return None if logit.empty else logit.loc[logit["dev_ratio"].idxmax()]


def _pairs(
    outcomes: pd.DataFrame, resolved: Mapping[str, SplitResolution | None], fidelity: str
) -> Iterator[tuple[tuple[str, str], pd.DataFrame, pd.DataFrame, pd.Series | None, pd.DataFrame, dict]]:
    """Each (data set, student) at ``fidelity`` with a pipeline besides logit KD: its outcomes, arms,
    logit KD's arm (None where it did not run), the other pipelines' arms and the noise model's terms."""
    for pair, group in outcomes[outcomes["fidelity"] == fidelity].groupby(PAIR):
        arms = arm_stats(group)
        logit = _logit_row(arms)
        pipelines = arms.drop(index=[NO_KD, *([] if logit is None else [logit.name])], errors="ignore")
        if not pipelines.empty:
            yield pair, group, arms, logit, pipelines, group_noise(group, resolved.get(pair[0]))


def headroom(
    outcomes: pd.DataFrame,
    resolved: Mapping[str, SplitResolution | None],
    fidelity: str = "realistic",
    claims: Mapping[str, str] | None = None,
    predictions: Mapping[str, ExamplePredictions] | None = None,
) -> pd.DataFrame:
    """Per (data set, student) at ``fidelity``: the best pipeline other than logit KD (by mean dev ratio)
    against logit KD and no-KD, each lead with its noise and whether it is beyond it, and a verdict.
    ``claims``: data set -> why the study's claims leave it out ("" or missing: they count it).
    ``predictions``: a row's ``predictions_key`` -> its test predictions; where both sides of a lead have
    some, its sampling error is measured on them (``paired vs ...`` says on how many runs of each)."""
    rows = []
    for (dataset, student), group, arms, logit, pipelines, terms in _pairs(outcomes, resolved, fidelity):
        best = pipelines.loc[pipelines["dev_ratio"].idxmax()]
        none = arms.loc[NO_KD] if NO_KD in arms.index else None
        over_logit = _versus(group, best, logit, terms, predictions or {})
        over_none = _versus(group, best, none, terms, predictions or {})
        values = [
            dataset, student, best.name, best["reported_ratio"], int(best["seeds"]),
            math.nan if logit is None else logit["reported_ratio"], 0 if logit is None else int(logit["seeds"]),
            math.nan if none is None else none["reported_ratio"], 0 if none is None else int(none["seeds"]),
            *over_logit[:3], *over_none[:3], terms["selection_bias"],
            _verdict(over_logit[3], over_none[3]), (claims or {}).get(dataset) or "counted",
        ]  # fmt: skip
        rows.append(dict(zip(HEADROOM_COLUMNS, values, strict=True)))
    return pd.DataFrame(rows, columns=HEADROOM_COLUMNS)


def headroom_summary(table: pd.DataFrame) -> str:
    """One line: on how many counted (data set, student) pairs a pipeline beats logit KD beyond noise,
    and where the student trained on the labels alone beats the best pipeline (:func:`behind_no_kd`)."""
    return " ".join(part for part in (_over_logit_summary(table), behind_no_kd(table)) if part)


def behind_no_kd(table: pd.DataFrame) -> str:
    """The counted pairs where no-KD leads the best pipeline by more than
    :data:`autodistill.evaluation.noise.NOISE_Z` times the noise of the difference ("" where none does):
    there distilling costs the student accuracy, which "logit KD is as good as anything" would hide."""
    counted = table[table["claims"] == "counted"]
    behind = [
        f"{row['dataset']} ({row['student']}, {row['over no-KD']:+.3f})"
        for _, row in counted.iterrows()
        if beyond_noise(-row["over no-KD"], row["noise vs no-KD"])
    ]
    if not behind:
        return ""
    return (
        f"The student trained on the labels alone (no-KD) beats the best pipeline beyond the noise on "
        f"{len(behind)} of {len(counted)}: {', '.join(behind)}."
    )


def _over_logit_summary(table: pd.DataFrame) -> str:
    """On how many counted pairs a pipeline beats logit KD beyond the noise, naming them."""
    counted = table[table["claims"] == "counted"]
    if counted.empty:
        return (
            "Every data set here is left out of pass/fail claims (see `claims`: a test split too small to resolve "
            "them, or retired), so the table claims no headroom either way."
        )
    found = counted[counted["headroom"] == "over logit KD"]
    if found.empty:
        return (
            f"On none of the {len(counted)} (data set, student) pairs the claims count does any pipeline beat "
            "logit KD beyond the noise: there, logit KD is as good as anything the study ran."
        )
    named = ", ".join(f"{d} ({s}, +{lead:.3f})" for d, s, lead in found[["dataset", "student", "over logit KD"]].values)
    return (
        f"A pipeline beats logit KD beyond the noise on {len(found)} of {len(counted)} (data set, student) pairs "
        f"the claims count: {named}; on the others there is no headroom over logit KD."
    )


#: The arms of :func:`headroom_arms`: the two defaults a pipeline has to beat, and the rest.
ARM_KINDS = ("no-KD", "logit KD", "pipeline")


def headroom_arms(
    outcomes: pd.DataFrame, resolved: Mapping[str, SplitResolution | None], fidelity: str = "realistic"
) -> pd.DataFrame:
    """Per (data set, student) at ``fidelity``, every arm (each pipeline, logit KD, no-KD) with its mean
    reported ratio and the noise of that mean over its own seeds (:func:`mean_noise`: the pooled seed
    spread and the test split's sampling error): what the headroom plot draws, each pair with a pipeline
    besides logit KD."""
    rows = []
    for (dataset, student), _group, arms, logit, _pipelines, terms in _pairs(outcomes, resolved, fidelity):
        for name, arm in arms.iterrows():
            kind = "no-KD" if name == NO_KD else "logit KD" if logit is not None and name == logit.name else "pipeline"
            noise = mean_noise(terms["seed_std"], terms["sampling_se"], int(arm["seeds"]))
            rows.append({"dataset": dataset, "student": student, "arm": name, "kind": kind,
                         "ratio": arm["reported_ratio"], "noise": noise, "seeds": int(arm["seeds"])})  # fmt: skip
    return pd.DataFrame(rows, columns=["dataset", "student", "arm", "kind", "ratio", "noise", "seeds"])
