"""The study in the Distiller paper's regime: a general-distilled student at the patient budget.

Four questions, each answered from a runs store's ``patient`` runs on test ratios with their noise
(:mod:`autodistill.evaluation.noise`: seed spread, the test split's sampling error paired on the
runs' per-example predictions where they were kept):

* is the general-distilled student worth having? its no-KD baseline against the fresh shape's, per
  budget and data set (:func:`initialisation_check`; at the realistic budget the fresh shape's runs are
  the shipped study's, the general-distilled one's this store's, each at its own plateau);
* does the choice of pipeline matter there? the headroom map of :mod:`autodistill.evaluation.headroom`
  at the patient budget: per (data set, student) the best pipeline by dev against logit KD and no-KD,
  beside the shipped study's map (fresh students at the realistic budget) on the same data sets;
* what did the patient budget buy logit KD over the realistic one, per (data set, student), on dev
  (what recommend's longer budget reads, :mod:`autodistill.advice.budget`) and on test, and at how many
  times the minutes (:func:`budget_table`);
* do the paper's findings hold there? the contrasts behind two of them (:data:`FINDINGS`) per (data set,
  student) in both regimes (:func:`findings`); the third, the intermediate loss as the most important
  component, by fANOVA over each (data set, student) that ran the whole fixed list, with MI-α's rank
  among the intermediate losses beside it (:func:`importance_table`).

``python -m study.patient --store meta_data/patient/study.sqlite`` (the patient runs made so far) prints
them and writes ``meta_data/patient/summary.json`` and the page ``meta_data/patient/results.md``.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path

import pandas as pd

from autodistill import RunStore, latest_splits, select_configs, shipped_store
from autodistill.advice.budget import budget_gains, budget_runs
from autodistill.evaluation.headroom import headroom, headroom_arms
from autodistill.evaluation.heldout.arms import listed
from autodistill.evaluation.importance import COMPONENTS, fanova_importance
from autodistill.evaluation.noise import (
    NO_KD,
    PAIR,
    arm_stats,
    beyond_noise,
    catalog_resolution,
    group_noise,
    lead_noise,
    resolutions,
    study_outcomes,
)
from autodistill.space import pred_losses
from autodistill.store.configurations import configurations
from autodistill.sweep.study_plan import PATIENT
from engine import PRETRAINED_STUDENTS, ExamplePredictions, SplitResolution, paths
from study.plots import plot_headroom
from study.sections import markdown_table

OUT = paths.META_DATA / "patient" / "summary.json"
#: The page the tables are read on, and its plot of every arm, beside :data:`OUT`.
PAGE, PLOT = "results.md", "headroom.png"
#: Each general-distilled student beside the fresh shape it was made from, compared under no-KD.
PAIRS = tuple((student.shape, name) for name, student in PRETRAINED_STUDENTS.items())
#: The paper's findings as contrasts of the fixed list's configurations, per regime: (finding, the
#: configuration it says is better, the one it is better than). MI-α is set against TinyBERT's MSE, the
#: one other intermediate loss most pairs hold (and, where more ran, the best of them by dev:
#: :func:`best_rival`); augmentation is varied under logit KD at the
#: patient budget (its cached copies) and under TinyBERT's recipe at the realistic one (the fixed list's),
#: as text edits and as mixup: token tagging takes mixup only (edits would misalign its tags).
FINDINGS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "realistic": (("MI-α is the best intermediate loss", "mi-alpha", "tinybert"),
                  ("augmentation helps (small students)", "tinybert-ra", "tinybert"),
                  ("augmentation helps (small students)", "tinybert-mixup", "tinybert")),
    PATIENT.name: (("MI-α is the best intermediate loss", "mi-alpha", "tinybert"),
                   ("augmentation helps (small students)", "logit-ra", "logit"),
                   ("augmentation helps (small students)", "logit-mixup", "logit")),
}  # fmt: skip


#: The intermediate losses of the fixed list under Skip and CE, no augmentation: MI-α's rank is read among them.
INTER_CONFIGS = ("tinybert", "mi-alpha", "mi-alpha-low", "cos", "pkd", "ce-inter")
#: The losses of :data:`INTER_CONFIGS` that are not MI at some α: "MI-α is the best" is read against them.
OTHER_LOSSES = ("tinybert", "cos", "pkd", "ce-inter")


def best_rival(arms: pd.DataFrame, keys: dict[str, set[str]]) -> tuple[str, int] | None:
    """The loss of :data:`OTHER_LOSSES` with the best mean dev ratio, and how many ran, where MI-α and two
    or more of them ran (with one, the TinyBERT contrast of :data:`FINDINGS` says it): chosen on dev,
    reported on test."""
    ran = {name: arms.loc[arms.index.isin(keys[name]), "dev_ratio"] for name in OTHER_LOSSES}
    ran = {name: float(dev.mean()) for name, dev in ran.items() if len(dev)}
    if len(ran) < 2 or not arms.index.isin(config_keys("mi-alpha")).any():
        return None
    return max(ran, key=ran.__getitem__), len(ran)


def initialisation_check(
    outcomes: pd.DataFrame,
    resolved: dict[str, SplitResolution | None],
    predictions: dict[str, ExamplePredictions],
) -> pd.DataFrame:
    """Per budget and data set: the no-KD test ratio of the fresh and the general-distilled student, the
    lead of the latter with its noise, and whether the lead is beyond it."""
    base = outcomes[outcomes["configuration"] == NO_KD]
    rows = []
    for fresh, pretrained in PAIRS:
        pair = base[base["student_name"].isin([fresh, pretrained])]
        for (budget, dataset), group in pair.groupby(["fidelity", "dataset"], sort=False):
            group = group.assign(configuration=group["student_name"])
            arms = arm_stats(group)
            if not {fresh, pretrained} <= set(arms.index):
                continue
            terms = group_noise(group, resolved.get(dataset))
            lead = arms.loc[pretrained, "reported_ratio"] - arms.loc[fresh, "reported_ratio"]
            noise, paired = lead_noise(group, (arms.loc[pretrained], arms.loc[fresh]), terms, predictions)
            rows.append({
                "budget": budget, "dataset": dataset, "fresh": fresh, "pretrained": pretrained,
                "fresh no-KD": arms.loc[fresh, "reported_ratio"],
                "pretrained no-KD": arms.loc[pretrained, "reported_ratio"],
                "seeds": f"{int(arms.loc[fresh, 'seeds'])} / {int(arms.loc[pretrained, 'seeds'])}",
                "lead": lead, "noise": noise, "paired runs": paired, "verdict": _verdict(lead, noise),
            })  # fmt: skip
    return pd.DataFrame(rows)


def config_keys(name: str) -> set[str]:
    """The keys a fixed-list configuration's runs have, whichever prediction loss the task gave it."""
    (config,) = select_configs([name], PATIENT)
    return {replace(config.pipeline, pred_loss=loss).key for loss in pred_losses()}


