"""The study's numbers: what the store holds and the summaries each section of ``docs/study.md`` shows.

Plain functions of the store's runs and trials logs (pandas frames in, frames
out), with no plotting and no prose, so each can be checked on a hand-made store.
The runs passed in are random search and the study's fixed list, never AutoDistiller's
Figure 4 picks (``study.report`` leaves those out), labelled by setting (:func:`by_setting`):
a student at one budget.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from autodistill import BUDGET_FIELDS, COMPONENTS, DEFAULT_SPACE, inter_level, pipeline_label
from autodistill.evaluation.importance import component_levels, fanova_importance
from autodistill.store.schema import fidelity_of
from autodistill.sweep.study_plan import FIDELITIES
from engine import AutodistillError, TrainSettings

TOP_K = 5
#: The intermediate-loss levels of the search space, α folded in (Figure 3's bars).
INTER_LEVELS = tuple(inter_level(loss, alpha) for loss, alpha in DEFAULT_SPACE.inter_choices())


# -- settings: a student at one budget ------------------------------------------------------------------


def setting(student: str, fidelity: object) -> str:
    """A student at one study budget as the tables name it (``tiny @ realistic``); no fidelity: the student."""
    return f"{student} @ {fidelity}" if isinstance(fidelity, str) and fidelity else student


def trial_fidelities(trials: pd.DataFrame) -> pd.Series:
    """Each trial's fidelity; one logged before the trials log had the column gets the runs' migration
    rule (:func:`autodistill.store.schema.fidelity_of`) on its budget, so a trial and its run agree."""
    logged = trials["fidelity"] if "fidelity" in trials else pd.Series(None, index=trials.index, dtype=object)
    budgets = [json.loads(b) for b in trials["budget_json"]]
    derived = [fidelity_of(b.get("max_train_examples"), b.get("max_length", 0)) for b in budgets]
    return logged.where(logged.notna(), pd.Series(derived, index=trials.index, dtype=object))


def by_setting(runs: pd.DataFrame, trials: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Runs and trials relabelled so that one student at two budgets is two groups (``tiny @ cheap`` and
    ``tiny @ realistic``): a 24-step run and a plateaued one are not pooled in any table. Runs at a
    fidelity the study no longer reports (``realistic-lr2e-3``, kept for the record) are left out;
    ``student_model`` keeps the model's own name for what depends on the architecture alone (latency).
    A store whose runs carry no fidelity at all has one setting per student, named as the student."""
    run_fidelity = runs["fidelity"] if "fidelity" in runs else pd.Series(None, index=runs.index, dtype=object)
    if run_fidelity.isna().all():
        return runs.assign(student_model=runs["student_name"]), trials.assign(student_model=trials["student_name"])
    return _labelled(runs, run_fidelity), _labelled(trials, trial_fidelities(trials))


def _labelled(frame: pd.DataFrame, fidelity: pd.Series) -> pd.DataFrame:
    kept = fidelity.isna() | fidelity.isin(FIDELITIES)
    frame, fidelity = frame[kept], fidelity[kept]
    labels = [setting(student, f) for student, f in zip(frame["student_name"], fidelity, strict=True)]
    return frame.assign(student_model=frame["student_name"], student_name=labels, fidelity=fidelity)


def dropped_fidelities(runs: pd.DataFrame) -> dict[str, int]:
    """Runs per fidelity that :func:`by_setting` leaves out, for the page to say so."""
    if "fidelity" not in runs:
        return {}
    dropped = runs.loc[runs["fidelity"].notna() & ~runs["fidelity"].isin(FIDELITIES), "fidelity"]
    return {str(name): int(count) for name, count in dropped.value_counts().sort_index().items()}


# -- what the store holds -------------------------------------------------------------------------------


def student_order(runs: pd.DataFrame) -> list[str]:
    """Students from the largest to the smallest (by parameters), the order of the paper's Table 3."""
    params = runs.groupby("student_name")["student_params"].max()
    return sorted(params.index, key=lambda name: (-params[name], name))


