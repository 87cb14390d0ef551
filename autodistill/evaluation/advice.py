"""How good recommend's cost and gain predictions, and its top-pick rule, are on data sets it never saw.

Each family of data sets (data sets that share a source are held out together, so a sibling's runs
cannot leak its answers) is held out in turn: the cost model and the gain model are fitted on the
other families' runs, then checked on the held-out family's stored runs. Nothing is trained or run:
this reads the store, so it is cheap and repeatable, and it can only judge a top pick the study ran
on that data set (the others are counted as not run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from autodistill.advice.alone import alone_gains, predicted_alone
from autodistill.advice.cost import (
    CostModel,
    cost_columns,
    probed,
    relative_errors,
    run_seconds,
    unprobed_sessions,
    waited,
)
from autodistill.advice.gain import LEVEL_Z, GainModel, observed_gains
from autodistill.advice.sessions import SESSION
from autodistill.store.configurations import configurations, is_logit_kd

#: Within this relative error a cost prediction counts as right (the target's ±30 %).
COST_TOLERANCE = 0.3


@dataclass(frozen=True)
class AdviceEvaluation:
    """Per held-out run, the cost prediction; per held-out (configuration, setting), the gain interval;
    per held-out setting, the top pick beside logit KD."""

    costs: pd.DataFrame  # dataset, family, run_id, measured_s, predicted_s, rel_error, ..., probed, session_known
    gains: pd.DataFrame  # dataset, family, setting, config, support, gain, mean, low, high, covered
    top: pd.DataFrame  # dataset, setting, top, clears, logit_ratio, top_ratio, best_gain
    timing_floor: float  # share of seeds within COST_TOLERANCE of their configuration's median time
    timing_floor_one_machine: float  # the same among seeds timed in one machine session

    def figures(self) -> dict[str, float]:
        """The headline numbers: cost error, interval coverage, top pick against logit KD."""
        ran = self.top.dropna(subset=["top_ratio"])
        within = self.costs["rel_error"].abs() <= COST_TOLERANCE
        known = self.costs["probed"] | self.costs["session_known"]  # the run's machine speed known to the model
        return {
            "cost_runs": len(self.costs),
            "cost_median_abs_rel_error": float(self.costs["rel_error"].abs().median()),
            "cost_within_tolerance": float(within.mean()),
            "cost_runs_probed": int(self.costs["probed"].sum()),
            "cost_within_tolerance_probed": float(within[self.costs["probed"]].mean()),  # NaN: none probed
            "cost_runs_machine_known": int(known.sum()),
            "cost_within_tolerance_machine_known": float(within[known].mean()),
            "cost_range_coverage": float(self.costs["in_range"].mean()),
            **overruns(self.costs),
            "cost_runs_cpu_recorded": int(self.costs["cpu_recorded"].sum()),
            "cost_runs_waited": int(self.costs["waited"].sum()),
            "timing_floor_within_tolerance": self.timing_floor,
            "timing_floor_one_machine": self.timing_floor_one_machine,
            "gain_rows": len(self.gains),
            "gain_interval_coverage": float(self.gains["covered"].mean()),
            "settings": len(self.top),
            "settings_top_not_logit": int((~self.top["top_is_logit"]).sum()),
            "settings_top_ran": len(ran),
            "top_mean_ratio": float(ran["top_ratio"].mean()),
            "logit_mean_ratio": float(ran["logit_ratio"].mean()),
        }


def overruns(costs: pd.DataFrame) -> dict[str, float]:
    """How often a held-out run took longer than a ``--budget`` set at its predicted minutes, and than one
    set at its range's top: what keeping picks by the point estimate, or by the range, risks."""
    ranged = costs["high_s"].notna()
    return {
        "cost_over_point": float((costs["measured_s"] > costs["predicted_s"]).mean()),
        "cost_over_range_top": float((costs.loc[ranged, "measured_s"] > costs.loc[ranged, "high_s"]).mean()),
    }


