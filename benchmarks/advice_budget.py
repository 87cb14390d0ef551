"""Training longer as advice, checked held out by family on the pairs the patient study ran.

For each (data set, student) pair that ran logit KD at the realistic budget and the fixed list at the
patient one (``meta_data/patient/study.sqlite`` beside the shipped study), the budget candidate
:func:`autodistill.advice.budget.longer_budget` picks is predicted with the pair's family held out
(its data set's own runs and its siblings' left out, as ``recommend --unseen`` does), on dev. Where
that prediction is backed (its interval above zero), pick 1 is it; else logit KD at the realistic
budget. Each is then read on test beside both defaults at the realistic budget (logit KD, the student
alone) and beside the best arm of either budget chosen on dev (the headroom); a pick 1 the study never
ran on the pair cannot be read on test, and such pairs are named apart from the mean. The same with the
pair's own runs in (what ``recommend`` does on a data set the study ran) comes second. Last, where
``meta_data/prospective/budget.sqlite`` holds runs on data sets of families the study never ran, the
advice those pairs' evidence gives there, read on test against both defaults. The noise is the seeds'
standard error of the difference (test sampling left out: both arms score the same split).

    python benchmarks/advice_budget.py      # seconds; benchmarks/results/advice_budget.json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autodistill.advice.alone import alone_lead, baseline_rows, default_pairs
from autodistill.advice.budget import (
    REFERENCE,
    BudgetGain,
    anchored_estimates,
    budget_gains,
    budget_runs,
    longer_budget,
    patient_baselines,
    patient_runs,
    times_reference,
)
from autodistill.advice.gain import LEVEL
from autodistill.advice.probe import own_probe, read_probe
from autodistill.advice.runs import without_family
from autodistill.evaluation.noise import NO_KD, arm_stats, catalog_resolution, group_noise, lead_noise, study_outcomes
from autodistill.store.database import RunStore
from autodistill.store.shipped import shipped_store
from autodistill.sweep.study_plan import task_type_of
from engine import dataset_family, from_scratch, paths

RESULTS = Path(__file__).parent / "results" / "advice_budget.json"
#: Runs on data sets of families the study never ran: realistic logit KD and no-KD, and the list at the patient budget.
PROSPECTIVE = paths.META_DATA / "prospective" / "budget.sqlite"
_PAIR = ["dataset", "student_name"]


def _mean_se(values: pd.Series) -> tuple[float, float, int]:
    """Mean, standard error and count of per-seed test ratios."""
    n = len(values)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan"), n


def _arm(runs: pd.DataFrame, arm: str) -> pd.Series:
    return runs.loc[runs["arm"] == arm, "test_ratio"]


def _pair_row(
    dataset: str, student: str, kind: str, runs: pd.DataFrame, alone: pd.Series, lead: float, probes: dict[str, bool]
) -> dict:
    """One pair: the held-out and the own-runs pick 1, each on test against the defaults and the headroom;
    ``lead``: no-KD's lead over logit KD on the pair's own runs where beyond the noise (else zero): the
    advice with its own runs in is then not to distil, where that lead beats the longer budget's;
    ``probes``: per variant, whether the pair's probe reached the cut (where pick 1 is still logit KD,
    the advice is then to train alone)."""
    here = runs[(runs["dataset"] == dataset) & (runs["student_name"] == student)]
    teacher = str(here["teacher_name"].iloc[0])
    logit = _arm(here, REFERENCE)
    better = alone if len(alone) and alone.mean() > logit.mean() else logit
    best_default = better.mean()
    by_dev = here.groupby("arm")["ratio"].mean().idxmax()
    row = {"dataset": dataset, "student": student, "logit KD (test)": logit.mean(), "no-KD (test)": alone.mean(),
           "best by dev": by_dev, "headroom": _arm(here, by_dev).mean() - best_default}  # fmt: skip
    for name, frame in (("held out", without_family(runs, dataset)), ("own runs", runs)):
        found = longer_budget(frame, dataset, teacher, student, task_type_of(kind))
        row |= _advised(name, found, here, logit, better)
    own = row["own runs: pick 1"]
    if lead > 0 and (own == "logit KD" or lead > row["own runs: predicted gain (dev)"]):
        row |= _alone_pick("own runs", alone, logit, better)
    for name, says_alone in probes.items():
        if says_alone and row[f"{name}: pick 1"] == "logit KD":
            row |= _alone_pick(name, alone, logit, better) | {f"{name}: pick 1": "no-KD (probe)"}
    return row


def _lead(picked: pd.Series, other: pd.Series) -> tuple[float, float]:
    """Pick 1's mean test ratio over ``other``'s and the seeds' standard error of that difference (both
    zero where pick 1 is ``other``)."""
    if picked is other:
        return 0.0, 0.0
    (mean, se, _), (base, base_se, _) = _mean_se(picked), _mean_se(other)
    return mean - base, float(np.hypot(se, base_se))


def _below_default(picked: pd.Series, better: pd.Series) -> dict[str, float]:
    """Pick 1's test ratio over the better default's, with its standard error."""
    lead, se = _lead(picked, better)
    return {"over the better default (test)": lead, "se vs the better default": se}


def _alone_pick(name: str, alone: pd.Series, logit: pd.Series, better: pd.Series) -> dict:
    """A variant's pick 1 when the advice is to train the student alone."""
    return {
        f"{name}: pick 1": "no-KD",
        f"{name}: over logit KD (test)": alone.mean() - logit.mean(),
        f"{name}: minutes x logit KD": None,
    } | {f"{name}: {key}": value for key, value in _below_default(alone, better).items()}