def student_label(runs: pd.DataFrame, student: str) -> str:
    """The student's name with its parameter count in millions, as the tables and plots label it."""
    params = runs.loc[runs["student_name"] == student, "student_params"].max()
    return f"{student} ({params / 1e6:.1f}M)"


def runs_per_student(runs: pd.DataFrame) -> pd.DataFrame:
    """Run counts, one row per data set and one column per student, plus totals."""
    table = pd.crosstab(runs["dataset"], runs["student_name"], margins=True, margins_name="all")
    return table.reindex(columns=[*student_order(runs), "all"])


def main_budgets(trials: pd.DataFrame) -> pd.Series:
    """Each (data set, student)'s most common trial budget (JSON, as logged): the one its sweep ran under.

    Budgets are fixed per (data set, student), not per data set, so that a student
    trained from scratch can train longer than a teacher-layer subset.
    """
    return trials.groupby(["dataset", "student_name"])["budget_json"].agg(lambda column: column.value_counts().index[0])


def budgets(trials: pd.DataFrame) -> pd.DataFrame:
    """Per (data set, student): trials logged, distinct budgets among them, and the main budget's fields."""
    rows = []
    for (dataset, student), main in main_budgets(trials).items():
        mine = trials[(trials["dataset"] == dataset) & (trials["student_name"] == student)]
        budget = json.loads(main)
        rows.append(
            {
                "dataset": dataset,
                "student": student,
                "trials": len(mine),
                "budgets": mine["budget_json"].nunique(),
                **{name: budget.get(name) for name in BUDGET_FIELDS},
            }
        )
    # object dtype keeps integers integers and an absent cap None (a float column would print 256.000).
    return pd.DataFrame(rows, dtype=object).set_index(["dataset", "student"])


def sweep_setting(trials: pd.DataFrame, dataset: str, student: str) -> tuple[str, TrainSettings]:
    """The teacher and budget of ``student``'s sweep on ``dataset`` (its most common trial budget), to compare under.

    Without trials of that (data set, student), the student's most common budget
    over the store is taken, and without any trials of the student the store's most
    common; a store without trials has no budget to compare under and is refused.
    """
    if trials.empty:
        raise AutodistillError("the store's trials log is empty: no sweep budget to run Figure 4 under")
    theirs = trials[trials["student_name"] == student]
    mine = theirs[theirs["dataset"] == dataset]
    mine = mine if not mine.empty else theirs if not theirs.empty else trials
    main = mine["budget_json"].value_counts().index[0]
    teacher = json.loads(mine[mine["budget_json"] == main]["config_json"].iloc[0])["teacher"]
    return teacher, TrainSettings(**json.loads(main))


def reported_ratio(frame: pd.DataFrame) -> pd.Series:
    """The ratio to report: on the test split where a run (or trial) has one, else on dev ("dev only":
    runs stored before the test split was read). Choosing a run is always done on dev (``ratio``)."""
    if "test_ratio" not in frame:
        return frame["ratio"]
    return frame["test_ratio"].where(frame["test_ratio"].notna(), frame["ratio"])


def scored_on(frame: pd.DataFrame) -> str:
    """Which split the reported ratios of these rows are on: ``test``, ``dev only`` or ``test and dev``."""
    tested = frame["test_ratio"].notna() if "test_ratio" in frame else pd.Series(False, index=frame.index)
    return "test" if tested.all() else "dev only" if not tested.any() else "test and dev"


def no_kd_ratios(trials: pd.DataFrame) -> pd.Series:
    """Each (data set, student)'s no-KD baseline ratio (:func:`reported_ratio`) under its main budget."""
    main = main_budgets(trials)
    done = trials[(trials["kind"] == "finetune") & (trials["status"] == "done")]
    keys = pd.MultiIndex.from_arrays([done["dataset"], done["student_name"]])
    done = done[done["budget_json"].to_numpy() == main.reindex(keys).to_numpy()]
    return done.assign(reported=reported_ratio(done)).groupby(["dataset", "student_name"])["reported"].mean()