def evaluate_advice(
    runs: pd.DataFrame,
    family_of: Callable[[str], str],
    fidelity: str = "realistic",
    *,
    cost_runs: pd.DataFrame | None = None,
) -> AdviceEvaluation:
    """Hold out each family of ``runs`` in turn (see module docstring); gains at ``fidelity``.

    ``cost_runs`` (default ``runs``) are the runs the cost model is fitted and checked on, per held-out
    family likewise. A run's wall time does not depend on whose test split scored it, so a caller that
    reads gains on each data set's latest split version can still time every version's runs, as
    recommend's cost model, fitted on the whole store, does."""
    runs = cost_columns(runs)
    cost_runs = runs if cost_runs is None else cost_columns(cost_runs)
    families = runs["dataset"].map(family_of)
    at_budget = runs[runs["fidelity"] == fidelity]
    # the model learns from dev gains, as recommend's does; a held-out family's test gains judge it
    gains = observed_gains(at_budget).assign(family=lambda f: f["dataset"].map(family_of))
    tested = observed_gains(at_budget, "test_ratio").assign(family=lambda f: f["dataset"].map(family_of))
    gain_rows, top_rows = [], []
    for family in sorted(set(families)):
        held = families == family
        if held.all() or not (tested["family"] == family).any():
            continue
        model = GainModel.fit(gains[gains["family"] != family])
        gain_rows.append(_interval_rows(model, tested[tested["family"] == family]))
        top_rows.append(_top_rows(model, gains[gains["family"] != family], at_budget[held.loc[at_budget.index]]))
    return AdviceEvaluation(
        costs=_cost_rows(cost_runs, family_of, set(gains["family"])),
        gains=pd.concat(gain_rows, ignore_index=True),
        top=pd.concat(top_rows, ignore_index=True),
        timing_floor=timing_floor(cost_runs),
        timing_floor_one_machine=timing_floor(cost_runs, by_machine=True),
    )


def _cost_rows(runs: pd.DataFrame, family_of: Callable[[str], str], held_out: set[str]) -> pd.DataFrame:
    """Each timed run of a ``held_out`` family, its :func:`~autodistill.advice.cost.run_seconds` beside
    those a cost model fitted without its family predicts, the range it gives them (from the other
    families alone: nested), whether the run recorded its CPU time and by that waited for its cores
    (still checked: a user's machine may be busy too, but the fit leaves such runs out), and whether it
    timed the speed probe (priced at its machine's speed)."""
    families = runs["dataset"].map(family_of)
    rows = []
    for family in sorted(held_out & set(families)):
        held = families == family
        cost = None if held.all() else CostModel.fit(runs[~held], family_of=family_of)
        if cost is None:
            continue
        measured = runs[held & runs["wall_time_s"].notna()]
        seconds = run_seconds(measured).to_numpy()
        predicted, ranges = cost.predict(measured)
        low = np.array([np.nan if r is None else r[0] for r in ranges])
        high = np.array([np.nan if r is None else r[1] for r in ranges])
        rows.append(
            measured[["dataset", "run_id"]].assign(
                measured_s=seconds,
                family=family,
                predicted_s=predicted,
                rel_error=relative_errors(predicted, seconds),
                low_s=low,
                high_s=high,
                in_range=(low <= seconds) & (seconds <= high),
                cpu_recorded=measured.reindex(columns=["cpu_time_s"])["cpu_time_s"].notna(),
                waited=waited(measured),
                probed=probed(measured) > 0,
                session_known=unprobed_sessions(measured).isin(cost.model.levels).to_numpy(),
            )
        )
    return pd.concat(rows, ignore_index=True)


def _interval_rows(model: GainModel, held: pd.DataFrame) -> pd.DataFrame:
    """Each held-out (configuration, setting)'s measured gain beside its predicted interval."""
    estimates = model.estimate_rows(held)
    return held[["dataset", "family", "setting", "config", "gain"]].assign(
        support=[e.support for e in estimates],
        mean=[e.mean for e in estimates],
        low=[e.low for e in estimates],
        high=[e.high for e in estimates],
        covered=[e.low <= g <= e.high for e, g in zip(estimates, held["gain"], strict=True)],
    )


def variance_shares(gains: pd.DataFrame) -> dict[str, float]:
    """The share of the gains' variance that each (configuration, setting) row's configuration explains, that
    its setting explains, and both together (least squares on one-hot levels). A setting's share is a shift of
    every configuration's gain at once: a model of configurations fitted on other data sets cannot foresee it,
    so it bounds how well intervals can be calibrated per family without a measurement on the target."""

    def explained(columns: list[str]) -> float:
        design = pd.get_dummies(gains[columns].astype(str), drop_first=True).astype(float).assign(intercept=1.0)
        coef, *_ = np.linalg.lstsq(design.to_numpy(), gains["gain"].to_numpy(), rcond=None)
        residual = gains["gain"].to_numpy() - design.to_numpy() @ coef
        return float(1 - residual.var() / gains["gain"].var(ddof=0))

    return {
        "configuration": explained(["config"]),
        "setting": explained(["setting"]),
        "both": explained(["config", "setting"]),
    }


