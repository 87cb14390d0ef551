"""What the held-out results say: mean test ratio per arm, win rates, a paired test, where the picks lose.

The unit of comparison is the data set: each arm's runs on a data set are first
averaged per training seed, then over seeds (their spread across seeds is the noise
reported beside every mean), and data sets are then compared pairwise. The paired
test is scipy's Wilcoxon signed-rank test on the per-data-set means, two-sided;
with few data sets it cannot reach small p-values at all (8 data sets: p >= 0.008),
which the report states rather than hides.

Beside the arms' means, the arms a user who runs several configurations would get: the one
with the best dev ratio among them, scored on test (:func:`dev_selected`).

The oracle is no arm: it is the study's best stored run on the data set, chosen by
the score the store has (:data:`autodistill.evaluation.heldout.arms.STORE_SCORE`) at the
study's own budget, shown beside the arms as a ceiling.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from autodistill.advice.alone import alone_gain
from autodistill.advice.gain import OWN_Z, leads_over
from autodistill.evaluation.heldout.arms import TRIAL
from autodistill.evaluation.heldout.protocol import read_rows
from autodistill.evaluation.noise import NO_KD, NOISE_Z, difference_noise, pooled_seed_std

SCORE = "test_ratio"
PICK = "pick"
#: The advice's top pick alone, beside the mean of its top k: what a user who runs only
#: ``recommend``'s first pick gets. Its rows are the picks' rows of rank 1.
TOP_PICK = "pick:1"
#: The student trained alone (no KD), under the arms' budget and seeds.
BASELINE = "baseline"


#: What ``recommend --trial`` advises once its runs are in, scored on test: the student trained alone
#: where it leads logit KD on mean dev ratio beyond :data:`~autodistill.advice.gain.OWN_Z` standard errors
#: and by more than any alternative does (:func:`~autodistill.advice.alone.alone_lead`'s rule), else the
#: trial's alternative with the largest such lead (:func:`~autodistill.advice.gain.leads_over`), else logit KD.
TRIAL_FINAL = "trial:final"


def with_derived_arms(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` and, again under the arm :data:`TOP_PICK`, the picks of rank 1 (none where the rows
    predate ranked picks), and under :data:`TRIAL_FINAL` the runs a trial's rule keeps (:func:`trial_final`)."""
    extra = [trial_final(rows)]
    if "rank" in rows:
        extra.append(rows[(rows["arm"] == PICK) & (rows["rank"] == 1)].assign(arm=TOP_PICK))
    extra = [frame for frame in extra if not frame.empty]
    return pd.concat([rows, *extra], ignore_index=True) if extra else rows


def trial_final(rows: pd.DataFrame) -> pd.DataFrame:
    """Per data set with :data:`~autodistill.evaluation.heldout.arms.TRIAL` rows, the runs of what a trial
    then advises (:data:`TRIAL_FINAL`; a trial runs the student alone beside logit KD too, here the
    ``baseline`` arm's runs), chosen on dev ratios alone."""
    runs = rows[rows["arm"].isin([TRIAL, LOGIT, BASELINE]) & rows["dev_ratio"].notna()]
    finals = []
    for _dataset, held in runs.groupby("dataset"):
        logit = held.loc[held["arm"] == LOGIT, "config"]
        if logit.empty or not (held["arm"] == TRIAL).any():
            continue
        scores = held.drop_duplicates(["arm", "config", "seed"]).rename(columns={"dev_ratio": "ratio"})
        kd, alone = scores[scores["arm"] != BASELINE], scores[scores["arm"] == BASELINE]
        leads = leads_over(kd[["config", "ratio"]], str(logit.iloc[0]))
        best = max(leads, key=lambda lead: lead[1], default=(str(logit.iloc[0]), 0.0, 0.0))
        chosen = kd[kd["config"] == best[0]]
        if len(alone) > 1:
            gain, se = alone_gain(alone["ratio"], kd.loc[kd["config"] == str(logit.iloc[0]), "ratio"])
            chosen = alone if se > 0 and gain > OWN_Z * se and gain > best[1] else chosen
        finals.append(chosen.rename(columns={"ratio": "dev_ratio"}).assign(arm=TRIAL_FINAL))
    return pd.concat(finals, ignore_index=True) if finals else rows.iloc[:0]


