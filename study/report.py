"""This project's Distiller study, written up: ``docs/study.md`` from a runs store in one command (issue 7).

``autodistill study report`` turns the runs of ``autodistill sweep`` (source
``ours``) into a markdown page with tables and PNG plots: a headline section
with the figures the README quotes (:func:`headline`: each data set's best
ratio, with the student's parameter reduction and CPU speed-up over the
teacher; the leave-one-dataset-out mean; top 5 against random), then one
section per analysis of the paper (He et al., 2021, ``distiller-paper.md``):

* component importance by fANOVA (§5.1, Figures 2 and 6), through
  :mod:`autodistill.importance`;
* the intermediate losses in each data set's top-5 runs (§5.2, Figure 3, Table 9);
* the augmentation effect by student size (§5.3, Table 3);
* leave-one-dataset-out Spearman per data set (§5.4, Figure 5), through
  :func:`autodistill.evaluate.evaluate_lodo`;
* AutoDistiller's top 5 against 5 random configurations on two held-out data
  sets, actual ratios (§5.4, Figure 4), through :mod:`autodistill.recommend`.

Every number on the page is computed from the store when the page is written,
but for the headline's CPU latencies, which are timed then on the machine that
writes it (:func:`cpu_latencies`, one thread, batch 1, untrained models); the
paper's numbers appear only as quoted comparisons, each with its section, figure
or table. Each section ends with a paragraph on where our runs agree with the
paper whose wording is chosen from the computed values, so that it stays
true whatever the runs say.

**Figure 4's picks are frozen in a file.** The default predictor (linear, see
:mod:`autodistill.predictor`) is deterministic for a given training table, but
the table grows with every sweep trial, so the same command a day later can pick
other configurations; the actual ratios must belong to the picks that were run.
The first ``--run-missing`` therefore saves each held-out data set's
recommendation next to the page (``<out stem>/fig4-picks-<data set>.json``, the
``autodistill recommend`` format) and every later report reuses it; delete the
file to pick again. Without ``run_missing`` nothing is trained or run: a data set
without a picks file, or whose trials the store lacks, gets a "not run yet" note
with the command that runs them (trial ids are deterministic hashes, see
:func:`autodistill.sweep.trial_id`, so the lookup needs no run).

The runs of AutoDistiller's picks are not random search: they are left out of
the random-search sections (the store summary, Figures 2 and 3, Table 3) so that
the predictor's preferences do not leak into what it is compared with. The
leave-one-dataset-out section evaluates every stored run, as ``autodistill
evaluate`` does.
"""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from autodistill.bridge import BUDGET_FIELDS
from autodistill.evaluate import PAPER_MEAN_SPEARMAN, evaluate_lodo
from autodistill.importance import COMPONENTS, PAIRS, component_levels, fanova_importance, pair_name, plot_importance
from autodistill.predictor import PredictorSettings
from autodistill.recommend import DEFAULT_STUDENT, Recommendation, load_recommendation, recommend
from autodistill.space import DEFAULT_SPACE, inter_level
from autodistill.store import RunStore
from autodistill.sweep import TrialFn
from engine.config import TrainSettings
from engine.data import load_task
from engine.errors import AutodistillError
from engine.paths import META_DATA
from study.figure4 import group_stats, run_versus_random, versus_random_results, versus_random_trials

DEFAULT_OUT = META_DATA.parent / "docs" / "study.md"
#: Two catalog data sets for Figure 4 (the paper used BoolQ and cloth, §5.4).
DEFAULT_HOLDOUT = ("wordnet-lexname", "sotu-party")
TOP_K = 5
#: The intermediate-loss levels of the search space, α folded in (Figure 3's bars).
INTER_LEVELS = tuple(inter_level(loss, alpha) for loss, alpha in DEFAULT_SPACE.inter_choices())
#: The paper's Table 9 (Appendix I): MI-α rows among the top-5 rows listed for the 8 GLUE tasks.
PAPER_TABLE9_MI, PAPER_TABLE9_ROWS = 30, 40
_COMPONENT_NAMES = {
    "inter_loss": "intermediate loss",
    "mapping": "layer mapping",
    "pred_loss": "prediction loss",
    "augmentation": "augmentation",
}
_NAMES = {**_COMPONENT_NAMES, **{pair_name(a, b): f"{_COMPONENT_NAMES[a]} x {_COMPONENT_NAMES[b]}" for a, b in PAIRS}}


# -- what the store holds -------------------------------------------------------------------------------


def student_order(runs: pd.DataFrame) -> list[str]:
    """Students from the largest to the smallest (by parameters), the order of the paper's Table 3."""
    params = runs.groupby("student_name")["student_params"].max()
    return sorted(params.index, key=lambda name: (-params[name], name))


def _student_label(runs: pd.DataFrame, student: str) -> str:
    params = runs.loc[runs["student_name"] == student, "student_params"].max()
    return f"{student} ({params / 1e6:.1f}M)"


def runs_per_student(runs: pd.DataFrame) -> pd.DataFrame:
    """Run counts, one row per data set and one column per student, plus totals."""
    table = pd.crosstab(runs["dataset"], runs["student_name"], margins=True, margins_name="all")
    return table.reindex(columns=[*student_order(runs), "all"])


def _main_budgets(trials: pd.DataFrame) -> pd.Series:
    """Each (data set, student)'s most common trial budget (JSON, as logged): the one its sweep ran under.

    Budgets are fixed per (data set, student), not per data set, so that a student
    trained from scratch can train longer than a teacher-layer subset.
    """
    return trials.groupby(["dataset", "student_name"])["budget_json"].agg(lambda column: column.value_counts().index[0])


