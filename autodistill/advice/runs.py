"""The runs advice learns from: the store's runs usable for a data set, the project's study where the
store has none of ours, and the budget columns a recommendation is made at.

:mod:`autodistill.advice.recommend` and the held-out evaluation (:mod:`autodistill.evaluation.heldout`)
select their runs here, so that both learn from the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from pathlib import Path

import pandas as pd

from autodistill.store.database import SOURCES, RunStore
from autodistill.store.reference import PAPER_FEATURIZER
from autodistill.store.shipped import import_study, shipped_versions
from engine import AutodistillError, TrainSettings, choices_error, dataset_family


def usable_runs(store: RunStore, source: str, version: str) -> pd.DataFrame:
    """Runs of ``source`` recorded with featurizer ``version`` whose data sets have features of it."""
    if source not in SOURCES:
        raise choices_error("run source", source, SOURCES)
    if source == "paper":
        raise AutodistillError(
            f"the authors' runs carry the authors' own dataset features ({PAPER_FEATURIZER!r}), which cannot be "
            "computed for a new data set; recommend from --source ours (fill the store with `autodistill sweep`)"
        )
    runs = store.runs(source=source)
    featured = {f.dataset for f in store.features(version)}
    usable = runs[(runs["featurizer_version"] == version) & runs["dataset"].isin(featured)]
    if usable.empty:
        other = sorted(set(runs["featurizer_version"]) - {version})
        held = f"it holds {len(runs)} {source!r} runs" + (f" of featurizer {', '.join(other)}" if other else "")
        raise AutodistillError(
            f"the runs store {store.path} has no {source!r} runs featurized with {version!r} ({held}); fill it "
            "with `autodistill sweep --datasets a,b,c --students tiny --n 20` (runs on 3+ data sets), "
            "or `autodistill runs import --from study` (the project's shipped runs)"
        )
    return usable


def import_shipped_if_empty(
    store: RunStore, source: str, version: str, folder: Path | None, on_status: Callable[[str], None]
) -> None:
    """Write the shipped study's runs into a store with none of ours (``folder`` None: never), so that
    advice learns from them until the user has runs of their own. The one write before
    advice; :func:`training_runs` only reads."""
    if source != "ours" or folder is None:
        return
    if not store.runs(source="ours").empty or version not in shipped_versions(folder):
        return
    added = import_study(store, folder, predictions=False)  # advice reads no per-example predictions
    on_status(f"the store had no runs of ours: imported the {added} runs of the project's study ({folder})")


def training_runs(store: RunStore, source: str, version: str, name: str, *, unseen: bool) -> pd.DataFrame:
    """The runs advice learns from: the store's usable runs, without the runs of ``name``'s family
    (``name`` and the data sets sharing its source examples, :func:`engine.dataset_family`) when it is
    to be treated as ``unseen``: a sibling's runs would leak its answers."""
    runs = usable_runs(store, source, version)
    if unseen:
        runs = without_family(runs, name)
        if runs.empty:
            raise AutodistillError(
                f"every usable run in {store.path} is on {name!r}'s family ({dataset_family(name)}); "
                "--unseen leaves none to learn from"
            )
    return runs


def without_family(runs: pd.DataFrame, name: str) -> pd.DataFrame:
    """``runs`` (any frame with a ``dataset`` column) less those on ``name``'s family."""
    if runs.empty:
        return runs
    return runs[runs["dataset"].map(dataset_family) != dataset_family(name)]


def budget_inputs(budget: TrainSettings, n_train: int) -> dict[str, int]:
    """The budget columns (as stored runs have them) of runs at ``budget`` on a training split of
    ``n_train`` examples: the picks are priced and weighed at the budget they will run at."""
    examples = min(budget.max_train_examples or n_train, n_train)
    return {"train_examples": examples, "epochs": budget.epochs, "max_length": budget.max_length}


def other_metric_line(runs: pd.DataFrame, task_kind: str, metric: str) -> str | None:
    """One line where every run of ``runs`` on a ``task_kind`` data set was scored by another metric
    than ``metric``: the gains advice predicts are ratios of those, and the user's metric need not
    follow them (word accuracy hardly moves where entity F1 does)."""
    configs = runs.loc[runs["task_kind"] == task_kind, "config_json"]
    metrics = {json.loads(config).get("metric") for config in configs.dropna()} - {None}
    if not metrics or metric in metrics:
        return None
    return (
        f"scored by {metric}, but the store's {task_kind} runs were scored by {', '.join(sorted(metrics))}: "
        "the gains below are predicted as ratios of that"
    )


def metric_option(config_json: object) -> str | None:
    """The ``--metric`` a stored run or trial was given (None: its task type's own, or not recorded)."""
    if not isinstance(config_json, str):
        return None
    config = json.loads(config_json)
    engine = config.get("engine", config)  # a run's record holds its engine config; a trial's config is one
    return (engine.get("columns") or {}).get("metric")


def same_scoring(frame: pd.DataFrame, names: Collection[str], option: str | None) -> pd.DataFrame:
    """``frame`` (runs or trials) less its rows on the target (``names``: its name and its source) given
    another ``--metric`` than ``option``: their ratios are of another score, so they can be neither its
    probe nor its own evidence."""
    if frame.empty:
        return frame
    mine = frame["dataset"].isin(set(names))
    other = frame.loc[mine, "config_json"].map(lambda config: metric_option(config) != option).astype(bool)
    return frame.drop(index=other.index[other])
