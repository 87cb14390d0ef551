"""``lgbm`` and ``lambdarank``: small LightGBM tree ensembles that can learn configuration x data set interactions.

A tree that splits on a dataset feature (size, headroom, baseline score...) and then on
a component scores that component differently on different data sets: the interaction
the additive ``autogluon`` default cannot express. Kept small (100 shallow trees,
one thread) so that nested evaluation's hundreds of fits take minutes on 2 shared cores.

* ``lgbm`` regresses each run's percentile rank of ratio within its setting (data set,
  student and budget; :func:`autodistill.predictor.designs.within_rank`).
* ``global`` is ``lgbm`` shown only the configuration and budget columns: it cannot tell data sets
  apart, so it learns one ranking per budget, the yardstick data set dependence has to beat.
* ``lambdarank`` learns only the order inside each setting (one query per setting, LambdaRank
  with relevance grades from that rank), which is all a recommendation uses.

Both give exact per-feature contributions to a score (TreeSHAP, LightGBM's ``pred_contrib``),
which the picks' reasons are built from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import joblib
import numpy as np
import pandas as pd

from autodistill.predictor.designs import (
    BUDGET_INPUTS,
    CATEGORICAL_COLUMNS,
    DESIGNS,
    feature_columns,
    is_config_column,
    numbers_and_categories,
    setting_key,
    within_rank,
)

MODEL_FILE = "trees.joblib"
#: Relevance grades of LambdaRank: the within-setting rank cut into this many equal bands.
GRADES = 10
#: Shared by both designs; ``num_leaves`` and ``embeddings`` are what nested evaluation chooses.
_BOOSTING = {
    "n_estimators": 100,
    "learning_rate": 0.05,
    "min_child_samples": 20,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.5,
    "n_jobs": 1,
    "random_state": 0,
    "deterministic": True,
    "verbose": -1,
}
_GRID = tuple({"num_leaves": leaves, "embeddings": emb} for leaves in (4, 15) for emb in (False, True))


class _Fitted:
    """A LightGBM model with the columns and category levels it was trained on."""

    def __init__(self, model: Any, columns: list[str], categories: dict[str, list[str]]) -> None:
        self.model, self.columns, self.categories = model, columns, categories

    def _frame(self, inputs: pd.DataFrame) -> pd.DataFrame:
        frame = numbers_and_categories(inputs[self.columns])
        for column, levels in self.categories.items():
            frame[column] = pd.Categorical(frame[column], categories=levels)
        return frame

    def predict(self, inputs: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict(self._frame(inputs)), dtype=float)

    def contributions(self, inputs: pd.DataFrame) -> pd.DataFrame:
        raw = np.asarray(self.model.predict(self._frame(inputs), pred_contrib=True))
        return pd.DataFrame(raw[:, :-1], columns=self.columns, index=inputs.index)  # last column: the bias

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, folder / MODEL_FILE)


def _prepare(table: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, list[str], dict[str, list[str]]]:
    frame = numbers_and_categories(table[columns])
    categories = {c: sorted(frame[c].unique()) for c in columns if c in CATEGORICAL_COLUMNS}
    for column, levels in categories.items():
        frame[column] = pd.Categorical(frame[column], categories=levels)
    return frame, columns, categories


class _Trees:
    defaults: ClassVar[dict[str, Any]] = {"num_leaves": 15, "embeddings": False}
    grid: ClassVar[tuple[dict[str, Any], ...]] = _GRID

    def columns(self, table: pd.DataFrame, params: dict[str, Any]) -> list[str]:
        """What the trees may split on."""
        return feature_columns(table, params["embeddings"])

    def load(self, folder: Path, meta: dict[str, Any]) -> _Fitted:
        return joblib.load(folder / MODEL_FILE)


@DESIGNS.register("lgbm")
class Boosted(_Trees):
    def fit(self, table: pd.DataFrame, settings: Any, params: dict[str, Any], folder: Path) -> _Fitted:
        from lightgbm import LGBMRegressor

        frame, columns, categories = _prepare(table, self.columns(table, params))
        label = table["ratio"] if settings.target == "ratio" else within_rank(table)  # from the whole table
        model = LGBMRegressor(num_leaves=params["num_leaves"], **_BOOSTING).fit(frame, label)
        return _Fitted(model, columns, categories)


@DESIGNS.register("global")
class Global(Boosted):
    defaults: ClassVar[dict[str, Any]] = {"num_leaves": 15}
    grid: ClassVar[tuple[dict[str, Any], ...]] = ({"num_leaves": 4}, {"num_leaves": 15})

    def columns(self, table: pd.DataFrame, params: dict[str, Any]) -> list[str]:
        """The configuration and the budget only: no dataset feature, no model size, no task kind, and
        none of the hand-written configuration x data set terms (``*_x_*``)."""
        shown = [c for c in feature_columns(table, embeddings=False) if is_config_column(c) or c in BUDGET_INPUTS]
        return [c for c in shown if "_x_" not in c]


@DESIGNS.register("lambdarank")
class Ranked(_Trees):
    def fit(self, table: pd.DataFrame, settings: Any, params: dict[str, Any], folder: Path) -> _Fitted:
        from lightgbm import LGBMRanker

        ordered = table.assign(_setting=setting_key(table)).sort_values("_setting", kind="stable")
        inputs = ordered.drop(columns="_setting")
        frame, columns, categories = _prepare(inputs, self.columns(inputs, params))
        grades = np.minimum((within_rank(ordered) * GRADES).astype(int), GRADES - 1)
        groups = ordered.groupby("_setting", sort=True).size().to_numpy()
        # Every pair of runs within a setting counts, not just the top of its ranking.
        model = LGBMRanker(
            num_leaves=params["num_leaves"], lambdarank_truncation_level=int(groups.max()), **_BOOSTING
        ).fit(frame, grades, group=groups)
        return _Fitted(model, columns, categories)
