"""Could one run of the student alone on the user's data say whether to distil at all?

The advice predicts "train alone" from other data sets' runs, and held out that prediction never
clears zero, so pick 1 is logit KD even where the student alone wins (brown-pos-fine, moby-syllables,
sotu-party). A run of the student alone (no-KD) at the realistic budget costs about what a logit KD
run does, and its dev ratio to the teacher (the *probe*) is something no pre-run feature is: it
rank-correlates with how much the student alone gains over logit KD. This script asks whether that
correlation turns into better decisions, on the shipped study's (data set, student) pairs at the
realistic budget:

* the probe is the lowest seed's no-KD dev ratio (one run, as a user would make it);
* held out by family, the cut :func:`autodistill.advice.probe.probe_threshold` chooses on the other
  families' dev ratios (no-KD at or above it, logit KD below, scored by mean dev ratio); the
  held-out pair's pick is read on test, against the better of the two defaults there and against the
  advice as it is (logit KD: "train alone" never clears its interval held out);
* "probe ≥ 1" (the student alone already matches the teacher on dev) is a rule proposed after
  seeing these pairs and is labelled so; the prospective pairs (families the study never ran) test
  both rules on data no choice here has read;
* the paired probe (a second run, logit KD with the probe's seed) gives the *lead* of no-KD over logit KD on
  dev; a cut on it is chosen as the probe's is. It was tried after the probe's one miss beyond noise
  (brown-pos-fine ``tiny-gd``) and is labelled so; whichever of the two cuts the other families' own
  leave-one-family-out dev ratios favour is the choice between them made without reading test.

Students started from pretrained weights (``tiny-gd``) are read apart, as ``recommend`` pools only
students started alike: their realistic runs ship in the patient study's file, and the same held-out
check runs on them, no cut being set on fewer than :data:`~autodistill.advice.probe.MIN_PAIRS` pairs;
the prospective ``tiny-gd`` pairs are read against the cut all of them set.

Noise: the paired per-pair differences' standard error (pairs of one family are not independent, so
it is a floor).

    python benchmarks/alone_probe.py        # seconds, trains nothing; benchmarks/results/alone_probe.json
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from autodistill.advice.alone import PAIR_KEYS, alone_gain, baseline_rows, normalised
from autodistill.advice.budget import PATIENT_STORE
from autodistill.advice.probe import MIN_PAIRS, probe_threshold
from autodistill.evaluation.noise import NO_KD, PAIR, latest_splits, study_outcomes
from autodistill.store.configurations import is_logit_kd, logit_kd_keys
from autodistill.store.database import RunStore
from autodistill.store.shipped import shipped_store
from engine import dataset_family, from_scratch, paths

RESULTS = Path(__file__).parent / "results" / "alone_probe.json"
PROSPECTIVE = paths.META_DATA / "prospective"
#: The arms of the prospective results file that are the two defaults, as the study names them.
_PROSPECTIVE_ARMS = {"baseline": NO_KD, "default:logit": "logit"}
#: The paired probe's rule as the tables name it: tried after brown-pos-fine ``tiny-gd`` was missed.
PAIRED = "paired lead, cut chosen on the other families (proposed after one miss)"


def pair_table(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per (data set, student): the probe (the lowest seed's no-KD dev ratio), the paired probe's ``lead``
    (that run's dev ratio less logit KD's of the same seed; NaN where logit KD lacks it) and both defaults'
    mean dev ratios (``alone``, ``logit``, as :func:`autodistill.advice.alone.default_pairs` has them) and
    test ratios over their seeds, with the seeds' standard error of the test difference (``test_se``, NaN
    with one seed of either); ``arm`` is ``no-KD`` or ``logit``."""
    rows = []
    for (dataset, student), here in outcomes.groupby(PAIR):
        alone, logit = here[here["arm"] == NO_KD], here[here["arm"] == "logit"]
        if alone.empty or logit.empty:
            continue
        first = alone.sort_values("seed").iloc[0]
        beside = logit.loc[logit["seed"] == first["seed"], "dev_ratio"]
        rows.append(
            {
                "dataset": dataset,
                "student": student,
                "family": dataset_family(dataset),
                "probe": float(first["dev_ratio"]),
                "lead": float(first["dev_ratio"] - beside.iloc[0]) if len(beside) else np.nan,
                "alone": float(alone["dev_ratio"].mean()),
                "logit": float(logit["dev_ratio"].mean()),
                "alone_test": float(alone["test_ratio"].mean()),
                "logit_test": float(logit["test_ratio"].mean()),
                "test_se": alone_gain(alone["test_ratio"], logit["test_ratio"])[1],
            }
        )
    return pd.DataFrame(rows)


def _defaults(frame: pd.DataFrame) -> pd.DataFrame:
    """Outcome rows of the two defaults only, each labelled by ``arm``."""
    logit = frame["configuration"].isin(logit_kd_keys())
    kept = frame[logit | (frame["configuration"] == NO_KD)]
    return kept.assign(arm=np.where(kept["configuration"] == NO_KD, NO_KD, "logit"))