#: What a user who runs several configurations does with them: keep the one with the best dev ratio,
#: report its test ratio. Each selected arm, and the arms whose runs it chooses among: the picks
#: and random's k configurations alike, then each with logit KD beside them (k + 1 runs).
DEV_SELECTED = {
    "pick:dev": (PICK,),
    "random:dev": ("random",),
    "pick+logit:dev": (PICK, "default:logit"),
    "random+logit:dev": ("random", "default:logit"),
}
#: The selected arms' comparisons: at equal cost, and the hedged picks against logit KD alone.
DEV_PAIRS = (("pick:dev", "random:dev"), ("pick+logit:dev", "random+logit:dev"), ("pick+logit:dev", "default:logit"))


def dev_selected(rows: pd.DataFrame) -> pd.DataFrame:
    """Data sets x :data:`DEV_SELECTED` arms: per seed, the test ratio of the run with the highest dev
    ratio among the arms' runs, then the mean over seeds; NaN where one of the arms has no scored run
    (a choice among fewer arms would be another arm)."""
    done = rows[rows[SCORE].notna() & rows["dev_ratio"].notna()]
    columns = {}
    for name, arms in DEV_SELECTED.items():
        runs = done[done["arm"].isin(arms)]
        complete = runs.groupby(["dataset", "seed"])["arm"].transform("nunique") == len(arms)
        runs = runs[complete]
        best = runs.loc[runs.groupby(["dataset", "seed"])["dev_ratio"].idxmax()]
        columns[name] = best.groupby("dataset")[SCORE].mean()
    return pd.DataFrame(columns).reindex(sorted(set(rows["dataset"]))).rename_axis("dataset")


def arm_means(rows: pd.DataFrame, score: str = SCORE) -> pd.DataFrame:
    """Per (data set, arm): mean score over seeds of the per-seed means, its standard deviation across
    seeds (NaN with one seed) and the number of finished runs. The oracle is left out; the top pick
    is an arm of its own (:data:`TOP_PICK`)."""
    rows = with_derived_arms(rows)
    done = rows[(rows["arm"] != "oracle") & rows[score].notna()]
    per_seed = done.groupby(["dataset", "arm", "seed"], as_index=False)[score].mean()
    grouped = per_seed.groupby(["dataset", "arm"])[score]
    means = grouped.agg(mean="mean", seed_sd="std").reset_index()
    counts = done.groupby(["dataset", "arm"]).size().rename("runs").reset_index()
    merged = means.merge(counts, on=["dataset", "arm"])
    rank = {arm: k for k, arm in enumerate(arm_order(list(merged["arm"].unique())))}
    ordered = merged.sort_values(["dataset", "arm"], key=lambda c: c.map(rank) if c.name == "arm" else c, kind="stable")
    return ordered.reset_index(drop=True)


def arm_order(arms: Sequence[str]) -> list[str]:
    """The order arms are shown in: the picks, a trial's final pick, random, the defaults, the no-KD
    baseline, a trial's alternatives."""
    order = [PICK, TOP_PICK, TRIAL_FINAL, "random", *sorted(a for a in arms if a.startswith("default:")), BASELINE,
             TRIAL]  # fmt: skip
    return [a for a in order if a in set(arms)]


def over_datasets(table: pd.DataFrame) -> pd.DataFrame:
    """Per column of a data set x arm table: the mean over data sets and how many data sets have it."""
    return pd.DataFrame(
        {"arm": table.columns, "mean": table.mean().to_numpy(), "datasets": table.notna().sum().to_numpy()}
    )