def budgets(trials: pd.DataFrame) -> pd.DataFrame:
    """Per (data set, student): trials logged, distinct budgets among them, and the main budget's fields."""
    rows = []
    for (dataset, student), main in _main_budgets(trials).items():
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


def no_kd_ratios(trials: pd.DataFrame) -> pd.Series:
    """Each (data set, student)'s no-KD baseline ratio under that (data set, student)'s main budget."""
    main = _main_budgets(trials)
    done = trials[(trials["kind"] == "finetune") & (trials["status"] == "done")]
    keys = pd.MultiIndex.from_arrays([done["dataset"], done["student_name"]])
    done = done[done["budget_json"].to_numpy() == main.reindex(keys).to_numpy()]
    return done.groupby(["dataset", "student_name"])["ratio"].mean()


def _describe(inter: str, mapping: str, pred: str, policy: str) -> str:
    return f"{inter} / {mapping} / {pred} / {policy}"


def kd_summary(runs: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """Per data set and student: teacher score, runs, no-KD ratio, best and mean KD ratio, how many runs
    beat the no-KD baseline, and the best run's configuration."""
    levels = component_levels(runs)
    baseline = no_kd_ratios(trials) if not trials.empty else pd.Series(dtype=float)
    rows = []
    for (dataset, student), group in runs.groupby(["dataset", "student_name"], sort=True):
        no_kd = float(baseline.get((dataset, student), math.nan))
        best = group["ratio"].idxmax()
        rows.append(
            {
                "dataset": dataset,
                "student": student,
                "teacher score": group["teacher_score"].mean(),
                "runs": len(group),
                "no-KD ratio": no_kd,
                "best KD ratio": group["ratio"].max(),
                "mean KD ratio": group["ratio"].mean(),
                "runs above no-KD": int((group["ratio"] > no_kd).sum()) if not math.isnan(no_kd) else None,
                "best configuration": _describe(*levels.loc[best, list(COMPONENTS)]),
            }
        )
    return pd.DataFrame(rows).set_index(["dataset", "student"])


# -- headline: the figures the README quotes ------------------------------------------------------------

#: ``(teacher, student, data set, max length)`` -> the teacher's and the student's CPU milliseconds per example.
LatencyFn = Callable[[str, str, str, int], tuple[float, float]]
#: Dev examples timed per model (the first ones of the split), as the engine's runs do.
LATENCY_EXAMPLES = 16


def headline(
    runs: pd.DataFrame, trials: pd.DataFrame, speedups: Mapping[tuple[str, str], float] | None = None
) -> pd.DataFrame:
    """One row per data set: its best run of ours by ratio (teacher, student, configuration), that
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
        teacher_params, student_params = float(best["teacher_params"]), float(best["student_params"])
        rows.append(
            {
                "dataset": dataset,
                "best KD ratio": float(best["ratio"]),
                "teacher": best["teacher_name"],
                "student": best["student_name"],
                "configuration": _describe(*levels.loc[group.index[0], list(COMPONENTS)]),
                "no-KD ratio": float(baseline.get((dataset, best["student_name"]), math.nan)),
                "teacher params": teacher_params,
                "student params": student_params,
                "parameter reduction": teacher_params / student_params,
                "CPU speed-up": float(speedups.get((best["teacher_name"], best["student_name"]), math.nan)),
            }
        )
    return pd.DataFrame(rows).set_index("dataset")


def _run_max_length(config_json: str) -> int | None:
    return json.loads(config_json).get("budget", {}).get("max_length")


def latency_plan(runs: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """Where each (teacher, student) pair of the runs is timed: latency depends only on the two
    architectures and the sequence length, so once per pair, on the data set with most of the pair's
    runs (ties: the first by name) at the ``max_length`` of that (data set, student)'s main budget (the
    runs' own budget without trials, the engine's default without either)."""
    main = _main_budgets(trials) if not trials.empty else pd.Series(dtype=object)
    rows = []
    for (teacher, student), group in runs.groupby(["teacher_name", "student_name"], sort=True):
        counts = group["dataset"].value_counts()
        dataset = min(counts.index[counts == counts.max()])
        if (dataset, student) in main.index:
            max_length = json.loads(main[(dataset, student)])["max_length"]
        else:
            lengths = group.loc[group["dataset"] == dataset, "config_json"].map(_run_max_length).dropna()
            max_length = int(lengths.mode().iloc[0]) if not lengths.empty else TrainSettings().max_length
        rows.append({"teacher": teacher, "student": student, "measured on": dataset, "max length": int(max_length)})
    return pd.DataFrame(rows).set_index(["teacher", "student"])


def cpu_latencies(teacher: str, student: str, dataset: str, max_length: int) -> tuple[float, float]:
    """The teacher's and the student's CPU milliseconds per single-example forward, by the engine's own
    :func:`engine.pipelines.run.cpu_latency_ms`, on the first dev examples of ``dataset`` cut at ``max_length``.

    The models are built as the engine builds them (:func:`engine.models.zoo.load_task_model` and
    :func:`engine.models.zoo.build_student`) but left untrained: the timing depends on the architecture and the
    tokens only. Torch runs on one thread while timing (restored after), so the figure does not depend on
    how many cores the machine has free.
    """
    task = load_task(dataset)  # first: an unknown data set fails before any model is loaded
    import torch

    from engine.models.encoding import encode_split
    from engine.pipelines.run import cpu_latency_ms
    from engine.models.zoo import build_student, load_task_model, load_tokenizer

    tokenizer = load_tokenizer(teacher)
    dev = encode_split(task.dev.iloc[:LATENCY_EXAMPLES], task.spec, tokenizer, max_length, train=False)
    teacher_model = load_task_model(teacher, task.spec)
    student_model = build_student(student, teacher, task.spec)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        teacher_ms = cpu_latency_ms(teacher_model, dev, tokenizer.pad_token_id, LATENCY_EXAMPLES)
        student_ms = cpu_latency_ms(student_model, dev, tokenizer.pad_token_id, LATENCY_EXAMPLES)
    finally:
        torch.set_num_threads(threads)
    return teacher_ms, student_ms


def measure_latencies(
    plan: pd.DataFrame, latency_fn: LatencyFn, on_status: Callable[[str], None] = lambda _text: None
) -> pd.DataFrame:
    """``plan`` (:func:`latency_plan`) with each pair's teacher and student milliseconds and the speed-up
    (teacher / student); a pair that cannot be timed gets NaNs and its one-line reason under ``error``."""
    rows = []
    for (teacher, student), where in plan.iterrows():
        on_status(f"CPU latency of {teacher} and {student} on {where['measured on']}")
        try:
            teacher_ms, student_ms = latency_fn(teacher, student, where["measured on"], int(where["max length"]))
            error = None
        except AutodistillError as exc:
            teacher_ms, student_ms, error = math.nan, math.nan, str(exc)
        rows.append({"teacher ms": teacher_ms, "student ms": student_ms, "error": error})
    table = plan.assign(**pd.DataFrame(rows, index=plan.index))
    return table.assign(**{"speed-up": table["teacher ms"] / table["student ms"]})


def speedup_map(latencies: pd.DataFrame) -> dict[tuple[str, str], float]:
    """(teacher, student) -> CPU speed-up, for :func:`headline`, from :func:`measure_latencies`' table."""
    return {pair: float(value) for pair, value in latencies["speed-up"].items()}


