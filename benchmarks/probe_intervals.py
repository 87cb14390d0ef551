"""Would a few runs on the target data set calibrate recommend's gain intervals per family?

recommend's gain intervals (:mod:`autodistill.advice.gain`) cover about 80 % of held-out gains
overall, but by family they range from about 0.6 to 1.0: a setting shifts all its gains at once, and
how widely its configurations' gains spread differs many-fold between settings, and nothing known
before distilling foretells either (docs/evaluate.md). This script asks whether a measurement on the
target would: the dev gains over logit KD of the ``K`` configurations with the highest predicted gain
(what ``recommend --trial K`` runs) re-centre or re-scale the intervals of the setting's other
configurations. Four intervals per held-out (configuration, setting), all from a gain model fitted on
the other families' dev gains, each judged on the held-out configuration's test gain:

* ``prior``: the model's interval as recommend prints it without runs on the target;
* ``shifted``: its mean moved by the setting effect the probes' residuals imply (empirical Bayes, the
  effect's variance read off the training settings), the interval narrowed by what they tell;
* ``rescaled``: its centre kept, its variance replaced by the probes' mean squared residual pooled with
  the training settings' variance weighted as ``--prior-weight`` residuals (2 by default, set before
  looking at these figures; 1 was also tried on them);
* ``both``: shifted, and the variance left within the setting read off the probes' residuals about
  that shift, pooled likewise.

Which variant and how many probes would do best is read off these same figures: they are labelled
as such, and recommend uses none of them.

The probes' own gains are left out of the coverage: they are measured, not predicted. Families are those
with at least 20 judged gains, as the advice's calibration target counts them.

    python benchmarks/probe_intervals.py     # about half a minute; results/probe_intervals.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binom

from autodistill.advice.gain import LEVEL, LEVEL_Z, GainModel, observed_gains
from autodistill.evaluation.noise import latest_splits
from autodistill.store.shipped import shipped_store
from engine import dataset_family

RESULTS = Path(__file__).parent / "results" / "probe_intervals.json"
#: A family's coverage counts when this many of its gains are judged.
MIN_GAINS = 20
#: The band an 80 % interval's coverage should fall in per family.
BAND = (0.7, 0.9)


def predicted(model: GainModel, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The model's mean gain per row and the variance of that mean (without the between-setting spread
    ``tau2`` its interval adds for a new data set)."""
    mean, variance, _ = model.mean_and_variance(rows)
    return mean, variance


def setting_spread(model: GainModel, gains: pd.DataFrame) -> tuple[float, float]:
    """The training gains' residuals around the model's means, split into the variance of a setting's
    shift of all its gains and the variance left within a setting (one-way random-effects ANOVA)."""
    mean, _ = predicted(model, gains)
    frame = pd.DataFrame({"residual": gains["gain"].to_numpy() - mean, "setting": gains["setting"].to_numpy()})
    by = frame.groupby("setting")["residual"]
    within = float(((frame["residual"] - by.transform("mean")) ** 2).sum() / (len(frame) - by.ngroups))
    shift = float(by.mean().var() - (within / by.size()).mean())
    return max(shift, 1e-6), within