def cut(train: pd.DataFrame) -> float:
    """The library's cut on ``train``'s pairs (infinity where it trains alone nowhere, or where too few
    pairs set none)."""
    found = probe_threshold(train) if len(train) >= MIN_PAIRS else None
    return np.inf if found is None else found


def lead_cut(train: pd.DataFrame) -> float:
    """The paired probe's cut on ``train``'s pairs, chosen as :func:`cut` chooses the probe's: on the
    lead of one no-KD run over logit KD's run of the same seed instead of the no-KD run's ratio."""
    return cut(train.dropna(subset=["lead"]).assign(probe=lambda frame: frame["lead"]))


#: The two one-run readings a cut can be set on: the probe's ratio and the paired probe's lead.
READINGS = {"probe": cut, "lead": lead_cut}


def says_alone(train: pd.DataFrame, test: pd.DataFrame, reading: str) -> pd.Series:
    """Whether each ``test`` pair trains alone under ``reading``'s cut chosen on ``train``."""
    return test[reading] >= READINGS[reading](train)


def inner_choice(train: pd.DataFrame) -> str:
    """The reading whose cut, chosen on all but one of ``train``'s families in turn, gives the higher mean
    dev ratio on the family left out (ties: the probe's, the rule the library has)."""

    def score(reading: str) -> float:
        folds = [(train[train["family"] != f], train[train["family"] == f]) for f in train["family"].unique()]
        picked = [np.where(says_alone(rest, one, reading), one["alone"], one["logit"]) for rest, one in folds]
        return float(np.concatenate(picked).mean())

    return max(READINGS, key=score)


def _nested(pairs: pd.DataFrame) -> pd.Series:
    """Each pair's decision with the reading chosen inside the folds of the other families."""
    held = []
    for family in pairs["family"].unique():
        train, test = pairs[pairs["family"] != family], pairs[pairs["family"] == family]
        held.append(says_alone(train, test, inner_choice(train)))
    return pd.concat(held).reindex(pairs.index)


def _decided(pairs: pd.DataFrame, alone: pd.Series, rule: str) -> pd.DataFrame:
    """Each pair's pick under ``rule`` on test: against the better default and against logit KD."""
    got = np.where(alone, pairs["alone_test"], pairs["logit_test"])
    best = pairs[["alone_test", "logit_test"]].max(axis=1)
    return pairs[["dataset", "student", "family"]].assign(
        rule=rule,
        alone=alone.to_numpy(),
        vs_better_default=got - best,
        vs_logit=got - pairs["logit_test"],
        below=got - best < -2 * pairs["test_se"],  # beyond the seeds' noise; never where an arm has one seed
    )