# -- Figures 2 and 6: component importance --------------------------------------------------------------


def component_importance(runs: pd.DataFrame) -> pd.DataFrame:
    """fANOVA importance per data set (:func:`autodistill.importance.fanova_importance`).

    The sweep runs every configuration with every student, and students differ in
    ratio level whatever the configuration; fANOVA sees only the four components, so
    the target is the ratio minus its (data set, student) mean: the student's level
    drops out, even where some of its trials are missing or failed.
    """
    centred = runs.assign(ratio=runs["ratio"] - runs.groupby(["dataset", "student_name"])["ratio"].transform("mean"))
    return fanova_importance(centred)


def importance_agreement(table: pd.DataFrame) -> str:
    """Figure 2/6's reading on our runs, worded from the numbers."""
    mean = table["mean"]
    components = mean[list(COMPONENTS)]
    pairs = mean[[pair_name(a, b) for a, b in PAIRS]]
    top, top_pair = components.idxmax(), pairs.idxmax()
    datasets = [c for c in table.columns if c != "mean"]
    wins = sum(table.loc[list(COMPONENTS), d].idxmax() == "inter_loss" for d in datasets)
    paper = (
        "The paper finds the intermediate loss the most important component (§5, finding 1; §5.1, Figure 2) "
        "and intermediate loss x layer mapping the most important pair (§5.1, Figure 6)."
    )
    if top == "inter_loss":
        first = f"Here too the intermediate loss has the largest mean share ({components[top]:.2f})"
    else:
        first = (
            f"Unlike the paper, the largest mean share here is the {_NAMES[top]}'s ({components[top]:.2f}); "
            f"the intermediate loss's is {components['inter_loss']:.2f}"
        )
    first += f"; it is the top component on {wins} of {len(datasets)} data set(s)."
    target = pair_name("inter_loss", "mapping")
    if top_pair == target:
        second = f"The top pair is also {_NAMES[target]} ({pairs[target]:.2f}), as in the paper."
    else:
        second = (
            f"The top pair is {_NAMES[top_pair]} ({pairs[top_pair]:.2f}), not the paper's {_NAMES[target]} "
            f"({pairs[target]:.2f})."
        )
    return f"{paper} {first} {second}"


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


def top_k_agreement(counts: pd.DataFrame, chance: pd.DataFrame) -> str:
    """Figure 3's reading on our runs (MI-α's share of the top-k slots against chance), worded from the numbers."""
    chance = chance.loc[counts.index]
    mi = [c for c in counts.columns if c.startswith("mi-")]
    slots = int(counts.to_numpy().sum())
    mi_count = int(counts[mi].to_numpy().sum())
    mi_chance = float(chance[mi].to_numpy().sum()) / slots
    families = counts.T.groupby(lambda level: "mi" if level.startswith("mi-") else level).sum().T.sum()
    others = families.drop("mi")
    paper = (
        "In the paper MI-α appears in the top-5 configurations more often than every other intermediate loss "
        f"(§5.2, Figure 3); its Table 9 (Appendix I) lists MI-α in {PAPER_TABLE9_MI} of the {PAPER_TABLE9_ROWS} "
        "top-5 rows of the 8 GLUE tasks."
    )
    ours = (
        f"Here MI-α (any α) fills {mi_count} of {slots} top-5 slots ({mi_count / slots:.0%}), against "
        f"{mi_chance:.0%} expected if the top 5 were drawn at random from the runs (MI-α is {len(mi)} of the "
        f"{len(counts.columns)} levels). "
    )
    if mi_count > others.max():
        ours += f"It is the most frequent intermediate loss, as in the paper (next: {others.idxmax()}, {others.max()})."
    else:
        ours += (
            f"Unlike the paper, it is not the most frequent: {others.idxmax()} fills {others.max()} slots to "
            f"MI-α's {mi_count}."
        )
    excess = counts.sum() - chance.sum()
    expected = mi_chance * slots
    # Within 10 % of the expected count is what a random top 5 gives, not a preference.
    relation = "above" if mi_count > 1.1 * expected else "below" if mi_count < 0.9 * expected else "about at"
    ours += (
        f" MI-α's {mi_count} slots are {relation} chance ({expected:.1f} expected); the level most "
        "over-represented against chance is "
        f"{excess.idxmax()} ({counts[excess.idxmax()].sum()} slots, {chance[excess.idxmax()].sum():.1f} expected)."
    )
    return f"{paper} {ours}"


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


