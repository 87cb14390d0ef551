"""The ranking predictor as recommend and the held-out evaluation use it: the store's runs it
learns from, the models fitted on them, and how scored candidates become different pipelines.

:mod:`autodistill.advice.recommend` turns its choices into a :class:`~autodistill.advice.recommendation.Recommendation`;
:mod:`autodistill.evaluation.heldout` uses the same choice rule on data sets left out of training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autodistill.advice.picks import bagged, choose, components
from autodistill.predictor.model import Predictor, PredictorSettings, candidates, fit_predictor, model_inputs
from autodistill.space import Pipeline
from autodistill.store.database import SOURCES, DatasetFeatures, RunStore
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
    the default predictor learns from them until the user has runs of their own. The one write before
    advice; :func:`training_runs` only reads."""
    if source != "ours" or folder is None:
        return
    if not store.runs(source="ours").empty or version not in shipped_versions(folder):
        return
    added = import_study(store, folder, predictions=False)  # advice reads no per-example predictions
    on_status(f"the store had no runs of ours: imported the {added} runs of the project's study ({folder})")


def training_runs(store: RunStore, source: str, version: str, name: str, *, unseen: bool) -> pd.DataFrame:
    """The runs the predictor learns from: the store's usable runs, without the runs of ``name``'s family
    (``name`` and the data sets sharing its source examples, :func:`engine.dataset_family`) when it is
    to be treated as ``unseen``: a sibling's runs would leak its answers."""
    runs = usable_runs(store, source, version)
    if unseen:
        family = dataset_family(name)
        runs = runs[runs["dataset"].map(dataset_family) != family]
        if runs.empty:
            raise AutodistillError(
                f"every usable run in {store.path} is on {name!r}'s family ({family}); "
                "--unseen leaves none to learn from"
            )
    return runs


#: The quantiles of the training runs' ratios a displayed ratio is held between: the linear ratio model
#: extrapolates (held-out families' predictions reached 2.06 and -0.38), and across data sets it is
#: no better than the runs' median (benchmarks/ratio_display.py), so it must not leave their range.
DISPLAY_RANGE = (0.05, 0.95)


def ratio_settings(settings: PredictorSettings) -> PredictorSettings:
    """The displayed ratio's model: AutoGluon's linear model on the raw ratio, on the ranker's runs."""
    return replace(settings, design="autogluon", params=(), target="ratio")


def display_range(ratios: pd.Series) -> tuple[float, float]:
    """The range (:data:`DISPLAY_RANGE` quantiles of the training runs' ``ratios``) a displayed ratio keeps to."""
    low, high = np.quantile(ratios.to_numpy(dtype=float), DISPLAY_RANGE)
    return float(low), float(high)


@dataclass(frozen=True)
class Models:
    """What scores candidates: the ranking predictor, its bootstrap refits, the ratio model shown
    for display, and the training rows (the reasons' typical data set is taken from them)."""

    rank: Predictor
    bags: list[Predictor]
    ratio: Predictor
    table: pd.DataFrame

    def display_ratio(self, inputs: pd.DataFrame) -> np.ndarray:
        """The ratio model's prediction for rows of ``inputs``, held to the training runs' range."""
        return np.clip(self.ratio.predict(inputs), *display_range(self.table["ratio"]))


def train_models(
    runs: pd.DataFrame,
    features: list[DatasetFeatures],
    version: str,
    settings: PredictorSettings | None,
    loaded: Predictor | None,
    cache_dir: Path | None,
) -> Models:
    """Fit (or load from cache) the ranking predictor, its :data:`autodistill.advice.picks.BAGS` bootstrap
    refits and AutoGluon's linear ratio model, all on the same runs."""
    settings = loaded.settings if loaded is not None else settings or PredictorSettings()
    table = model_inputs(runs, features, embeddings=settings.dataset_embeddings)
    rank_model = loaded or fit_predictor(table, version, settings, cache_dir)
    return Models(
        rank_model,
        bagged(table, version, settings, cache_dir),
        fit_predictor(table, version, ratio_settings(settings), cache_dir),
        table,
    )


def budget_inputs(budget: TrainSettings, n_train: int) -> dict[str, int]:
    """What the predictor's budget columns will read for runs at ``budget`` on a training split of
    ``n_train`` examples: the picks are scored at the budget they will run at."""
    examples = min(budget.max_train_examples or n_train, n_train)
    return {"train_examples": examples, "epochs": budget.epochs, "max_length": budget.max_length}


@dataclass(frozen=True)
class ChosenPipelines:
    """The picks among scored candidates: the candidates' model inputs and scores, and for each
    pick its row among them and what :func:`autodistill.advice.picks.choose` said of it."""

    inputs: pd.DataFrame
    scores: np.ndarray
    rows: list[int]
    choices: list[Any]
    #: Every distinct pipeline's row, best scored first, and the bagged refits' scores of them (bags x pipelines).
    distinct: np.ndarray
    spread: np.ndarray

    def standing(self, row: int) -> tuple[int, float]:
        """Where candidate ``row`` stands: its place among the distinct pipelines (1 = best scored)
        and its uncertainty (the spread of its bagged scores)."""
        places = np.flatnonzero(self.distinct == row)
        if not len(places):
            raise AutodistillError(
                f"candidate {row} is a variant of a better-scored pipeline, not a pipeline of its own"
            )
        return int(places[0]) + 1, float(np.std(self.spread[:, places[0]]))


def choose_pipelines(
    rank: Predictor, bags: Sequence[Predictor], described: tuple, configs: list[Pipeline], top: int, budget: dict
) -> ChosenPipelines:
    """Score every configuration at ``budget`` and choose ``top`` different pipelines with their
    uncertainty (:func:`autodistill.advice.picks.choose`): what ``recommend`` and the held-out picks share."""
    inputs = model_inputs(
        candidates(*described, configs, budget), [described[0]], embeddings=rank.settings.dataset_embeddings
    )
    scores = rank.predict(inputs)
    keys = [components(c) for c in configs]
    # One row per pipeline: the best-scored aug_p/repeated_aug of each combination of the four components.
    order = pd.Series(keys, index=range(len(keys))).iloc[np.argsort(-scores, kind="stable")]
    rows = order[~order.duplicated()].index.to_numpy()
    spread = np.stack([bag.predict(inputs.iloc[rows]) for bag in bags])
    choices = choose(scores[rows], spread, [keys[r] for r in rows], top)
    return ChosenPipelines(inputs, scores, [int(rows[c.row]) for c in choices], choices, rows, spread)