def _probe_says_alone(
    runs: pd.DataFrame, baselines: pd.DataFrame, own: pd.DataFrame, pair: tuple[str, str, str], budget: dict
) -> bool:
    """Whether the pair's (data set, teacher, student) probe, its lowest seed alone among ``own`` at its
    realistic ``budget``, reaches the cut the other data sets' pairs of students started alike set
    (``runs`` and ``baselines``, the family already left out where held out)."""
    dataset, teacher, student = pair
    fresh = from_scratch(student)

    def alike(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[(frame["student_name"].map(from_scratch) == fresh) & (frame["dataset"] != dataset)]

    found = read_probe(default_pairs(alike(runs), alike(baselines)), own_probe(own, dataset, teacher, student, budget))
    return found is not None and found.says_alone


def _advised(name: str, found: BudgetGain | None, here: pd.DataFrame, logit: pd.Series, better: pd.Series) -> dict:
    """What pick 1 is under the budget rule and what it scored on test, against logit KD and the better default,
    and the multiple of logit KD's minutes it was priced at beside the one its runs on the pair took."""
    chosen = found.name if found is not None and found.backed else None
    picked = _arm(here, chosen) if chosen else logit
    lead, se = _lead(picked, logit)
    took = budget_gains(here).set_index("name")["times"]
    return {
        f"{name}: longer candidate": None if found is None else found.name,
        f"{name}: predicted gain (dev)": None if found is None else round(found.gain.mean, 4),
        f"{name}: interval": None if found is None else [round(found.gain.low, 4), round(found.gain.high, 4)],
        f"{name}: pick 1": chosen or "logit KD",
        f"{name}: over logit KD (test)": lead,
        f"{name}: se": se,
        f"{name}: minutes x logit KD": None if not chosen else round(found.times, 1),
        f"{name}: minutes x logit KD, range": None
        if not chosen or found.times_range is None
        else [round(found.times_range[0], 1), round(found.times_range[1], 1)],
        f"{name}: minutes x logit KD, measured": None if chosen not in took else round(float(took[chosen]), 1),
        f"{name}: seeds": len(picked),
    } | {f"{name}: {key}": value for key, value in _below_default(picked, better).items()}


def _above_top(priced: pd.DataFrame) -> pd.Series:
    """Whether each pair's measured multiple of logit KD's minutes lay above the top of its predicted range
    (what a ``--budget`` kept by the range's top would have overrun)."""
    top = priced["held out: minutes x logit KD, range"].map(lambda r: float("inf") if r is None else r[1])
    return priced["held out: minutes x logit KD, measured"] > top


def main() -> None:
    with shipped_store() as shipped:
        realistic = shipped.runs(source="ours")
        alone = baseline_rows(shipped.trials(source="ours"))
    alone = pd.concat([alone, patient_baselines()], ignore_index=True)
    patient = patient_runs()
    both = pd.concat([realistic, patient], ignore_index=True)
    tested = budget_runs(realistic, patient).merge(both[["run_id", "test_ratio", "fidelity"]], on="run_id")
    alone = alone[alone["fidelity"] == "realistic"]
    at_realistic = both[both["fidelity"] == "realistic"]
    runs, rows = tested.dropna(subset=["test_ratio"]), []
    for (dataset, student), pair in runs.groupby(_PAIR):
        if set(pair["fidelity"]) != {"realistic", "patient"}:
            continue
        kind = str(both.loc[both["dataset"] == dataset, "task_kind"].iloc[0])
        mine = alone[(alone["dataset"] == dataset) & (alone["student_name"] == student)]
        teacher = str(pair["teacher_name"].iloc[0])
        measured = alone_lead(at_realistic, alone, dataset, teacher, student)
        lead = 0.0 if measured is None else measured.gain
        logit = at_realistic[(at_realistic["dataset"] == dataset) & (at_realistic["student_name"] == student)]
        budget = {key: int(logit[key].mode().iloc[0]) for key in ("epochs", "max_length")}
        at_budget = mine[mine["epochs"] == budget["epochs"]]  # not the longer no-KD run that found the plateau
        at = (dataset, teacher, student)
        probes = {
            "held out": _probe_says_alone(
                without_family(at_realistic, dataset), without_family(alone, dataset), mine, at, budget
            ),
            "own runs": _probe_says_alone(at_realistic, alone, mine, at, budget),
        }
        rows.append(_pair_row(dataset, student, kind, runs, at_budget["test_ratio"].dropna(), lead, probes))
    table = pd.DataFrame(rows)
    table["fresh"] = table["student"].map(from_scratch)
    shown = ["dataset", "student", "headroom", "held out: longer candidate", "held out: interval", "held out: pick 1",
             "held out: over the better default (test)", "own runs: pick 1", "own runs: over the better default (test)",
             "own runs: minutes x logit KD"]  # fmt: skip
    print(table[shown].round(3).to_string(index=False))
    room = table[table["headroom"] > 0]
    for name in ("held out", "own runs"):
        over = table[f"{name}: over the better default (test)"]
        captured = room[f"{name}: over the better default (test)"].sum() / room["headroom"].sum() if len(room) else 0
        unjudged = table.loc[over.isna(), "dataset"] + " " + table.loc[over.isna(), "student"]
        beyond = over < -2 * table[f"{name}: se vs the better default"]
        below = (table.loc[beyond, "dataset"] + " " + table.loc[beyond, "student"]).tolist()
        cost = table[f"{name}: minutes x logit KD"].fillna(1.0)  # logit KD, or the student alone: at most 1x
        print(f"{name}: pick 1 over the better default {over.mean():+.4f} on average over {over.notna().sum()} of "
              f"{len(table)} pairs, worst {over.min():+.4f}; {captured:.0%} of the headroom captured where some arm "
              f"had any, at a median {cost.median():.1f}x logit KD's minutes (most {cost.max():.1f}x); below it beyond "
              f"2 SE of the seeds: {', '.join(below) or 'none'}; not judged (pick 1 never ran there): "
              f"{', '.join(unjudged) or 'none'}")  # fmt: skip
    priced = table.dropna(subset=["held out: minutes x logit KD, measured"])
    error = priced["held out: minutes x logit KD"] / priced["held out: minutes x logit KD, measured"] - 1
    print(f"held out: pick 1's minutes as a multiple of logit KD's, priced from other pairs, against its runs on the "
          f"pair: median relative error {error.median():+.2f} over {len(error)} pairs, within ±30 % on "
          f"{int((error.abs() <= 0.3).sum())}; above the prediction on {int((error < 0).sum())}, above its range's "
          f"top on {int(_above_top(priced).sum())}")  # fmt: skip
    covered = coverage(runs)
    print(f"held out by family, {LEVEL:.0%} intervals of the longer budget's gain (dev) hold {covered['held']:.2f} of "
          f"{covered['gains']} measured gains ({covered['by student']}; by family {covered['by family']})")  # fmt: skip
    ahead = prospective(budget_runs(realistic, patient), PROSPECTIVE) if PROSPECTIVE.exists() else pd.DataFrame()
    if not ahead.empty:
        print("prospective, on families the study never ran:")
        print(ahead.round(4).to_string(index=False))
    record = {"pairs": _records(table), "interval coverage": covered, "prospective": _records(ahead)}
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {RESULTS}")


def coverage(runs: pd.DataFrame) -> dict[str, Any]:
    """How often a pair's measured dev gain of a list configuration at the patient budget over logit KD
    at the realistic one falls in the interval :func:`anchored_estimates` predicts for it with the pair's
    family left out (other pairs of students started alike), overall, per student and per family of data sets."""
    held = []
    for (dataset, student), mine in budget_gains(runs).groupby(_PAIR):
        others = budget_gains(without_family(runs, dataset))
        alike = others[others["student_name"].map(from_scratch) == from_scratch(student)]
        estimates = anchored_estimates(alike, str(mine["task_type"].iloc[0])).estimates
        held += [
            (
                f"{dataset} {student}",
                student,
                dataset_family(dataset),
                estimates[name].low <= gain <= estimates[name].high,
            )
            for name, gain in zip(mine["name"], mine["gain"], strict=True)
            if name in estimates
        ]
    frame = pd.DataFrame(held, columns=["pair", "student", "family", "held"])

    def per(column: str) -> dict[str, str]:
        return {
            str(level): f"{group['held'].mean():.2f} of {len(group)} ({_pairs_spread(group)})"
            for level, group in frame.groupby(column)
        }

    return {"held": float(frame["held"].mean()), "gains": len(frame), "by student": per("student"),
            "by family": per("family")}  # fmt: skip


#: Resamples of the pairs behind one coverage figure.
_RESAMPLES = 2000


def _pairs_spread(held: pd.DataFrame) -> str:
    """How far a coverage figure could move by which pairs happened to be run: a pair's gains share its
    data set and student and miss or fall in together, so the pairs, not the gains, are resampled (with
    replacement); the 5th to 95th percentile of the resampled coverage, and the pairs behind it."""
    pairs = held.groupby("pair")["held"].agg(["sum", "size"])
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(pairs), size=(_RESAMPLES, len(pairs)))
    covered = pairs["sum"].to_numpy()[draws].sum(axis=1) / pairs["size"].to_numpy()[draws].sum(axis=1)
    low, high = np.percentile(covered, [5, 95])
    return f"{len(pairs)} pair{'s' if len(pairs) > 1 else ''}; 90% over pairs {low:.2f}-{high:.2f}"