def residual_spread(gains: pd.DataFrame, group: pd.Series) -> pd.DataFrame:
    """Per level of ``group`` (aligned with ``gains``' rows, e.g. the task kind or the family): the root mean
    square of the held-out gains' residuals in units of their interval's standard deviation, the mean
    residual, and the coverage. An RMS near 1 everywhere is what a calibrated interval shows; a factor
    known before distilling (a data set's task kind) could rescale the intervals only if its levels
    differ while the families within each level agree."""
    sd = (gains["high"] - gains["low"]) / (2 * LEVEL_Z)
    residual = ((gains["gain"] - gains["mean"]) / sd).rename("residual")
    frame = pd.DataFrame({"residual": residual, "covered": gains["covered"], "group": group.to_numpy()})
    return frame.groupby("group").agg(
        rms=("residual", lambda r: float(np.sqrt((r**2).mean()))),
        mean=("residual", "mean"),
        coverage=("covered", "mean"),
        gains=("residual", "size"),
    )


def _top_rows(model: GainModel, training: pd.DataFrame, held_runs: pd.DataFrame) -> pd.DataFrame:
    """Per held-out setting: the rule's top pick among the configurations the training runs hold,
    its measured test ratio (NaN when the study did not run it there) beside logit KD's."""
    candidates = training.drop_duplicates("config").reset_index(drop=True)
    estimates = model.estimate_rows(candidates)
    best = max(range(len(estimates)), key=lambda k: (estimates[k].low, estimates[k].mean))
    clears = estimates[best].clears
    rows = []
    scored = held_runs.dropna(subset=["test_ratio"]).assign(config=configurations)
    for (dataset, student), setting in scored.groupby(["dataset", "student_name"]):
        logit = setting[is_logit_kd(setting)]["test_ratio"]
        if logit.empty:
            continue
        means = setting[~is_logit_kd(setting)].groupby("config")["test_ratio"].mean()
        top = candidates["config"][best] if clears else "logit KD"
        rows.append(
            {
                "dataset": dataset,
                "student": student,
                "top": top,
                "top_is_logit": not clears,
                "logit_ratio": float(logit.mean()),
                "top_ratio": float(logit.mean()) if not clears else float(means.get(top, np.nan)),
                "best_gain": float(means.max() - logit.mean()) if len(means) else np.nan,
            }
        )
    return pd.DataFrame(rows)


def alone_intervals(
    runs: pd.DataFrame, baselines: pd.DataFrame, family_of: Callable[[str], str], fidelity: str = "realistic"
) -> pd.DataFrame:
    """Per held-out (data set, student): the student trained alone's measured test gain over logit KD
    beside the interval :func:`~autodistill.advice.alone.predicted_alone` gives it from the other
    families' dev ratios (students started alike pooled, as recommend pools them), and whether that
    interval would have made "train alone" the advice there."""
    runs, baselines = runs[runs["fidelity"] == fidelity], baselines[baselines["fidelity"] == fidelity]
    families, base_families = runs["dataset"].map(family_of), baselines["dataset"].map(family_of)
    rows = []
    for family in sorted(set(families)):
        estimate = predicted_alone(runs[families != family], baselines[base_families != family])
        if estimate is None:
            continue
        held = alone_gains(
            runs[families == family].assign(ratio=lambda f: f["test_ratio"]),
            baselines[base_families == family].assign(ratio=lambda f: f["test_ratio"]),
        )
        rows += [
            {
                "family": family,
                "dataset": dataset,
                "student": student,
                "gain": gain,
                "mean": estimate.mean,
                "low": estimate.low,
                "high": estimate.high,
                "covered": estimate.low <= gain <= estimate.high,
                "advised": estimate.clears,
            }
            for (dataset, student), gain in held.items()
        ]
    return pd.DataFrame(rows)


def timing_floor(runs: pd.DataFrame, by_machine: bool = False) -> float:
    """The share of runs within :data:`COST_TOLERANCE` of the median time of the same configuration in
    the same setting (other seeds: the same work on the same split version and device kind): how well a
    run's seconds (:func:`~autodistill.advice.cost.run_seconds`) can be predicted at all on these records.
    ``by_machine``: among seeds timed in one machine session, what is left once the machine is known."""
    keys = runs.assign(config=configurations(runs), seconds=run_seconds(runs))
    same = ["config", "dataset", "student_name", "fidelity", "epochs", "train_examples", "split_version", "device"]
    same += [SESSION] if by_machine else []
    group = keys.groupby([c for c in same if c in keys], dropna=False)
    sizes = group["seconds"].transform("size")
    ratio = keys["seconds"] / group["seconds"].transform("median")
    return float((np.abs(ratio[sizes > 1] - 1) <= COST_TOLERANCE).mean())