def intervals(
    model: GainModel, probes: pd.DataFrame, held: pd.DataFrame, spread: tuple[float, float], prior_weight: float
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per variant (module docstring), the held-out rows' interval centres and variances."""
    shift_var, within = spread
    probe_mean, probe_var = predicted(model, probes)
    residual = probes["gain"].to_numpy() - probe_mean
    weight = 1 / (within + probe_var)
    posterior = 1 / (1 / shift_var + weight.sum())
    effect = posterior * float((weight * residual).sum())
    pooled = (prior_weight * model.tau2 + float((residual**2).sum())) / (prior_weight + len(residual))
    left = (prior_weight * within + float(((residual - effect) ** 2).sum())) / (prior_weight + len(residual))
    mean, variance = predicted(model, held)
    return {
        "prior": (mean, variance + model.tau2),
        "shifted": (mean + effect, variance + posterior + within),
        "rescaled": (mean, variance + pooled),
        "both": (mean + effect, variance + posterior + left),
    }


def judged(dev: pd.DataFrame, test: pd.DataFrame, k: int, prior_weight: float) -> pd.DataFrame:
    """Every held-out (variant, configuration, setting): family, whether the test gain fell inside, width."""
    rows = []
    for family in sorted(set(dev["family"])):
        training = dev[dev["family"] != family].reset_index(drop=True)
        model = GainModel.fit(training)
        spread = setting_spread(model, training)
        for setting, held in test[test["family"] == family].groupby("setting"):
            own = dev[dev["setting"] == setting].reset_index(drop=True)
            probes = own.iloc[np.argsort(-predicted(model, own)[0])[:k]]
            held = held[~held["config"].isin(probes["config"])].reset_index(drop=True)
            if held.empty:
                continue
            for variant, (mean, variance) in intervals(model, probes, held, spread, prior_weight).items():
                half = LEVEL_Z * np.sqrt(variance)
                inside = (mean - half <= held["gain"]) & (held["gain"] <= mean + half)
                rows.append(pd.DataFrame({"variant": variant, "family": family, "covered": inside, "width": 2 * half}))
    return pd.concat(rows, ignore_index=True)


def summary(rows: pd.DataFrame) -> dict[str, object]:
    """Overall coverage, the families with enough gains and how many sit in :data:`BAND`, median width."""
    per = rows.groupby("family")["covered"].agg(["mean", "size"])
    counted = per[per["size"] >= MIN_GAINS]
    return {
        "families in band if calibrated": round(float(sum(in_band_chance(int(n)) for n in counted["size"])), 1),
        "coverage": round(float(rows["covered"].mean()), 3),
        "gains": len(rows),
        "families in band": int(counted["mean"].between(*BAND).sum()),
        "families counted": len(counted),
        "median width": round(float(rows["width"].median()), 4),
        "by family": {f: f"{m:.2f} of {int(n)}" for f, (m, n) in per.iterrows()},
    }


def in_band_chance(gains: int) -> float:
    """The chance that a family's coverage falls in :data:`BAND` when every one of its ``gains`` falls inside
    a calibrated interval independently with probability :data:`LEVEL`: the target's own sampling noise
    (gains of one setting move together, so a real family's chance is lower still)."""
    low, high = int(np.ceil(BAND[0] * gains - 1e-9)), int(np.floor(BAND[1] * gains + 1e-9))
    return float(binom.cdf(high, gains, LEVEL) - binom.cdf(low - 1, gains, LEVEL))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", default="2,3,4", help="numbers of probe configurations, comma-separated")
    parser.add_argument("--prior-weight", type=float, default=2.0, help="the training spread, in residuals")
    args = parser.parse_args()
    with shipped_store() as store:
        runs = latest_splits(store.runs(source="ours"))
    at = runs[runs["fidelity"] == "realistic"]
    dev = observed_gains(at).assign(family=lambda f: f["dataset"].map(dataset_family))
    test = observed_gains(at, "test_ratio").assign(family=lambda f: f["dataset"].map(dataset_family))
    spread = test.groupby("setting")["gain"].std().dropna()
    quantiles = spread.quantile([0, 0.5, 1]).round(3).tolist()
    print(f"the SD of a setting's test gains over its configurations: min, median, max {quantiles} "
          f"over {len(spread)} settings")  # fmt: skip
    record: dict[str, object] = {"gains' SD within a setting (test), min, median, max": quantiles}
    for k in (int(k) for k in args.probes.split(",")):
        rows = judged(dev, test, k, args.prior_weight)
        for variant in ("prior", "shifted", "rescaled", "both"):
            part = rows[rows["variant"] == variant]
            record[f"{variant}, {k} probes"] = figures = summary(part)
            print(f"{k} probes, {variant:>8}: {LEVEL:.0%} intervals hold {figures['coverage']:.3f} of "
                  f"{figures['gains']}; {figures['families in band']} of {figures['families counted']} families "
                  f"with >= {MIN_GAINS} gains in {BAND} ({figures['families in band if calibrated']} expected if "
                  f"calibrated); median width {figures['median width']:.3f}")  # fmt: skip
            print(f"    {figures['by family']}")
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