def wide(means: pd.DataFrame) -> pd.DataFrame:
    """Data sets as rows, arms as columns (in :func:`arm_order`), mean score in the cells."""
    table = means.pivot(index="dataset", columns="arm", values="mean")
    return table[arm_order(list(table.columns))]


def compare(table: pd.DataFrame, other: str, arm: str = PICK) -> dict[str, object]:
    """``arm`` (the picks) against ``other`` over the data sets both have: wins, losses, win rate, mean
    difference and the Wilcoxon signed-rank p-value (NaN below two differing pairs)."""
    pairs = table[[arm, other]].dropna()
    diff = pairs[arm] - pairs[other]
    nonzero = diff[diff != 0]
    p = float(stats.wilcoxon(pairs[arm], pairs[other]).pvalue) if len(nonzero) >= 2 else math.nan
    return {
        "against": other,
        "datasets": len(pairs),
        "wins": int((diff > 0).sum()),
        "losses": int((diff < 0).sum()),
        "ties": int((diff == 0).sum()),
        "win_rate": float((diff > 0).mean()) if len(pairs) else math.nan,
        "mean_diff": float(diff.mean()) if len(pairs) else math.nan,
        "wilcoxon_p": p,
    }


LOGIT = "default:logit"
#: The cost target: the top pick's median wall time at most this many times logit KD's.
COST_TARGET = 2.0
TOP_COLUMNS = [
    "dataset", "top pick", "seeds", "top", "logit KD", "difference", "noise", "verdict", "top s", "logit s", "cost x",
    "device",
]  # fmt: skip


