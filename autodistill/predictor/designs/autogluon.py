"""``autogluon``: AutoGluon-Tabular regressors, the paper's tool (§3.4) and the project's first predictor.

Settings (:class:`autodistill.predictor.model.PredictorSettings`) choose the model family
(``models``: its linear model by default, or the ``medium_quality`` tree portfolio),
the target (within-setting rank or raw ratio) and the validation (data-set-disjoint
holdout: model selection rewards transfer to unseen data sets). Additive in the linear
default, so a configuration's effect is the same on every data set except through the
five interaction terms of :func:`autodistill.predictor.model.model_inputs`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from autodistill.predictor.designs import DESIGNS, feature_columns, within_rank


class _Tabular:
    """A saved TabularPredictor: AutoGluon writes it into the folder while fitting."""

    def __init__(self, folder: Path, columns: list[str]) -> None:
        from autogluon.tabular import TabularPredictor

        self.columns = columns
        self.model = TabularPredictor.load(str(folder), verbosity=0)

    def predict(self, inputs: pd.DataFrame) -> np.ndarray:
        return self.model.predict(inputs[self.columns]).to_numpy()

    def contributions(self, inputs: pd.DataFrame) -> pd.DataFrame | None:
        return None

    def save(self, folder: Path) -> None:
        """Already saved by AutoGluon in :meth:`AutoGluon.fit`."""


@DESIGNS.register("autogluon")
class AutoGluon:
    defaults: ClassVar[dict[str, Any]] = {}
    grid: ClassVar[tuple[dict[str, Any], ...]] = ({},)

    def fit(self, table: pd.DataFrame, settings: Any, params: dict[str, Any], folder: Path) -> _Tabular:
        from autogluon.tabular import TabularPredictor

        # Folds of whole data sets, as a new data set will be at recommendation time; needs three of them.
        by_dataset = settings.validation == "by_dataset" and table["dataset"].nunique() >= 3
        columns = feature_columns(table)
        label = table["ratio"] if settings.target == "ratio" else within_rank(table)
        train = table[columns].assign(**{settings.target: label})
        if by_dataset:
            train["group"] = table["dataset"].to_numpy()  # AutoGluon splits folds on it, ignores it as a feature
        model = TabularPredictor(
            label=settings.target,
            problem_type="regression",
            eval_metric=settings.eval_metric,
            path=str(folder),
            verbosity=settings.verbosity,
            learner_kwargs={"ignored_columns": ["group"] if by_dataset else []},
        )
        with warnings.catch_warnings():
            # The linear model's quantile scaler warns whenever a fold has < 1,000 rows; that is expected here.
            warnings.filterwarnings("ignore", message="n_quantiles", category=UserWarning)
            model.fit(
                train,
                time_limit=settings.time_limit,
                presets=settings.presets,
                hyperparameters=_hyperparameters(settings.models),
                excluded_model_types=list(settings.excluded_model_types),
                num_cpus=settings.num_cpus or "auto",
                refit_full=settings.refit_full,
                set_best_to_refit_full=settings.refit_full,
                **({"validation_structure": {"group_on": "group"}} if by_dataset else {}),
            )
        return _Tabular(folder, columns)

    def load(self, folder: Path, meta: dict[str, Any]) -> _Tabular:
        return _Tabular(folder, list(meta["feature_columns"]))


def _hyperparameters(models: str) -> dict[str, object] | str:
    """AutoGluon's model portfolio for a family: its linear model, the preset's trees, or both."""
    from autogluon.tabular.configs.hyperparameter_configs import get_hyperparameter_config

    trees = get_hyperparameter_config("default")
    return {"linear": {"LR": {}}, "trees": trees, "linear+trees": {**trees, "LR": {}}}[models]