def augmentation_agreement(effect: pd.DataFrame, params: pd.Series) -> str:
    """Table 3's reading on our runs, worded from the numbers; ``params`` maps student to parameter count."""
    gains = effect.xs("all", level="dataset")["gain"].dropna()
    paper = (
        "The paper finds that augmentation generally helps and helps small students most (§5.3, Table 3: "
        "average gains of +4.4 points for BERT_MINI (11M) and +2.9 for BERT_TINY (4M) against -1.0 for "
        "TinyBERT_6 (67M); there one policy, CA+RA+mixup, against none, on CoLA, MRPC, RTE and STS-B)."
    )
    if gains.empty:
        return f"{paper} No student here has runs both with and without augmentation on one data set yet."
    helped = int((gains > 0).sum())
    ours = (
        f"Here augmented runs (any text augmenter or mixup, against none, over random configurations) have a "
        f"higher mean ratio for {helped} of {len(gains)} student(s)"
    )
    ours += ", as in the paper." if helped == len(gains) else (", unlike the paper." if helped == 0 else ", in part.")
    if len(gains) > 1:
        smallest, largest = min(gains.index, key=params.get), max(gains.index, key=params.get)
        relation = "in line with" if gains[smallest] > gains[largest] else "unlike"
        ours += (
            f" The smallest student, {smallest}, gains {gains[smallest]:+.3f} in ratio against {gains[largest]:+.3f} "
            f"for the largest, {largest}: {relation} the paper's finding that small students benefit most; the "
            f"largest gain is {gains.idxmax()}'s."
        )
    return f"{paper} {ours}"


# -- Figure 5: leave-one-dataset-out --------------------------------------------------------------------


def lodo_spearmans(table: pd.DataFrame) -> pd.Series:
    """The held-out data sets' defined Spearmans in :func:`~autodistill.evaluate.evaluate_lodo`'s table."""
    return table[table["dataset"] != "mean"].dropna(subset=["spearman"])["spearman"]


def lodo_agreement(table: pd.DataFrame) -> str:
    """Figure 5's reading on our runs, worded from the numbers."""
    rows = lodo_spearmans(table)
    paper = (
        f"The paper's leave-one-dataset-out Spearman averages {PAPER_MEAN_SPEARMAN} over the 8 GLUE data sets "
        "and is positive for most of them (§5.4, Figure 5)."
    )
    if rows.empty:
        return f"{paper} No held-out data set here has a defined Spearman (constant predictions or one run)."
    mean = float(rows.mean())
    positive = int((rows > 0).sum())
    level = "above" if mean > PAPER_MEAN_SPEARMAN else "at or below"
    most = "as in the paper" if positive > len(rows) / 2 else "unlike the paper"
    return (
        f"{paper} On our runs it averages {mean:.2f} over {len(rows)} data set(s), {level} the paper's, and is "
        f"positive on {positive} of {len(rows)}, {most}."
    )


# -- Figure 4: AutoDistiller's picks against random configurations -------------------------------------


@dataclass(frozen=True)
class VersusRandom:
    """Figure 4 on one held-out data set: its frozen picks, and what the store has of their trials.

    ``recommendation`` and ``results`` (:func:`autodistill.recommend.versus_random_results`)
    are None while the data set has not been picked for; ``error`` holds the one
    line that stopped picking or running.
    """

    dataset: str
    recommendation: Recommendation | None = None
    results: pd.DataFrame | None = None
    error: str | None = None


def _finished(results: pd.DataFrame, group: str) -> pd.Series:
    return results.loc[(results["group"] == group) & (results["status"] == "done"), "ratio"]


def picked_run_ids(store: RunStore, items: Sequence[VersusRandom]) -> set[str]:
    """The stored runs of AutoDistiller's picks: not random search, so kept out of its analyses."""
    ids = {
        trial_id
        for item in items
        if item.results is not None
        for trial_id in item.results.loc[item.results["group"] == "AutoDistiller", "trial_id"]
    }
    trials = store.trials(status="done")
    return set(trials.loc[trials["trial_id"].isin(ids), "run_id"].dropna())


def versus_random(
    store: RunStore,
    dataset: str,
    picks: Path,
    *,
    run_missing: bool,
    settings: PredictorSettings | None = None,
    trial_fn: TrialFn | None = None,
) -> VersusRandom:
    """Figure 4 for one data set: pick (once, saved to ``picks``), run what is missing if asked, look up the rest.

    The student is ``layers=0,2,4`` (three of the teacher's layers, recommend's
    default), in the place of the paper's TinyBERT_4. Picking uses :func:`autodistill.recommend.recommend`
    with ``unseen=True``
    (the data set's own runs stay out of training), under the teacher and budget
    of that student's sweep trials on the data set (:func:`sweep_setting`), so the
    picks are comparable with its random search; the random configurations are
    :func:`~autodistill.recommend.random_configs` (seed 0, none of the picks).
    """
    if picks.exists():
        rec = load_recommendation(picks)
        if (rec.dataset, rec.student) != (dataset, DEFAULT_STUDENT):
            raise AutodistillError(
                f"{picks} holds picks for {rec.dataset} / {rec.student}, not {dataset} / {DEFAULT_STUDENT}; "
                "delete it to pick again"
            )
    elif run_missing:
        teacher, budget = sweep_setting(store.trials(), dataset, DEFAULT_STUDENT)
        rec = recommend(
            load_task(dataset),
            store,
            teacher=teacher,
            student=DEFAULT_STUDENT,
            top=TOP_K,
            source="ours",
            budget=budget,
            settings=settings,
            unseen=True,
            show_progress=False,
            shipped=None,
        )
        rec.save(picks)
    else:
        return VersusRandom(dataset)
    task = load_task(rec.dataset)
    budget = TrainSettings(**rec.picks[0].engine["train"])
    if run_missing:
        results = run_versus_random(
            rec, task, store, top=TOP_K, random_n=TOP_K, budget=budget, show_progress=False, trial_fn=trial_fn
        )
    else:
        planned = versus_random_trials(rec, task, top=TOP_K, random_n=TOP_K, budget=budget)
        results = versus_random_results(planned, store)
    return VersusRandom(dataset, rec, results)