def _records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records")) if not frame.empty else []


def prospective(evidence: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Per (data set, student) of the store at ``path`` (families ``evidence``, a :func:`budget_runs` frame,
    never ran): the longer budget the evidence predicts and pick 1 under the rule; on test, the longer
    budget's runs against logit KD and no-KD at the realistic budget with the study's noise (seed spread
    and the test split's sampling error, paired on the runs' predictions); the minutes it took as a
    multiple of logit KD's there. Pick 1 is named as the rule names it: one that is neither logit KD nor
    the longer arm run there cannot be read on test, and the row says so by its name."""
    with RunStore(path, read_only=True) as store:
        runs = store.runs(source="ours")
        outcomes = study_outcomes(runs, store.trials(source="ours"))
        predictions = store.test_predictions(outcomes["predictions_key"])  # read lazily: the store stays open
        pairs = budget_runs(runs).groupby(_PAIR)
        return pd.DataFrame([_ahead(pair, runs, outcomes, predictions, evidence) for _, pair in pairs])


def _ahead(
    pair: pd.DataFrame, runs: pd.DataFrame, outcomes: pd.DataFrame, predictions: Any, evidence: pd.DataFrame
) -> dict:
    """One prospective pair's row of :func:`prospective`."""
    dataset, student = str(pair["dataset"].iloc[0]), str(pair["student_name"].iloc[0])
    kind = str(runs.loc[runs["dataset"] == dataset, "task_kind"].iloc[0])
    found = longer_budget(evidence, dataset, str(pair["teacher_name"].iloc[0]), student, task_type_of(kind))
    group = _arms(outcomes[(outcomes["dataset"] == dataset) & (outcomes["student_name"] == student)])
    stats = arm_stats(group)
    terms = group_noise(group, catalog_resolution(dataset, int(group["split_version"].max())))
    longer = str(pair.loc[pair["arm"] != REFERENCE, "arm"].iloc[0])
    row = {"dataset": dataset, "student": student, "longer": longer,
           "pick 1": found.name if found is not None and found.backed else "logit KD",
           "predicted gain (dev)": None if found is None else found.gain.mean,
           "interval": None if found is None else [round(found.gain.low, 4), round(found.gain.high, 4)],
           "longer (test)": stats.loc["longer", "reported_ratio"], "seeds": int(stats.loc["longer", "seeds"]),
           "logit KD (test)": stats.loc["logit KD", "reported_ratio"],
           "no-KD (test)": stats.loc[NO_KD, "reported_ratio"],
           "minutes x logit KD": times_reference(pair, longer)}  # fmt: skip
    for other in ("logit KD", NO_KD):
        noise, paired = lead_noise(group, (stats.loc["longer"], stats.loc[other]), terms, predictions)
        row |= {f"over {other}": stats.loc["longer", "reported_ratio"] - stats.loc[other, "reported_ratio"],
                f"noise vs {other}": noise, f"paired vs {other}": paired}  # fmt: skip
    return row


def _arms(group: pd.DataFrame) -> pd.DataFrame:
    """One pair's outcomes as three arms: the longer budget's KD runs, and logit KD and no-KD at the
    realistic budget (the patient no-KD baselines left out)."""
    patient, alone = group["fidelity"] == "patient", group["configuration"] == NO_KD
    arm = np.select([patient & ~alone, ~patient & alone, ~patient], ["longer", NO_KD, "logit KD"], default="")
    return group.assign(configuration=arm)[arm != ""]


if __name__ == "__main__":
    main()