def kd_summary(runs: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """Per data set and student: teacher dev score, runs, no-KD ratio, the best KD run's ratio (chosen on
    dev, reported as :func:`reported_ratio`), the mean KD ratio, how many runs beat the no-KD baseline,
    the best run's configuration and which split the ratios are on."""
    levels = component_levels(runs)
    baseline = no_kd_ratios(trials) if not trials.empty else pd.Series(dtype=float)
    rows = []
    for (dataset, student), group in runs.groupby(["dataset", "student_name"], sort=True):
        no_kd = float(baseline.get((dataset, student), math.nan))
        best, reported = group["ratio"].idxmax(), reported_ratio(group)
        rows.append(
            {
                "dataset": dataset,
                "student": student,
                "teacher score": group["teacher_score"].mean(),
                "runs": len(group),
                "no-KD ratio": no_kd,
                "best KD ratio": reported[best],
                "mean KD ratio": reported.mean(),
                "runs above no-KD": int((reported > no_kd).sum()) if not math.isnan(no_kd) else None,
                "best configuration": pipeline_label(*levels.loc[best, list(COMPONENTS)]),
                "scored on": scored_on(group),
            }
        )
    return pd.DataFrame(rows).set_index(["dataset", "student"])


# -- headline: the figures the README quotes ------------------------------------------------------------


def headline(
    runs: pd.DataFrame, trials: pd.DataFrame, speedups: Mapping[tuple[str, str], float] | None = None
) -> pd.DataFrame:
    """One row per data set: its best run of ours by dev ratio, reported as :func:`reported_ratio`
    (teacher, student, configuration, the split it is scored on), that
    student's no-KD ratio there (:func:`no_kd_ratios`), both models' parameters, the parameter reduction
    (teacher / student) and the student's CPU speed-up over the teacher, looked up in ``speedups``
    ((teacher, student) -> teacher / student latency; NaN where absent). Ties go to the smaller run id."""
    levels = component_levels(runs)
    baseline = no_kd_ratios(trials) if not trials.empty else pd.Series(dtype=float)
    speedups = speedups or {}
    ranked = runs.sort_values(["ratio", "run_id"], ascending=[False, True], kind="stable")
    rows = []
    for dataset, group in ranked.groupby("dataset", sort=True):
        best = group.iloc[0]
        model = best.get("student_model", best["student_name"])
        teacher_params, student_params = float(best["teacher_params"]), float(best["student_params"])
        rows.append(
            {
                "dataset": dataset,
                "best KD ratio": float(reported_ratio(group.iloc[[0]]).iloc[0]),
                "scored on": scored_on(group.iloc[[0]]),
                "teacher": best["teacher_name"],
                "student": best["student_name"],
                "configuration": pipeline_label(*levels.loc[group.index[0], list(COMPONENTS)]),
                "no-KD ratio": float(baseline.get((dataset, best["student_name"]), math.nan)),
                "teacher params": teacher_params,
                "student params": student_params,
                "parameter reduction": teacher_params / student_params,
                "CPU speed-up": float(speedups.get((best["teacher_name"], model), math.nan)),
            }
        )
    return pd.DataFrame(rows).set_index("dataset")


# -- Figures 2 and 6: component importance --------------------------------------------------------------


def component_importance(runs: pd.DataFrame) -> pd.DataFrame:
    """fANOVA importance per (teacher, student) group and data set, then averaged
    (:func:`autodistill.evaluation.importance.fanova_importance`, Figure 2's setting).

    Each student is its own group, so a student's ratio level, whatever the
    configuration, is no variance the four components must explain.
    """
    return fanova_importance(runs)


# -- Figure 3: intermediate losses in the top-5 runs ---------------------------------------------------


def _level_columns(found: Sequence[str]) -> list[str]:
    return [*INTER_LEVELS, *sorted(set(found) - set(INTER_LEVELS))]


def top_k_losses(runs: pd.DataFrame, k: int = TOP_K) -> pd.DataFrame:
    """How often each intermediate-loss level is among the ``k`` best runs (by ratio) of each
    (data set, student). Groups of ``k`` runs or fewer are left out: their "top k" selects nothing."""
    ranked = runs.assign(level=component_levels(runs)["inter_loss"])
    ranked = ranked[ranked.groupby(["dataset", "student_name"])["ratio"].transform("size") > k]
    if ranked.empty:
        raise AutodistillError(f"no data set and student has more than {k} runs; nothing to rank")
    # Ties are broken by run id, so the counts do not depend on the store's row order.
    ranked = ranked.sort_values(["ratio", "run_id"], ascending=[False, True], kind="stable")
    top = ranked.groupby(["dataset", "student_name"], sort=True).head(k)
    counts = pd.crosstab([top["dataset"], top["student_name"]], top["level"])
    return counts.reindex(columns=_level_columns(ranked["level"]), fill_value=0)


def chance_top_k(runs: pd.DataFrame, k: int = TOP_K) -> pd.DataFrame:
    """The counts :func:`top_k_losses` would give on average if the top ``k`` were drawn at random
    from the group's runs (k x each level's share), to read Figure 3's counts against."""
    levels = component_levels(runs)["inter_loss"]
    shares = pd.crosstab([runs["dataset"], runs["student_name"]], levels, normalize="index") * k
    return shares.reindex(columns=_level_columns(levels), fill_value=0.0)


# -- Table 3: augmentation by student size --------------------------------------------------------------


def is_augmented(runs: pd.DataFrame) -> pd.Series:
    """Whether a run used any augmentation: a text augmenter, mixup, or both."""
    return component_levels(runs)["augmentation"] != "none"


def augmentation_effect(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and best ratio with and without augmentation, per student (largest first) and data set.

    Each student's ``all`` row averages its data sets that have runs both ways, so
    every data set counts alike (Table 3's AVG column); ``gain`` is mean with minus
    mean without.
    """
    augmented = is_augmented(runs)
    rows = []
    for student in student_order(runs):
        mine = runs["student_name"] == student
        per_dataset = []
        for dataset in sorted(runs.loc[mine, "dataset"].unique()):
            group = mine & (runs["dataset"] == dataset)
            with_aug, without = runs.loc[group & augmented, "ratio"], runs.loc[group & ~augmented, "ratio"]
            per_dataset.append(
                {
                    "student": student,
                    "dataset": dataset,
                    "runs w/o": len(without),
                    "runs with": len(with_aug),
                    "mean w/o": without.mean(),
                    "mean with": with_aug.mean(),
                    "best w/o": without.max(),
                    "best with": with_aug.max(),
                }
            )
        both = pd.DataFrame([r for r in per_dataset if r["runs w/o"] and r["runs with"]])
        overall: dict[str, Any] = {"student": student, "dataset": "all"}
        for column in ("runs w/o", "runs with"):
            overall[column] = int(both[column].sum()) if not both.empty else 0
        for column in ("mean w/o", "mean with", "best w/o", "best with"):
            overall[column] = both[column].mean() if not both.empty else math.nan
        rows += [*per_dataset, overall]
    table = pd.DataFrame(rows)
    table.insert(6, "gain", table["mean with"] - table["mean w/o"])
    return table.set_index(["student", "dataset"])


# -- Figure 5: leave-one-dataset-out --------------------------------------------------------------------


def lodo_spearmans(table: pd.DataFrame) -> pd.Series:
    """The held-out data sets' defined Spearmans in :func:`~autodistill.evaluation.lodo.evaluate_lodo`'s table."""
    return table[table["dataset"] != "mean"].dropna(subset=["spearman"])["spearman"]