def finished_versus(items: Sequence[VersusRandom]) -> list[tuple[str, pd.DataFrame]]:
    """(data set, results) of the held-out data sets with finished runs in both groups (Figure 4's plot)."""
    return [
        (item.dataset, item.results)
        for item in items
        if item.error is None
        and item.results is not None
        and item.recommendation is not None
        and all(len(_finished(item.results, group)) for group in ("AutoDistiller", "random"))
    ]


def versus_random_agreement(done: Sequence[tuple[str, pd.DataFrame]]) -> str:
    """Figure 4's reading on our runs, worded from the numbers; ``done``: (data set, results) pairs
    with finished runs in both groups."""
    paper = (
        "The paper finds AutoDistiller's top 5 significantly better than 5 random configurations on its two "
        "unseen data sets, BoolQ and cloth (§5.4, Figure 4)."
    )
    if not done:
        return f"{paper} No held-out data set has finished runs of both groups yet."
    lines, wins = [], 0
    for dataset, results in done:
        ours, rand = _finished(results, "AutoDistiller"), _finished(results, "random")
        wins += ours.mean() > rand.mean()
        p = ""
        if min(len(ours), len(rand)) > 1:
            p = f", one-sided Mann-Whitney p = {stats.mannwhitneyu(ours, rand, alternative='greater').pvalue:.3f}"
        lines.append(
            f"on {dataset} the picks average {ours.mean():.3f} against {rand.mean():.3f} for random "
            f"(best {ours.max():.3f} vs {rand.max():.3f}{p})"
        )
    if wins == len(done):
        verdict = "in line with the paper"
    elif wins == 0:
        verdict = "unlike the paper"
    else:
        verdict = "so the paper's finding holds on part of our data sets"
    return f"{paper} Here {'; '.join(lines)}: the picks average higher on {wins} of {len(done)}, {verdict}."


# -- plots ---------------------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")  # "tight" keeps a legend placed outside the axes
    _pyplot().close(fig)
    return path


def plot_top_losses(counts: pd.DataFrame, path: Path) -> Path:
    """Stacked bars of the intermediate losses in each group's top 5 (Figure 3); mean counts in the legend."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(counts) + 3), 4.5))
    x = np.arange(len(counts))
    bottom = np.zeros(len(counts))
    colors = plt.get_cmap("tab10")
    for k, level in enumerate(counts.columns):
        values = counts[level].to_numpy(float)
        ax.bar(x, values, 0.7, bottom=bottom, color=colors(k % 10), label=f"{level} (mean {values.mean():.2f})")
        bottom += values
    ax.set_xticks(x, [f"{d}\n{s}" for d, s in counts.index], fontsize=7, rotation=45, ha="right")
    ax.set_ylabel(f"runs among the top {TOP_K}")
    ax.set_title("intermediate losses in each data set and student's top-5 runs")
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    return _save(fig, path)


def plot_augmentation(effect: pd.DataFrame, labels: dict[str, str], path: Path) -> Path:
    """Mean-ratio gain of augmented over unaugmented runs, per student (largest first) and data set."""
    plt = _pyplot()
    gains = effect["gain"].unstack("dataset")
    gains = gains.reindex(index=list(dict.fromkeys(effect.index.get_level_values("student"))))
    columns = [c for c in gains.columns if c != "all"] + ["all"]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(gains) + 2), 4.2))
    width = 0.8 / len(columns)
    for k, dataset in enumerate(columns):
        ax.bar(np.arange(len(gains)) + k * width, gains[dataset].to_numpy(float), width, label=dataset)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(np.arange(len(gains)) + 0.4 - width / 2, [labels[s] for s in gains.index], fontsize=8)
    ax.set_ylabel("mean ratio with - without augmentation")
    ax.set_title("augmentation gain by student (largest first)")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_lodo(table: pd.DataFrame, path: Path) -> Path:
    """Leave-one-dataset-out Spearman per held-out data set (Figure 5), with our mean and the paper's."""
    plt = _pyplot()
    rows = table[table["dataset"] != "mean"]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.8 * len(rows) + 2), 4.0))
    ax.bar(rows["dataset"], rows["spearman"].to_numpy(float), 0.6, color="tab:blue")
    ax.axhline(rows["spearman"].mean(), color="tab:blue", linestyle="--", label="our mean")
    ax.axhline(PAPER_MEAN_SPEARMAN, color="tab:gray", linestyle=":", label="paper's mean (Figure 5)")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("Spearman (predicted vs actual ratio)")
    ax.set_title("leave-one-dataset-out")
    ax.tick_params(axis="x", labelsize=8, rotation=30)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_versus_random(done: Sequence[tuple[str, pd.DataFrame]], path: Path) -> Path:
    """Actual ratios of AutoDistiller's picks and the random configurations (Figure 4); mean ± std in the legend."""
    plt = _pyplot()
    fig, panels = plt.subplots(1, len(done), figsize=(5 * len(done), 4.0), squeeze=False)
    for panel, (dataset, results) in zip(panels[0], done, strict=True):
        summary = group_stats(results)
        for group, color in (("AutoDistiller", "tab:red"), ("random", "tab:blue")):
            ratios = results.loc[results["group"] == group, "ratio"].to_numpy(float)
            mean, std, _ = summary[group]
            label = f"{group} {mean:.3f} ± {std:.3f}"
            panel.plot(np.arange(1, len(ratios) + 1), ratios, "o", color=color, markersize=8, label=label)
        no_kd = summary["no-KD"][0]
        if not math.isnan(no_kd):
            panel.axhline(no_kd, color="black", linestyle=":", label=f"no-KD {no_kd:.3f}")
        panel.set_xticks(np.arange(1, TOP_K + 1))
        panel.set_xlabel("pick (AutoDistiller) or draw (random)")
        panel.set_ylabel("distillation ratio")
        panel.set_title(dataset)
        panel.legend(fontsize=8)
    return _save(fig, path)