def held_out(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per pair and rule: the advice as it is (logit KD), the threshold chosen on the other families,
    probe ≥ 1, the paired probe's cut chosen on the other families, and whichever of the two cuts the
    other families' own leave-one-family-out dev ratios favour."""
    cuts = pairs["family"].map({f: cut(pairs[pairs["family"] != f]) for f in pairs["family"].unique()})
    leads = pairs["family"].map({f: lead_cut(pairs[pairs["family"] != f]) for f in pairs["family"].unique()})
    return pd.concat(
        [
            _decided(pairs, pd.Series(False, index=pairs.index), "logit KD (the advice held out)"),
            _decided(pairs, pairs["probe"] >= cuts, "probe threshold, chosen on the other families").assign(
                threshold=cuts.to_numpy()
            ),
            _decided(pairs, pairs["probe"] >= 1.0, "probe >= 1 (proposed after seeing these pairs)"),
            _decided(pairs, pairs["lead"] >= leads, PAIRED).assign(threshold=leads.to_numpy()),
            _decided(pairs, _nested(pairs), "probe or paired lead, chosen inside the other families' folds on dev"),
        ],
        ignore_index=True,
    )


def summary(decided: pd.DataFrame) -> list[dict]:
    """Per rule: mean and worst against the better default, and the paired gain over the advice as it
    is with its standard error."""
    base = decided[decided["rule"].str.startswith("logit KD")].set_index(["dataset", "student"])["vs_logit"]
    rows = []
    for rule, group in decided.groupby("rule", sort=False):
        over = group.set_index(["dataset", "student"])["vs_logit"] - base
        se = float(over.std(ddof=1) / np.sqrt(len(over)))
        rows.append(
            {
                "rule": rule,
                "pairs": len(group),
                "train alone": int(group["alone"].sum()),
                "vs better default, mean": round(float(group["vs_better_default"].mean()), 4),
                "vs better default, worst": round(float(group["vs_better_default"].min()), 4),
                "below it beyond 2 SE": int(group["below"].sum()),
                "over the advice": round(float(over.mean()), 4),
                "se": round(se, 4),
                "within noise": bool(abs(over.mean()) <= 2 * se) if se > 0 else True,
            }
        )
    return rows


def prospective_pairs() -> pd.DataFrame:
    """The prospective families' pairs at the realistic budget: fresh ``tiny`` from the held-out
    results file, ``tiny-gd`` from the budget store."""
    results = pd.read_csv(PROSPECTIVE / "results.csv")
    fresh = results[results["arm"].isin(_PROSPECTIVE_ARMS) & (results["fidelity"] == "realistic")]
    fresh = fresh.assign(arm=fresh["arm"].map(_PROSPECTIVE_ARMS), student_name=fresh["student"])
    with RunStore(PROSPECTIVE / "budget.sqlite") as store:
        gd = _defaults(study_outcomes(store.runs(), store.trials()))
    gd = gd[gd["fidelity"] == "realistic"]
    return pair_table(pd.concat([fresh, gd], ignore_index=True))


def pretrained_pairs() -> pd.DataFrame:
    """The patient study's students started from pretrained weights, at the realistic budget."""
    with RunStore(PATIENT_STORE, read_only=True) as store:
        outcomes = study_outcomes(latest_splits(store.runs(source="ours")), latest_splits(store.trials()))
    return pair_table(_defaults(outcomes[outcomes["fidelity"] == "realistic"]))


def _spearman(pairs: pd.DataFrame) -> list[float]:
    """The probe's rank correlation with no-KD's test gain over logit KD, and its p-value."""
    rho = spearmanr(pairs["probe"], pairs["alone_test"] - pairs["logit_test"])
    return [round(float(rho.statistic), 3), float(rho.pvalue)]


def _prospective(ahead: pd.DataFrame, study_pairs: pd.DataFrame, study: str) -> pd.DataFrame:
    """The prospective pairs under the advice as it is, the cut the ``study`` pairs set, probe ≥ 1, the paired
    probe's cut they set, and whichever of the two cuts their leave-one-family-out dev ratios favour."""
    threshold, lead = cut(study_pairs), lead_cut(study_pairs)
    rule = (
        f"probe >= {threshold:.3f} (chosen on all {study})" if np.isfinite(threshold) else f"no cut ({study} set none)"
    )
    reading = inner_choice(study_pairs)
    chosen = f"{reading} (chosen in the folds of all {study}, on dev)"
    return pd.concat(
        [
            _decided(ahead, pd.Series(False, index=ahead.index), "logit KD (the advice)"),
            _decided(ahead, ahead["probe"] >= threshold, rule),
            _decided(ahead, ahead["probe"] >= 1.0, "probe >= 1"),
            _decided(ahead, ahead["lead"] >= lead, f"paired lead >= {lead:+.4f} (chosen on all {study})"),
            _decided(ahead, says_alone(study_pairs, ahead, reading), chosen),
        ],
        ignore_index=True,
    )


def probe_cost(runs: pd.DataFrame, trials: pd.DataFrame) -> float:
    """The probe's price: per pair, the median wall time of a no-KD run over a logit KD run's at the same
    budget (the teacher's outputs are cached in both studies' runs); the median over pairs."""
    logit = normalised(runs[is_logit_kd(runs)]).groupby(PAIR_KEYS)["wall_time_s"].median()
    alone = normalised(baseline_rows(trials)).groupby(PAIR_KEYS)["wall_time_s"].median()
    return float((alone / logit).dropna().median())


def main() -> None:
    with shipped_store() as store:
        runs, trials = latest_splits(store.runs(source="ours")), latest_splits(store.trials())
    outcomes = study_outcomes(runs, trials)
    realistic = runs["fidelity"] == "realistic"
    pairs = pair_table(_defaults(outcomes[outcomes["fidelity"] == "realistic"]))
    decided = held_out(pairs)
    pretrained = pretrained_pairs()
    pretrained_decided = held_out(pretrained)
    ahead = prospective_pairs()
    started = ahead["student"].map(from_scratch)
    fresh, gd = ahead[started].reset_index(drop=True), ahead[~started].reset_index(drop=True)
    ahead_fresh = _prospective(fresh, pairs, "study pairs of fresh students")
    ahead_gd = _prospective(gd, pretrained, "pretrained study pairs")
    report = {
        "pairs": len(pairs),
        "probe minutes x logit KD's (median over pairs)": round(
            probe_cost(runs[realistic], trials[trials["fidelity"] == "realistic"]), 2
        ),
        "families": int(pairs["family"].nunique()),
        "spearman probe vs no-KD's test gain over logit KD": _spearman(pairs),
        "held out": summary(decided),
        "pretrained pairs": len(pretrained),
        "spearman, pretrained students": _spearman(pretrained),
        "held out, pretrained students": summary(pretrained_decided),
        "prospective": summary(ahead_fresh),
        "prospective, pretrained students": summary(ahead_gd),
        "prospective pairs": pd.concat([ahead_fresh, ahead_gd]).round(4).to_dict(orient="records"),
        "held-out pairs": pd.concat([decided, pretrained_decided]).round(4).to_dict(orient="records"),
    }
    sections = ("held out", "held out, pretrained students", "prospective", "prospective, pretrained students")
    for section in sections:
        print(section)
        print(pd.DataFrame(report[section]).to_string(index=False))
    print("spearman", report["spearman probe vs no-KD's test gain over logit KD"], "pretrained students",
          report["spearman, pretrained students"])  # fmt: skip
    print("probe minutes x logit KD's", report["probe minutes x logit KD's (median over pairs)"])
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