def top_against_logit(rows: pd.DataFrame, sampling: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Per data set, the top pick beside logit KD under the study's noise model
    (:mod:`autodistill.evaluation.noise`): the difference of their means over seeds, the noise of that
    difference (the seeds' spread pooled over this data set's arms run with several seeds, and the test
    split's ``sampling`` error in ratio units, where known), whether it is beyond :data:`NOISE_Z` times that
    noise, each arm's median wall seconds and the devices its arms trained on (a cost ratio is read within one
    data set, on the device its runs share). A top pick that is logit KD is the same runs: no difference."""
    sampling = sampling or {}
    for column in ("wall_seconds", "device"):  # results written before runs were timed, or named their device
        if column not in rows:
            rows = rows.assign(**{column: math.nan})
    out = []
    for dataset, held in _scored(rows).groupby("dataset"):
        top, logit = held[held["arm"] == TOP_PICK], held[held["arm"] == LOGIT]
        if top.empty or logit.empty:
            continue
        difference, noise, seeds, verdict = _paired(held, top, logit, sampling.get(str(dataset), math.nan))
        top_s, logit_s = top["wall_seconds"].median(), logit["wall_seconds"].median()
        devices = ", ".join(sorted(set(held["device"].dropna().astype(str)))) or "unknown"
        out.append([dataset, top["config"].iloc[0], seeds, top[SCORE].mean(), logit[SCORE].mean(), difference,
                    noise, verdict, top_s, logit_s, top_s / logit_s, devices])  # fmt: skip
    return pd.DataFrame(out, columns=TOP_COLUMNS)


def _scored(rows: pd.DataFrame) -> pd.DataFrame:
    """The arms' scored rows with the derived arms, the oracle left out."""
    return with_derived_arms(rows[rows["arm"] != "oracle"].dropna(subset=[SCORE]))


def _paired(
    held: pd.DataFrame, arm: pd.DataFrame, other: pd.DataFrame, sampling: float, same_text: str = "is logit KD"
) -> tuple[float, float, int, str]:
    """``arm``'s mean test ratio minus ``other``'s on one data set (``held``: all its scored rows), the noise
    of that difference (the seeds' spread pooled over the data set's configurations, and the test split's
    ``sampling`` error counted as if the two were independent, which overstates it), the fewer seeds of
    the two, and the verdict. Two arms of the same runs differ by nothing: their verdict is ``same_text``."""
    same = set(arm["config"].fillna(NO_KD)) == set(other["config"].fillna(NO_KD))
    seeds = (arm["seed"].nunique(), other["seed"].nunique())
    spread = held.assign(configuration=held["config"].fillna(NO_KD), reported_ratio=held[SCORE])
    noise = difference_noise(pooled_seed_std(spread.drop_duplicates(["config", "seed"]))[0], sampling, seeds)
    difference = float(arm[SCORE].mean() - other[SCORE].mean())
    return difference, noise, min(seeds), same_text if same else _verdict(difference, noise)


#: The advice's choices held against both defaults (logit KD and the student trained alone).
CHOICE_ARMS, DEFAULT_ARMS = (TOP_PICK, TRIAL_FINAL), (LOGIT, BASELINE)


def against_defaults(rows: pd.DataFrame, sampling: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Per data set, the top pick (and a trial's final pick, where one ran) against logit KD and against the
    no-KD baseline: difference of mean test ratios, its noise (:func:`_paired`) and the verdict."""
    sampling = sampling or {}
    out = []
    for dataset, held in _scored(rows).groupby("dataset"):
        for arm in CHOICE_ARMS:
            for other in DEFAULT_ARMS:
                mine, theirs = held[held["arm"] == arm], held[held["arm"] == other]
                if mine.empty or theirs.empty:
                    continue
                sampled = sampling.get(str(dataset), math.nan)
                difference, noise, seeds, verdict = _paired(held, mine, theirs, sampled, "the same runs")
                config = mine["config"].iloc[0]
                out.append([dataset, arm, config, other, seeds, mine[SCORE].mean(), theirs[SCORE].mean(), difference,
                            noise, verdict])  # fmt: skip
    columns = ["dataset", "arm", "config", "against", "seeds", "arm ratio", "default ratio", "difference", "noise",
               "verdict"]  # fmt: skip
    return pd.DataFrame(out, columns=columns)


def _verdict(difference: float, noise: float) -> str:
    if not math.isfinite(noise):
        return "noise unknown (one seed)"
    if abs(difference) <= NOISE_Z * noise:
        return "within noise"
    return "above" if difference > 0 else "below"


def top_targets(top: pd.DataFrame) -> pd.DataFrame:
    """The advice's held-out targets, read off :func:`top_against_logit`: the top pick's mean at least logit
    KD's, below it beyond the noise nowhere, and its wall time (the median over data sets of its median
    over logit KD's) within :data:`COST_TARGET` times logit's."""
    if top.empty:
        return pd.DataFrame(columns=["target", "measured", "met"])
    cost = float(top["cost x"].median())
    below = top.loc[top["verdict"] == "below", "dataset"].tolist()
    rows = [
        ["top pick's mean >= logit KD's", f"{top['top'].mean():.3f} vs {top['logit KD'].mean():.3f}",
         top["top"].mean() >= top["logit KD"].mean()],
        [f"top pick below logit KD beyond {NOISE_Z:g} SE nowhere", ", ".join(below) or "nowhere", not below],
        [f"top pick's wall time <= {COST_TARGET:g}x logit KD's (median over data sets)", f"{cost:.2f}x",
         cost <= COST_TARGET],
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["target", "measured", "met"])
    return frame.assign(met=frame["met"].map({True: "yes", False: "no"}))


def losses(table: pd.DataFrame) -> pd.DataFrame:
    """Every (data set, arm) whose mean beats the picks', largest gap first: where the picks lose."""
    others = [c for c in table.columns if c not in (PICK, TOP_PICK)]
    long = table.reset_index().melt(id_vars=["dataset", PICK], value_vars=others, var_name="arm", value_name="ratio")
    long["gap"] = long["ratio"] - long[PICK]
    lost = long[long["gap"] > 0].sort_values("gap", ascending=False, kind="stable")
    return lost.rename(columns={PICK: "pick"})[["dataset", "arm", "ratio", "pick", "gap"]].reset_index(drop=True)


def all_tied(table: pd.DataFrame) -> list[str]:
    """Data sets where every arm that ran has the same mean: whatever the pipeline, the student learned
    the same answer (say, the majority class), so they count as ties and say nothing about the arms.
    Columns that are no arm (the oracle's) and the top pick (a copy of picks' rows) are not compared."""
    arms = table[[c for c in arm_order(list(table.columns)) if c != TOP_PICK]]
    ran = arms.notna().sum(axis=1) > 1
    return [str(d) for d in arms.index[ran & (arms.nunique(axis=1) == 1)]]


#: The held-out targets the advice must meet: the picks' win rate over data sets (and the paired p-value for random).
RANDOM_TARGET, RANDOM_P, DEFAULT_TARGET = 0.75, 0.05, 0.60


def best_default(table: pd.DataFrame) -> str | None:
    """The fixed default with the highest mean over the data sets: the one a user would do best to adopt.
    It is chosen on the same results, which favours it; the picks face the strongest default there is."""
    defaults = [c for c in table.columns if c.startswith("default:")]
    return max(defaults, key=lambda c: (table[c].mean(), c)) if defaults else None


def comparisons(table: pd.DataFrame, arm: str = PICK) -> pd.DataFrame:
    """``arm`` (the picks, or the top pick alone) against random and each default (not the baseline),
    one :func:`compare` row per arm."""
    others = (
        [c for c in table.columns if c not in (PICK, TOP_PICK, TRIAL, TRIAL_FINAL, BASELINE)] if arm in table else []
    )
    return pd.DataFrame([compare(table, other, arm) for other in others])


def targets(compared: pd.DataFrame, best: str | None) -> pd.DataFrame:
    """The two held-out targets, read from the picks' comparisons (:func:`comparisons`) with
    random and with ``best``, the best fixed default (:func:`best_default`); empty without picks."""
    rows = []
    found = compared.set_index("against") if not compared.empty else pd.DataFrame()
    if "random" in found.index:
        got = found.loc["random"]
        met = got["win_rate"] >= RANDOM_TARGET and got["wilcoxon_p"] < RANDOM_P  # a NaN p is no pass
        rows.append(_target(f"above random on >= {RANDOM_TARGET:.0%} of data sets, Wilcoxon p < {RANDOM_P}", got, met))
    if best in found.index:
        got = found.loc[best]
        rows.append(_target(f"above the best fixed default ({best}) on >= {DEFAULT_TARGET:.0%} of data sets", got,
                            got["win_rate"] >= DEFAULT_TARGET))  # fmt: skip
    return pd.DataFrame(rows, columns=["target", "picks won", "wilcoxon_p", "met"])


def _target(text: str, got: pd.Series, met: bool) -> dict[str, object]:
    won = f"{int(got['wins'])}/{int(got['datasets'])}"  # a frame's row holds them as floats
    return {"target": text, "picks won": won, "wilcoxon_p": got["wilcoxon_p"], "met": "yes" if met else "no"}


def oracle(rows: pd.DataFrame) -> pd.DataFrame:
    """The oracle's test and dev ratio per data set (test is NaN while the store has none)."""
    found = rows[rows["arm"] == "oracle"].set_index("dataset")
    return found[["test_ratio", "dev_ratio", "config"]].rename(columns=lambda c: f"oracle_{c}")


@dataclass(frozen=True)
class HeldoutSummary:
    """The held-out evaluation at a glance; :func:`heldout_markdown` writes it for a study page."""

    means: pd.DataFrame  # per (data set, arm): mean, seed_sd, runs (:func:`arm_means`)
    per_dataset: pd.DataFrame  # data set x arm means, with the oracle's columns
    seed_sd: pd.DataFrame  # data set x arm standard deviation across seeds
    overall: pd.DataFrame  # arm, mean over data sets of the per-data-set means, data sets
    comparisons: pd.DataFrame  # the picks against random and each default, one row per arm
    top_comparisons: pd.DataFrame  # the same for the top pick alone (empty before picks were ranked)
    losses: pd.DataFrame
    targets: pd.DataFrame  # the two held-out targets, measured (:func:`targets`)
    dev_selected: pd.DataFrame  # data set x selected arm, logit KD beside them (:func:`dev_selected`)
    dev_comparisons: pd.DataFrame  # one :func:`compare` row per :data:`DEV_PAIRS` pair, with its arm
    top: pd.DataFrame  # the top pick against logit KD beside the noise, per data set (:func:`top_against_logit`)
    top_targets: pd.DataFrame  # the advice's targets read off it (:func:`top_targets`)
    defaults: pd.DataFrame  # the top pick and a trial's final pick against both defaults (:func:`against_defaults`)


def summarize_heldout(rows: pd.DataFrame, sampling: Mapping[str, float] | None = None) -> HeldoutSummary:
    """All of the report's numbers from the rows of ``results.csv``; ``sampling`` is each data set's
    test-split standard error in ratio units (the study's noise model), where known."""
    means = arm_means(rows)
    table = wide(means)
    sd = means.pivot(index="dataset", columns="arm", values="seed_sd").reindex(columns=table.columns)
    overall = over_datasets(table)
    compared = comparisons(table)
    lost = losses(table) if PICK in table else pd.DataFrame(columns=["dataset", "arm", "ratio", "pick", "gap"])
    goals = targets(compared, best_default(table))
    top = comparisons(table, TOP_PICK)
    selected, selected_compared = _dev_view(rows, table)
    against = top_against_logit(rows, sampling)
    return HeldoutSummary(
        means, table.join(oracle(rows)), sd, overall, compared, top, lost, goals, selected, selected_compared,
        against, top_targets(against), against_defaults(rows, sampling),
    )  # fmt: skip


def _dev_view(rows: pd.DataFrame, table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The selected arms beside logit KD, and their comparisons (both empty without dev ratios)."""
    if "dev_ratio" not in rows:
        return pd.DataFrame(), pd.DataFrame()
    selected = dev_selected(rows)
    if "default:logit" in table:
        selected = selected.join(table["default:logit"])
    selected = selected.dropna(axis=1, how="all")
    pairs = [(arm, other) for arm, other in DEV_PAIRS if {arm, other} <= set(selected.columns)]
    compared = pd.DataFrame([{"arm": arm, **compare(selected, other, arm)} for arm, other in pairs])
    return selected, compared


def _cell(value: object) -> str:
    if isinstance(value, float | np.floating):
        return "-" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def _md_table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _tied_note(per_dataset: pd.DataFrame) -> list[str]:
    tied = all_tied(per_dataset)
    if not tied:
        return []
    return [
        f"Every arm scored the same on {', '.join(tied)}: the student learned the same answer whatever the "
        "pipeline, so these data sets are ties in every comparison below and say nothing about the arms."
    ]


def _seed_spread(seed_sd: pd.DataFrame) -> str:
    """The spread table, or one line where every arm ran one seed (a table of dashes says nothing)."""
    if seed_sd.isna().all().all():
        return (
            "One seed per arm, so no spread across seeds here: read the differences beside the study's "
            "noise floor at this budget (the seed std of repeated runs per data set, on the study page)."
        )
    return "Standard deviation across seeds (the noise beside each difference):\n\n" + _md_table(seed_sd.reset_index())


def heldout_markdown(
    summary: HeldoutSummary, *, heading: str = "## Held-out evaluation: picks against random and defaults"
) -> str:
    """A study page's section (a function the study can include; it computes nothing itself)."""
    per = summary.per_dataset.reset_index()
    parts = [
        heading,
        "Each data set held out in turn: the advice is made without its family's runs, then its top picks, "
        "random configurations, the fixed defaults and the no-KD baseline run under one budget and the same "
        "seeds. Cells: mean test ratio (student / teacher on the test split) over seeds; the oracle is the "
        "study's best stored run there, at the study's budget.",
        _md_table(per),
        *_top_section(summary),
        *_defaults_section(summary),
        *_tied_note(summary.per_dataset),
        _seed_spread(summary.seed_sd),
        "Over data sets (mean of the per-data-set means):",
        _md_table(summary.overall),
        "The picks against each arm (Wilcoxon signed-rank on the per-data-set means, two-sided):",
        _md_table(summary.comparisons) if not summary.comparisons.empty else "No comparison: no picks ran.",
        "The top pick alone (`pick:1`, what running only `recommend`'s first pick gives) against each arm:",
        _md_table(summary.top_comparisons)
        if not summary.top_comparisons.empty
        else "No comparison: these picks were run before their order was recorded.",
        "The held-out targets (the best fixed default is the one with the highest mean here, chosen on these results):",
        _md_table(summary.targets) if not summary.targets.empty else "No targets: no picks ran.",
        *_dev_section(summary),
        "Where the picks lose:",
        _md_table(summary.losses)
        if not summary.losses.empty
        else "Nowhere: the picks' mean is the highest on every data set.",
    ]
    return "\n\n".join(parts) + "\n"


def _top_section(summary: HeldoutSummary) -> list[str]:
    if summary.top.empty:
        return []
    return [
        "The top pick (what `recommend` puts first) against logit KD, per data set: `noise` is the standard "
        "error of their difference under the study's noise model (the seeds' spread here and the test split's "
        f"sampling error), `verdict` whether the difference is beyond {NOISE_Z:g} times it; `top s` and "
        "`logit s` are median wall seconds per run on the `device` its arms trained on (a study run read from "
        "the store ran where the study ran it), so costs compare within a row, not across rows.",
        _md_table(summary.top),
        _md_table(summary.top_targets),
    ]


def _defaults_section(summary: HeldoutSummary) -> list[str]:
    if summary.defaults.empty:
        return []
    below = summary.defaults[summary.defaults["verdict"] == "below"]
    said = ", ".join(f"{r.arm} on {r.dataset} against {r.against}" for r in below.itertuples()) or "nowhere"
    return [
        "The advice's choices against both defaults, logit KD and the student trained alone (`baseline`): "
        "`pick:1` is `recommend`'s first pick, `trial:final` what it advises after `--trial`'s runs on the "
        f"data set (chosen on dev). Below a default beyond {NOISE_Z:g} times the noise: {said}.",
        _md_table(summary.defaults),
    ]


def _dev_section(summary: HeldoutSummary) -> list[str]:
    if summary.dev_comparisons.empty:
        return []
    return [
        "Selected on dev, as a user who runs several configurations would: per data set, the test ratio of "
        "the run with the best dev ratio among the picks (`pick:dev`), among the random configurations "
        "(`random:dev`), and among each with logit KD beside them (`+logit`, one run more). This view was "
        "added after the results above were seen; the runs are the same.",
        _md_table(summary.dev_selected.reset_index()),
        _md_table(over_datasets(summary.dev_selected)),
        _md_table(summary.dev_comparisons),
    ]


def study_section(path: Path, sampling_of: Callable[[str], Mapping[str, float]] | None = None) -> str | None:
    """The held-out section for a study page from a results file, one part per fidelity (a cheap and
    a realistic budget are never pooled); None while there is none (nothing is run here).
    ``sampling_of(student)`` gives :func:`summarize_heldout`'s ``sampling`` for the results' student."""
    rows = read_rows(path) if path.exists() else None
    if rows is None or rows.empty:
        return None
    students = rows["student"].dropna().unique()
    sampling = sampling_of(str(students[0])) if sampling_of is not None and len(students) == 1 else None
    fidelity = rows["fidelity"].fillna("custom budget")  # read_rows always has the column
    if fidelity.nunique() == 1:
        return heldout_markdown(summarize_heldout(rows, sampling))
    return "\n".join(
        heldout_markdown(
            summarize_heldout(rows[fidelity == name], sampling), heading=f"## Held-out evaluation at the {name} budget"
        )
        for name in sorted(fidelity.unique())
    )