def findings(
    outcomes: pd.DataFrame,
    resolved: dict[str, SplitResolution | None],
    predictions: dict[str, ExamplePredictions],
    regime: str,
) -> pd.DataFrame:
    """Per (data set, student) holding both sides of a finding's contrast (:data:`FINDINGS`, and MI-α
    against the best other loss by dev where two or more ran, :func:`best_rival`): the test ratio of
    each, the lead of the one the paper favours, its noise and the verdict."""
    keys = {name: config_keys(name) for contrast in FINDINGS[regime] for name in contrast[1:]}
    keys |= {name: config_keys(name) for name in OTHER_LOSSES}
    rows = []
    for (dataset, student), group in outcomes.groupby(PAIR):
        arms = arm_stats(group)
        terms = group_noise(group, resolved.get(dataset))
        rival = best_rival(arms, keys)
        contrasts = FINDINGS[regime] + (((f"MI-α beats the best other loss by dev (of {rival[1]})", "mi-alpha",
                                          rival[0]),) if rival else ())  # fmt: skip
        for finding, better, than in contrasts:
            sides = [arms[arms.index.isin(keys[name])] for name in (better, than)]
            if any(side.empty for side in sides):
                continue
            first, second = (side.iloc[0] for side in sides)
            lead = first["reported_ratio"] - second["reported_ratio"]
            noise, paired = lead_noise(group, (first, second), terms, predictions)
            rows.append({
                "regime": regime, "finding": finding, "dataset": dataset, "student": student,
                "favoured": better, "ratio": first["reported_ratio"], "against": than,
                "its ratio": second["reported_ratio"], "seeds": f"{int(first['seeds'])} / {int(second['seeds'])}",
                "lead": lead, "noise": noise, "paired runs": paired, "verdict": _verdict(lead, noise),
            })  # fmt: skip
    return pd.DataFrame(rows)