# -- markdown ------------------------------------------------------------------------------------------


def _cell(value: object, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float | np.floating):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A pipe table of ``frame`` (its index as the first columns), floats to ``digits`` places."""
    flat = frame.reset_index() if frame.index.names != [None] else frame
    lines = [
        "| " + " | ".join(str(c) for c in flat.columns) + " |",
        "|" + "|".join(" --- " for _ in flat.columns) + "|",
    ]
    lines += ["| " + " | ".join(_cell(v, digits) for v in row) + " |" for row in flat.itertuples(index=False)]
    return "\n".join(lines)


def _not_computed(error: AutodistillError) -> str:
    return f"Not computed: {error}"


def _header(source: str, runs: pd.DataFrame, trials: pd.DataFrame, picked: int) -> str:
    versions = ", ".join(sorted(set(runs["code_version"])))
    lines = [
        "# Our Distiller study",
        "",
        f"Generated by `autodistill study report` from {source} on "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}: {len(runs)} runs of ours on "
        f"{runs['dataset'].nunique()} data set(s) with {runs['student_name'].nunique()} student(s) (code "
        f"{versions}). Every number below is computed from that store, but for the headline's CPU latencies, "
        "timed when the page is written; the paper's (He et al., 2021) are "
        "quoted with their section, figure or table. The ratio is student / teacher dev score (§3.4).",
        "",
        "## What the store holds",
        "",
        "Runs per data set and student (random search, `autodistill sweep`)"
        + (
            f"; the {picked} runs of AutoDistiller's Figure 4 picks are left out here and in Figures 2-3 and Table 3:"
            if picked
            else ":"
        ),
        "",
        markdown_table(runs_per_student(runs)),
    ]
    if not trials.empty:
        lines += [
            "",
            "Budgets are fixed per (data set, student), not per data set, so that a student trained from scratch "
            "can be given more epochs or a larger learning rate than a subset of the teacher's layers. Each "
            "(data set, student)'s per-trial budget (the most common one in its trials log; where `budgets`, the "
            "number of distinct budgets there, is above 1, runs of different budgets are pooled in the sections "
            "below):",
            "",
            markdown_table(budgets(trials), digits=6),
        ]
    lines += [
        "",
        "No-KD baseline (the student fine-tuned on labels alone, same budget) against distillation:",
        "",
        markdown_table(kd_summary(runs, trials)),
    ]
    return "\n".join(lines)


def _machine() -> str:
    processor = platform.processor() or platform.machine()
    return f"{processor}, {os.cpu_count()} CPUs visible"


def _headline_section(
    table: pd.DataFrame,
    latencies: pd.DataFrame,
    lodo: pd.DataFrame | AutodistillError,
    done: Sequence[tuple[str, pd.DataFrame]],
) -> str:
    lines = ["## Headline", ""]
    best, no_kd = table["best KD ratio"], table["no-KD ratio"].dropna()
    summary = f"Over the {len(table)} data set(s), the best run of ours reaches a ratio of {best.mean():.3f} on average"
    if not no_kd.empty:
        summary += (
            f" (the same students' no-KD ratio: {no_kd.mean():.3f} on average over the {len(no_kd)} data set(s) "
            "with a baseline)"
        )
    if isinstance(lodo, AutodistillError):
        summary += "; the leave-one-dataset-out Spearman was not computed (see its section)"
    else:
        spearmans = lodo_spearmans(lodo)
        summary += (
            f"; the leave-one-dataset-out Spearman averages {spearmans.mean():.2f} over {len(spearmans)} held-out "
            f"data set(s) (paper: {PAPER_MEAN_SPEARMAN}, §5.4, Figure 5)"
            if not spearmans.empty
            else "; no held-out data set has a defined leave-one-dataset-out Spearman"
        )
    if done:
        versus = [
            f"{_finished(results, 'AutoDistiller').mean():.3f} against {_finished(results, 'random').mean():.3f} "
            f"on {dataset}"
            for dataset, results in done
        ]
        summary += f"; AutoDistiller's top {TOP_K} average {'; '.join(versus)} for {TOP_K} random configurations."
    else:
        summary += f"; AutoDistiller's top {TOP_K} against random has no finished held-out data set yet."
    shown = table.assign(
        **{
            "teacher params": [f"{v / 1e6:.1f}M" for v in table["teacher params"]],
            "student params": [f"{v / 1e6:.1f}M" for v in table["student params"]],
            "parameter reduction": [_times(v) for v in table["parameter reduction"]],
            "CPU speed-up": [_times(v) for v in table["CPU speed-up"]],
        }
    )
    timed = latencies.drop(columns=["error"]).assign(**{"speed-up": [_times(v) for v in latencies["speed-up"]]})
    lines += [
        summary,
        "",
        "Each data set's best run of ours (random search) by ratio, the same student's no-KD ratio there, and "
        "what the student saves: parameter reduction is teacher / student parameters, CPU speed-up teacher / "
        "student latency (from the table below).",
        "",
        markdown_table(shown),
        "",
        "CPU latency, per (teacher, student) pair of the runs: the mean milliseconds of a forward pass over the "
        f"first {LATENCY_EXAMPLES} dev examples of one data set, one example at a time (batch 1) on one thread, "
        "cut at that data set and student's max length. Latency depends only on the architectures and the "
        "tokens, so the models are built as the engine builds them, untrained (no fine-tuning or distillation), "
        "and each pair is timed once. "
        f"They are measured when this page is written, on the machine that writes it ({_machine()}), and may be "
        "noisy when the machine is busy.",
        "",
        markdown_table(timed, digits=1),
    ]
    failed = latencies.dropna(subset=["error"])
    for (teacher, student), row in failed.iterrows():
        lines += ["", f"{teacher} / {student}: not measured: {row['error']}"]
    return "\n".join(lines)


def _times(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.1f}x"


def _importance_section(runs: pd.DataFrame, figures: Path) -> str:
    lines = ["## Component importance (paper §5.1, Figures 2 and 6)", ""]
    try:
        table = component_importance(runs)
    except AutodistillError as error:
        return "\n".join([*lines, _not_computed(error)])
    plot = plot_importance(table, figures / "importance.png")
    shown = table.rename(index=lambda row: " x ".join(COMPONENTS[part] for part in row.split(" x ")) + f" ({row})")
    lines += [
        "fANOVA share of the variance of the ratio within each data set (minus each student's mean ratio "
        "there, so the student's own level drops out), per component and pair of components; data sets "
        "with fewer than 10 runs are skipped.",
        "",
        markdown_table(shown, digits=2),
        "",
        f"![component importance]({figures.name}/{plot.name})",
        "",
        importance_agreement(table),
    ]
    return "\n".join(lines)


def _top_losses_section(runs: pd.DataFrame, figures: Path) -> str:
    lines = ["## Intermediate losses in the top 5 (paper §5.2, Figure 3)", ""]
    try:
        counts = top_k_losses(runs)
    except AutodistillError as error:
        return "\n".join([*lines, _not_computed(error)])
    chance = chance_top_k(runs).loc[counts.index]
    # object dtype keeps the counts integers next to the two rows of averages
    shown = pd.concat(
        [counts.astype(object), pd.DataFrame([counts.mean(), chance.mean()], index=[("mean", ""), ("chance", "")])],
    )
    shown.index = pd.MultiIndex.from_tuples(shown.index, names=["dataset", "student"])
    plot = plot_top_losses(counts, figures / "top5-losses.png")
    lines += [
        f"How many of each data set and student's {TOP_K} best runs (by ratio) use each intermediate loss "
        f"(MI-α's α as levels); groups with {TOP_K} runs or fewer are skipped. `mean` is the average count per "
        "group, `chance` the average count expected if the top 5 were drawn at random from the group's runs.",
        "",
        markdown_table(shown, digits=2),
        "",
        f"![intermediate losses in the top 5]({figures.name}/{plot.name})",
        "",
        top_k_agreement(counts, chance),
    ]
    return "\n".join(lines)


def _augmentation_section(runs: pd.DataFrame, figures: Path) -> str:
    lines = ["## Augmentation by student size (paper §5.3, Table 3)", ""]
    effect = augmentation_effect(runs)
    labels = {s: _student_label(runs, s) for s in student_order(runs)}
    plot = plot_augmentation(effect, labels, figures / "augmentation.png")
    params = runs.groupby("student_name")["student_params"].max()
    shown = effect.rename(index=labels, level="student")
    lines += [
        "Mean and best ratio of runs with augmentation (any text augmenter or mixup) and without, per student "
        "(largest first) and data set; `all` averages the student's data sets that have runs both ways, and "
        "`gain` is mean with minus mean without.",
        "",
        markdown_table(shown),
        "",
        f"![augmentation gain by student]({figures.name}/{plot.name})",
        "",
        augmentation_agreement(effect, params),
    ]
    return "\n".join(lines)


def _lodo_section(table: pd.DataFrame | AutodistillError, settings: PredictorSettings, figures: Path) -> str:
    lines = ["## Leave-one-dataset-out Spearman (paper §5.4, Figure 5)", ""]
    if isinstance(table, AutodistillError):
        return "\n".join([*lines, _not_computed(table)])
    plot = plot_lodo(table, figures / "lodo.png")
    shown = table.rename(
        columns={
            "spearman": "Spearman",
            f"top{TOP_K}_ratio": f"top-{TOP_K} ratio",
            "best_ratio": "best ratio",
            "mean_ratio": "mean ratio",
        }
    )
    lines += [
        "For each data set, the predictor (AutoGluon, "
        f"{settings.models}, {settings.time_limit:g} s per fold) is trained on every other data set's runs of "
        "ours and ranks this one's; Spearman between predicted and actual ratio, the mean actual ratio of the "
        f"{TOP_K} runs it ranks highest, the best run's and the average run's ratio.",
        "",
        markdown_table(shown.set_index("dataset")),
        "",
        f"![leave-one-dataset-out Spearman]({figures.name}/{plot.name})",
        "",
        lodo_agreement(table),
    ]
    return "\n".join(lines)


def _versus_section(items: Sequence[VersusRandom], command: str, figures: Path) -> str:
    lines = [
        "## AutoDistiller against random configurations (paper §5.4, Figure 4)",
        "",
        "On each held-out data set, AutoDistiller (trained with that data set's own runs left out) picks its "
        f"top {TOP_K} configurations for the `{DEFAULT_STUDENT}` student; they, {TOP_K} random configurations "
        "and the no-KD baseline are run under the teacher and budget of that student's sweep trials on the data "
        "set. The picks "
        f"are saved once (`{figures.name}/fig4-picks-<data set>.json`) and reused, so the ratios below are "
        "theirs.",
    ]
    for item in items:
        lines += ["", f"### {item.dataset}", ""]
        if item.error is not None:
            lines.append(f"Not computed: {item.error}")
            continue
        missing = None if item.results is None else int(item.results["status"].isna().sum())
        if missing != 0:
            have = "not picked yet" if missing is None else f"{missing} of its {len(item.results)} runs missing"
            lines += [f"Not run yet ({have}). To pick and run what is missing:", "", f"```\n{command}\n```"]
        if item.results is None or item.recommendation is None:
            continue
        rec = item.recommendation
        lines += [
            *([""] if missing else []),
            f"Picked on {rec.created_at[:10]} by a predictor trained on {rec.n_runs} runs of "
            f"{', '.join(rec.trained_on)} (teacher {rec.teacher}, student {rec.student}):",
            "",
        ]
        shown = item.results.assign(
            configuration=[
                "no-KD" if c is None else _describe(c.inter_level, c.mapping, c.pred_loss, c.policy)
                for c in item.results["config"]
            ],
            status=item.results["status"].fillna("not run"),
        )
        lines.append(markdown_table(shown[["group", "configuration", "status", "ratio", "error"]].set_index("group")))
    done = finished_versus(items)
    if done:
        plot = plot_versus_random(done, figures / "versus-random.png")
        lines += ["", f"![AutoDistiller against random]({figures.name}/{plot.name})"]
    lines += ["", versus_random_agreement(done)]
    return "\n".join(lines)


def report_command(store: RunStore, out: Path, holdout: Sequence[str], settings: PredictorSettings) -> str:
    """The command that writes this page and runs what Figure 4 is missing."""
    command = f"autodistill study report --store {store.path} --out {out} --holdout {','.join(holdout)} --run-missing"
    if settings.time_limit != PredictorSettings().time_limit:
        command += f" --time-limit {settings.time_limit:g}"
    return command


def write_report(
    store: RunStore,
    out: Path = DEFAULT_OUT,
    *,
    holdout: Sequence[str] = DEFAULT_HOLDOUT,
    run_missing: bool = False,
    settings: PredictorSettings | None = None,
    trial_fn: TrialFn | None = None,
    latency_fn: LatencyFn | None = None,
    source: str | None = None,
    on_status: Callable[[str], None] = lambda _text: None,
) -> Path:
    """Write the study page to ``out`` and its plots (and Figure 4's picks) to ``<out stem>/``.

    ``source`` names where the runs came from on the page (default: the store's path).

    ``run_missing`` lets Figure 4 train the predictor, pick, and run the trials the
    store lacks (``trial_fn`` replaces the engine in tests); without it nothing is
    trained or run. The headline's CPU latencies are timed by ``latency_fn``
    (:func:`cpu_latencies`, untrained models, by default). Other sections that cannot
    be computed (too few runs) say why on the page instead of failing it.
    """
    settings = settings or PredictorSettings()
    latency_fn = latency_fn or cpu_latencies
    if len(holdout) != len(set(holdout)):
        raise AutodistillError(f"a held-out data set is listed twice in {','.join(holdout)}")
    if store.runs(source="ours").empty:
        raise AutodistillError(f"the runs store {store.path} has no runs of ours; fill it with `autodistill sweep`")
    figures = out.parent / out.stem
    figures.mkdir(parents=True, exist_ok=True)
    items = []
    for dataset in holdout:
        on_status(f"Figure 4 on {dataset}" + (": picking and running what is missing" if run_missing else ""))
        try:
            item = versus_random(
                store,
                dataset,
                figures / f"fig4-picks-{dataset}.json",
                run_missing=run_missing,
                settings=settings,
                trial_fn=trial_fn,
            )
        except AutodistillError as error:
            item = VersusRandom(dataset, error=str(error))
            on_status(f"Figure 4 on {dataset}: {error}")
        items.append(item)
    picked = picked_run_ids(store, items)
    runs = store.runs(source="ours")
    runs = runs[~runs["run_id"].isin(picked)].reset_index(drop=True)
    trials = store.trials()
    latencies = measure_latencies(latency_plan(runs, trials), latency_fn, on_status)
    on_status("leave-one-dataset-out evaluation")
    lodo: pd.DataFrame | AutodistillError
    try:
        lodo = evaluate_lodo(store, source="ours", settings=settings)
    except AutodistillError as error:
        lodo = error
    on_status("tables, fANOVA and plots")
    sections = [
        _header(source or f"`{store.path}`", runs, trials, len(picked)),
        _headline_section(headline(runs, trials, speedup_map(latencies)), latencies, lodo, finished_versus(items)),
        _importance_section(runs, figures),
        _top_losses_section(runs, figures),
        _augmentation_section(runs, figures),
        _lodo_section(lodo, settings, figures),
        _versus_section(items, report_command(store, out, holdout, settings), figures),
    ]
    out.write_text("\n\n".join(sections) + "\n")
    return out
