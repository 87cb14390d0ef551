"""recommend's cost model, gain intervals and top-pick rule, checked on held-out families of data sets.

Each family (data sets that share source examples, named on the data cards) is held out in turn;
the cost and gain models are fitted on the other families' stored runs and checked on the held-out
family's (:func:`autodistill.evaluation.advice.evaluate_advice`). No run is trained: the figures
come from ``meta_data/study/`` (imported into a scratch store). Gains and top picks read each data set
on its latest split version (scores on two versions of a test split are never compared), so a top
pick other than logit KD can be judged only where the study ran it on that data set; the cost model
is fitted and checked on every version's runs, since a run's wall time does not depend on which
test split scored it (a larger dev split read whole is priced by its ``eval_examples``). Where the
study page's headroom table finds a pipeline beating logit KD beyond the noise, the held-out top
pick's gain there is set beside that lead: the share of the headroom the advice captured.

    python benchmarks/advice_heldout.py      # three minutes on 2 idle cores; benchmarks/results/advice_heldout.json
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd

from autodistill import HELDOUT_RESULTS
from autodistill.advice.alone import baseline_rows
from autodistill.advice.cost import RANGE_LEVEL, pipeline_class
from autodistill.evaluation.advice import (
    COST_TOLERANCE,
    alone_intervals,
    evaluate_advice,
    overruns,
    residual_spread,
    variance_shares,
)
from autodistill.evaluation.headroom import headroom
from autodistill.evaluation.noise import catalog_resolution, latest_splits, resolutions, study_outcomes
from autodistill.store.database import RunStore
from autodistill.store.shipped import shipped_store
from engine import dataset_family, from_scratch

RESULTS = Path(__file__).parent / "results" / "advice_heldout.json"


def main() -> None:
    started = time.perf_counter()
    with shipped_store() as store:  # imported as a store reads it: a study shipped before a column gets it derived
        every = store.runs(source="ours")
        found = study_headroom(store)
        baselines = latest_splits(baseline_rows(store.trials(source="ours")))
    runs = latest_splits(every)
    alone = alone_intervals(runs[runs["student_name"].map(from_scratch)], baselines[baselines["student_name"].map(
        from_scratch)], dataset_family)  # fmt: skip
    result = evaluate_advice(runs, dataset_family, cost_runs=every)  # wall times: every split version's runs
    figures = result.figures()
    captured = headroom_captured(found, result.top)
    per_family = (
        result.gains.groupby("family")
        .agg(mean=("covered", "mean"), size=("covered", "size"), settings=("setting", "nunique"))
        .round(3)
    )
    shares = variance_shares(result.gains)
    kinds = runs.drop_duplicates("dataset").set_index("dataset")["task_kind"]
    by_kind = residual_spread(result.gains, result.gains["dataset"].map(kinds)).round(3)
    by_family_kind = residual_spread(result.gains, result.gains["family"]).round(3)
    by_family_kind["kind"] = result.gains.groupby("family")["dataset"].first().map(kinds)
    timed = result.costs.merge(every[["run_id", "device", "inter_loss", "augmentation", "mixup"]], on="run_id")
    within = (timed["rel_error"].abs() <= COST_TOLERANCE).rename("within")
    per_device = within.groupby(timed["device"]).agg(["mean", "size"]).round(3)
    in_range = timed["in_range"].groupby(timed["device"]).mean().round(3).rename("in range")
    per_device = per_device.join(in_range)
    by_family = within.groupby(timed["family"]).agg(["mean", "size"]).round(3)
    followed = pick_costs(result.costs)
    figures["cost_runs_heldout_picks"] = len(followed)
    figures["cost_within_tolerance_heldout_picks"] = float((followed["rel_error"].abs() <= COST_TOLERANCE).mean())
    figures["cost_range_coverage_heldout_picks"] = float(followed["in_range"].mean())
    figures.update({f"{key}_heldout_picks": value for key, value in overruns(followed).items()})
    by_class = timed["in_range"].groupby(pipeline_class(timed)).agg(["mean", "size"]).round(3)
    top = result.top.round(4)
    print(f"cost model: median |relative error| {figures['cost_median_abs_rel_error']:.3f} over "
          f"{figures['cost_runs']} held-out runs; within ±{COST_TOLERANCE:.0%}: {figures['cost_within_tolerance']:.3f} "
          f"(a configuration's own seeds: {figures['timing_floor_within_tolerance']:.3f})")  # fmt: skip
    print(f"  their {RANGE_LEVEL:.0%} ranges (from the other families' folds) hold "
          f"{figures['cost_range_coverage']:.3f} of them; longer than predicted: {figures['cost_over_point']:.3f}, "
          f"than the range's top: {figures['cost_over_range_top']:.3f}")  # fmt: skip
    print(f"  {figures['cost_runs_cpu_recorded']} of them recorded their CPU time, "
          f"{figures['cost_runs_waited']} of those waited for their cores")  # fmt: skip
    print(f"  {figures['cost_runs_probed']} of them timed the speed probe; within ±{COST_TOLERANCE:.0%}: "
          f"{figures['cost_within_tolerance_probed']:.3f}")  # fmt: skip
    print(f"  {figures['cost_runs_machine_known']} of them ran where the model knew the machine's speed (probed, "
          f"or a machine session other families ran in); within ±{COST_TOLERANCE:.0%}: "
          f"{figures['cost_within_tolerance_machine_known']:.3f} (seeds in one session: "
          f"{figures['timing_floor_one_machine']:.3f})")  # fmt: skip
    print(f"  {figures['cost_runs_heldout_picks']} of them trained the held-out evaluation's top picks "
          f"({HELDOUT_RESULTS.name}); within ±{COST_TOLERANCE:.0%}: "
          f"{figures['cost_within_tolerance_heldout_picks']:.3f}, inside their range: "
          f"{figures['cost_range_coverage_heldout_picks']:.3f}; longer than predicted: "
          f"{figures['cost_over_point_heldout_picks']:.3f}, than the range's top: "
          f"{figures['cost_over_range_top_heldout_picks']:.3f}")  # fmt: skip
    print(f"cost ranges' coverage by pipeline class:\n{by_class.to_string()}")
    print(f"gain intervals: coverage {figures['gain_interval_coverage']:.3f} over {figures['gain_rows']} held-out "
          f"(configuration, setting) pairs")  # fmt: skip
    print(per_family.to_string())
    print("share of the held-out gains' variance explained by the configuration "
          f"{shares['configuration']:.2f}, by the setting (a shift of all its gains) {shares['setting']:.2f}, "
          f"by both {shares['both']:.2f}")  # fmt: skip
    print("held-out gains' residuals in interval standard deviations (RMS 1: calibrated), by task kind and family:")
    print(by_kind.to_string())
    print(by_family_kind.sort_values(["kind", "rms"]).to_string())
    print(f"cost within ±{COST_TOLERANCE:.0%} by device:\n{per_device.to_string()}")
    print(f"cost within ±{COST_TOLERANCE:.0%} by family held out:\n{by_family.to_string()}")
    logit_first = figures["settings"] - figures["settings_top_not_logit"]
    print(f"top pick: logit KD in {logit_first} of {figures['settings']} settings; mean test ratio "
          f"{figures['top_mean_ratio']:.4f} against logit KD's {figures['logit_mean_ratio']:.4f}")  # fmt: skip
    print(top.to_string(index=False))
    print(f"train alone (no KD) against logit KD: interval coverage {alone['covered'].mean():.3f} over {len(alone)} "
          f"held-out (data set, student) pairs; advised on {int(alone['advised'].sum())}")  # fmt: skip
    print(alone.round(4).to_string(index=False))
    print("headroom over logit KD beyond the noise (the study page's table) and what the top pick got of it:")
    print(captured.to_string(index=False) if len(captured) else "  none on the pairs the claims count")
    RESULTS.write_text(
        json.dumps(
            {
                "figures": figures,
                "coverage_by_family": per_family.reset_index().to_dict(orient="records"),
                "gain_variance_shares": shares,
                "gain_residuals_by_kind": by_kind.reset_index().to_dict(orient="records"),
                "gain_residuals_by_family": by_family_kind.reset_index().to_dict(orient="records"),
                "cost_within_by_device": per_device.reset_index().to_dict(orient="records"),
                "cost_within_by_family": by_family.reset_index().to_dict(orient="records"),
                "cost_range_coverage_by_class": by_class.reset_index().to_dict(orient="records"),
                "top": top.to_dict(orient="records"),
                "headroom_captured": captured.to_dict(orient="records"),
                "alone": alone.round(4).to_dict(orient="records"),
                "runs": len(runs),
                "seconds": round(time.perf_counter() - started, 1),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


def pick_costs(costs: pd.DataFrame) -> pd.DataFrame:
    """The cost rows of the runs that trained the held-out evaluation's top picks (its ``pick`` arm): what a
    user who followed the advice ran, priced as the rest, by a model fitted without their family."""
    arms = pd.read_csv(HELDOUT_RESULTS, usecols=["arm", "run_id"])
    return costs[costs["run_id"].isin(arms.loc[arms["arm"] == "pick", "run_id"].dropna())]


def study_headroom(store: RunStore) -> pd.DataFrame:
    """The study page's headroom table on each data set's latest split version, leads paired where the
    shipped runs kept their test predictions."""
    runs, trials = latest_splits(store.runs(source="ours")), latest_splits(store.trials())
    outcomes = study_outcomes(runs, trials)
    resolved = resolutions(outcomes, catalog_resolution)
    claims = {name: r.claims_note for name, r in resolved.items() if r is not None}
    return headroom(outcomes, resolved, claims=claims, predictions=store.test_predictions(outcomes["predictions_key"]))


def headroom_captured(table: pd.DataFrame, top: pd.DataFrame) -> pd.DataFrame:
    """Per counted (data set, student) where a pipeline beats logit KD beyond the noise: that lead, the
    top pick's held-out gain over logit KD there, and the share of the lead it captured."""
    found = table[(table["headroom"] == "over logit KD") & (table["claims"] == "counted")]
    rows = found[["dataset", "student", "best pipeline (by dev)", "over logit KD", "noise vs logit"]]
    rows = rows.merge(top[["dataset", "student", "top", "top_ratio", "logit_ratio"]], on=["dataset", "student"])
    gained = rows["top_ratio"] - rows["logit_ratio"]
    return rows.assign(top_gain=gained, captured=gained / rows["over logit KD"]).round(4)


if __name__ == "__main__":
    main()