def holds_whole_list(keys: set[str], kind: str) -> bool:
    """Whether configuration ``keys`` include every fixed-list configuration a data set of task ``kind``
    runs (:func:`~autodistill.evaluation.heldout.arms.listed`)."""
    return all(config_keys(name) & keys for name in listed(kind))


def importance_table(runs: pd.DataFrame, regime: str) -> pd.DataFrame:
    """Per (data set, student) whose runs hold the whole fixed list: each component's fANOVA share of the
    dev ratio's variance (:func:`~autodistill.evaluation.importance.fanova_importance`, as the study's
    importance page reads it), the top component, and MI-α's rank among :data:`INTER_CONFIGS` by mean dev
    ratio. Fewer configurations would confound the components (logit KD varies mapping and loss together)."""
    rows = []
    keys = {name: config_keys(name) for name in INTER_CONFIGS}
    for (dataset, student), group in runs.groupby(["dataset", "student_name"]):
        config = configurations(group)
        if not holds_whole_list(set(config), str(group["task_kind"].iloc[0])):
            continue
        shares = fanova_importance(group)["mean"]
        means = group["ratio"].groupby(config).mean()
        inter = {name: means[means.index.isin(keys[name])].mean() for name in INTER_CONFIGS}
        order = sorted((v, k) for k, v in inter.items() if math.isfinite(v))[::-1]
        rank = next((i for i, (_v, name) in enumerate(order, start=1) if name == "mi-alpha"), None)
        rows.append({
            "regime": regime, "dataset": dataset, "student": student, "configurations": int(config.nunique()),
            "runs": len(group), "fewest seeds": int(config.value_counts().min()),
            **{COMPONENTS[c]: shares.get(c, math.nan) for c in COMPONENTS},
            "top": COMPONENTS[str(shares[list(COMPONENTS)].idxmax())],
            "MI-α rank": f"{rank} of {len(order)}" if rank else "-",
        })  # fmt: skip
    return pd.DataFrame(rows)


def _verdict(lead: float, noise: float) -> str:
    """A lead in words: better or worse beyond the noise, or within it."""
    if not math.isfinite(noise):
        return "noise unknown"
    if beyond_noise(lead, noise):
        return "better"
    return "worse" if beyond_noise(-lead, noise) else "within noise"


def patient_outcomes(store: RunStore, fidelity: str = PATIENT.name) -> tuple[pd.DataFrame, dict, dict]:
    """The store's outcomes at ``fidelity`` on each data set's latest split version, their resolutions
    and test predictions."""
    runs, trials = latest_splits(store.runs(source="ours")), latest_splits(store.trials(source="ours"))
    outcomes = study_outcomes(runs, trials)
    outcomes = outcomes[outcomes["fidelity"] == fidelity]
    resolved = dict(resolutions(outcomes, catalog_resolution))
    return outcomes, resolved, store.test_predictions(outcomes["predictions_key"])


def pipelines_run(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per (data set, student): how many KD pipelines ran, logit KD among them. The best pipeline by dev is
    chosen among these, so a pair that ran two has less chance of headroom than one that ran the list."""
    kd = outcomes[outcomes["configuration"] != NO_KD]
    counts = kd.groupby(PAIR)["configuration"].nunique().rename("KD pipelines").reset_index()
    return counts.rename(columns={"student_name": "student"})


def with_counts(table: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """The headroom ``table`` with :func:`pipelines_run`'s count after the student."""
    if table.empty:
        return table
    counted = table.merge(pipelines_run(outcomes), on=["dataset", "student"], how="left")
    after = list(table.columns).index("student") + 1
    return counted[[*table.columns[:after], "KD pipelines", *table.columns[after:]]]


def regimes(patient: pd.DataFrame, realistic: pd.DataFrame) -> pd.DataFrame:
    """The headroom map in both regimes, side by side: the shipped study's (fresh students at the
    realistic budget, their no-KD plateau) on the data sets the patient runs cover, then the patient
    budget's (fresh and general-distilled students, 20 epochs)."""
    realistic = realistic[realistic["dataset"].isin(set(patient["dataset"]))] if not patient.empty else realistic
    both = [frame.assign(regime=name) for name, frame in (("realistic", realistic), ("patient", patient))]
    kept = [frame for frame in both if not frame.empty]
    return pd.concat(kept, ignore_index=True) if kept else pd.DataFrame()


def budget_table(realistic: pd.DataFrame, patient: pd.DataFrame) -> pd.DataFrame:
    """Per pair that ran logit KD at both budgets (one split version): the patient runs' mean dev and test
    ratios less the realistic runs', and the multiple of the minutes
    (:func:`~autodistill.advice.budget.arm_seconds`)."""
    dev = _logit_gains(realistic, patient)
    test = _logit_gains(*(frame.assign(ratio=frame["test_ratio"]) for frame in (realistic, patient)))
    both = dev.merge(test[["dataset", "student_name", "split_version", "gain"]], on=["dataset", "student_name",
                     "split_version"], suffixes=(" (dev)", " (test)"))  # fmt: skip
    return both.rename(columns={"student_name": "student", "split_version": "split", "times": "minutes x"})[
        ["dataset", "student", "split", "gain (dev)", "gain (test)", "minutes x"]
    ]


def _logit_gains(realistic: pd.DataFrame, patient: pd.DataFrame) -> pd.DataFrame:
    """Per pair, logit KD at the patient budget against the realistic one (:func:`budget_gains`)."""
    gains = budget_gains(budget_runs(realistic, patient))
    return gains[gains["name"] == "logit"].drop(columns="name")


def summary(store: RunStore) -> dict:
    """The tables as records, with the runs they were read from."""
    outcomes, resolved, predictions = patient_outcomes(store)
    table = with_counts(headroom(outcomes, resolved, fidelity=PATIENT.name, predictions=predictions), outcomes)
    shorter, shorter_resolved, shorter_predictions = patient_outcomes(store, "realistic")  # tiny-gd's
    with shipped_store() as shipped:
        earlier, earlier_resolved, earlier_predictions = patient_outcomes(shipped, "realistic")
        check = initialisation_check(
            pd.concat([outcomes, earlier, shorter], ignore_index=True),
            {**earlier_resolved, **shorter_resolved, **resolved},
            {**earlier_predictions, **shorter_predictions, **predictions},
        )
        before = with_counts(headroom(earlier, earlier_resolved, predictions=earlier_predictions), earlier)
        budget = budget_table(shipped.runs(source="ours"), store.runs(source="ours"))
        earlier = earlier[earlier["dataset"].isin(set(outcomes["dataset"]))]
        tested = [findings(earlier, earlier_resolved, earlier_predictions, "realistic"),
                  findings(outcomes, resolved, predictions, PATIENT.name)]  # fmt: skip
        important = importance_by_regime(shipped, store, set(outcomes["dataset"]))
    arms = [headroom_arms(frame, found, fidelity).assign(student=lambda f, r=fidelity: f["student"] + f", {r}")
            for frame, found, fidelity in ((earlier, earlier_resolved, "realistic"),
                                           (outcomes, resolved, PATIENT.name))]  # fmt: skip
    clean = lambda frame: json.loads(frame.to_json(orient="records"))  # noqa: E731  (NaN -> null)
    return {
        "runs": len(outcomes), "initialisation": clean(check), "headroom": clean(regimes(table, before)),
        "findings": clean(pd.concat([t for t in tested if not t.empty], ignore_index=True)),
        "budget": clean(budget), "importance": clean(important),
        "arms": clean(pd.concat(arms, ignore_index=True)),
    }  # fmt: skip


def importance_by_regime(shipped: RunStore, store: RunStore, datasets: set[str]) -> pd.DataFrame:
    """:func:`importance_table` of the shipped study's realistic runs and of the patient runs, on ``datasets``."""
    tables = []
    for regime, source in (("realistic", shipped), (PATIENT.name, store)):
        runs = latest_splits(source.runs(source="ours"))
        runs = runs[(runs["fidelity"] == regime) & runs["dataset"].isin(datasets)]
        tables.append(importance_table(runs, regime))
    kept = [t for t in tables if not t.empty]
    return pd.concat(kept, ignore_index=True) if kept else pd.DataFrame()


def page(found: dict, store: Path) -> str:
    """The summary as a page: where it comes from, then each table with what it answers."""
    parts = [
        "# The study in the paper's regime: a general-distilled student at a patient budget",
        "",
        f"Generated by `python -m study.patient --store {store}` from its {found['runs']} patient outcomes (runs and",
        "no-KD baselines) and the shipped study's realistic runs on the same data sets. Ratios are on test; a lead",
        "is `better` or `worse` beyond twice its noise (seed spread and the test split's sampling error, paired on",
        "the runs' predictions where `paired runs` says so), else `within noise`.",
        "",
        "## Is the general-distilled student worth having? (no-KD, against the fresh shape, per budget)",
        "",
        markdown_table(pd.DataFrame(found["initialisation"])),
        "",
        "## Does the pipeline matter? The headroom map in both regimes",
        "",
        "Every arm: each pipeline's mean test ratio (grey) with the noise of its mean, beside logit KD's (orange)",
        "and no-KD's (blue) mean ± noise; then the best pipeline by dev against both, per pair, chosen among",
        "the KD pipelines that ran there (`KD pipelines`, logit KD included: where only a few ran, headroom is",
        "looked for among those few).",
        "",
        f"![headroom in both regimes]({PLOT})",
        "",
        markdown_table(pd.DataFrame(found["headroom"]).drop(columns=["claims"], errors="ignore")),
        "",
        "## What did the patient budget buy logit KD?",
        "",
        "Per (data set, student) that ran logit KD at both budgets on one split version: the 20-epoch runs' mean",
        "ratio less the realistic runs' (1-3 epochs), on dev (what recommend's longer budget reads) and on test,",
        "and the multiple of the minutes (median seconds over the runs that did not wait for their cores, less any",
        "teacher fine-tune).",
        "",
        markdown_table(pd.DataFrame(found["budget"])),
        "",
        "## The paper's findings, contrast by contrast, in both regimes",
        "",
        "MI-α is set against TinyBERT's MSE and, where two or more other losses ran (MSE, cosine, PKD, CE), against",
        "the best of them by mean dev ratio, read on test; augmentation against the same recipe without it.",
        "",
        markdown_table(pd.DataFrame(found["findings"])),
        "",
        "The intermediate loss as the most important component (finding 1): per (data set, student) that ran the",
        "whole fixed list, each component's fANOVA share of the dev ratio's variance over its runs (l_inter the",
        "intermediate loss with α, m the mapping, l_pred the prediction loss, a the augmentation; the pairs' shares",
        "make up the rest), and MI-α's rank among the six intermediate losses by mean dev ratio. A pair whose",
        "fewest seeds of a configuration is under three reads those configurations on fewer seeds than the rest.",
        "",
        markdown_table(pd.DataFrame(found["importance"])) if found["importance"] else "No pair ran the whole list.",
        "",
    ]
    return "\n".join(parts)


def _show(frame: pd.DataFrame) -> str:
    return frame.to_string(index=False, float_format=lambda x: "nan" if math.isnan(x) else f"{x:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    with RunStore(args.store) as store:
        found = summary(store)
    print(f"{found['runs']} patient runs")
    print("general-distilled against fresh, no-KD test ratios:")
    print(_show(pd.DataFrame(found["initialisation"])))
    print("headroom in both regimes (the realistic rows from the shipped study):")
    print(_show(pd.DataFrame(found["headroom"])))
    print("what the patient budget bought logit KD:")
    print(_show(pd.DataFrame(found["budget"])))
    print("the paper's findings, contrast by contrast, in both regimes:")
    print(_show(pd.DataFrame(found["findings"])))
    print("component importance where the whole fixed list ran:")
    print(_show(pd.DataFrame(found["importance"])))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(found, indent=2) + "\n")
    plot_headroom(pd.DataFrame(found["arms"]), args.out.parent / PLOT)
    (args.out.parent / PAGE).write_text(page(found, args.store))


if __name__ == "__main__":
    main()
