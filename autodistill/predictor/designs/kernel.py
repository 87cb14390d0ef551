"""``kernel``: kernel ridge regression over (configuration) x (dataset features).

The kernel between two runs is ``(1 + Kc) * (1 + Kd)``: ``Kc`` a linear kernel on the
configuration (components one-hot, knobs scaled), ``Kd`` an RBF kernel on the data set,
teacher and student descriptors (scaled). Expanded, that is a configuration effect
(``Kc``), a data set level (``Kd``, irrelevant to a within-setting order) and their
product ``Kc * Kd``: a configuration's effect that varies smoothly with how alike the new
data set is to each training data set. Its target is the within-setting rank
(:func:`autodistill.predictor.designs.within_rank`). Exact, no iterations; a fit on the authors'
1,239 runs solves one 1,239 x 1,239 system.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import joblib
import numpy as np
import pandas as pd

from autodistill.predictor.designs import (
    CATEGORICAL_COLUMNS,
    DESIGNS,
    feature_columns,
    is_config_column,
    numbers_and_categories,
    within_rank,
)

MODEL_FILE = "kernel.joblib"


def _encoder(columns: list[str], frame: pd.DataFrame) -> Any:
    """One-hot for the categorical columns, imputed and scaled numbers for the rest."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = [c for c in columns if c in CATEGORICAL_COLUMNS]
    numeric = [c for c in columns if c not in categorical]
    return ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
            (
                "num",
                make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()),
                numeric,
            ),
        ]
    ).fit(numbers_and_categories(frame[columns]))


class _Fitted:
    """The training runs' encodings and the dual coefficients of the ridge solution."""

    def __init__(self, config: Any, context: Any, train: pd.DataFrame, coef: np.ndarray, offset: float) -> None:
        self.config, self.context, self.coef, self.offset = config, context, coef, offset
        self._config_x, self._context_x = self._encode(train)

    def _encode(self, inputs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        columns = [*self.config.feature_names_in_, *self.context.feature_names_in_]
        frame = numbers_and_categories(inputs[columns])
        return self.config.transform(frame), self.context.transform(frame)

    def kernel(self, inputs: pd.DataFrame) -> np.ndarray:
        """Kernel between ``inputs`` and the training runs."""
        from sklearn.metrics.pairwise import rbf_kernel

        config_x, context_x = self._encode(inputs)
        linear = config_x @ self._config_x.T / max(config_x.shape[1], 1)
        similar = rbf_kernel(context_x, self._context_x, gamma=1.0 / max(context_x.shape[1], 1))
        return (1.0 + linear) * (1.0 + similar)

    def predict(self, inputs: pd.DataFrame) -> np.ndarray:
        return self.kernel(inputs) @ self.coef + self.offset

    def contributions(self, inputs: pd.DataFrame) -> pd.DataFrame | None:
        return None

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, folder / MODEL_FILE)


@DESIGNS.register("kernel")
class KernelRidge:
    defaults: ClassVar[dict[str, Any]] = {"ridge": 1.0, "embeddings": False}
    grid: ClassVar[tuple[dict[str, Any], ...]] = tuple(
        {"ridge": ridge, "embeddings": emb} for ridge in (1.0, 10.0) for emb in (False, True)
    )

    def fit(self, table: pd.DataFrame, settings: Any, params: dict[str, Any], folder: Path) -> _Fitted:
        # The hand-written interaction terms (``*_x_*``) are left out: the kernel makes its own.
        columns = [c for c in feature_columns(table, params["embeddings"]) if "_x_" not in c and c != "alpha"]
        config = _encoder([c for c in columns if is_config_column(c)], table)
        context = _encoder([c for c in columns if not is_config_column(c)], table)
        label = (table["ratio"] if settings.target == "ratio" else within_rank(table)).to_numpy(float)
        offset = float(label.mean())
        fitted = _Fitted(config, context, table, np.zeros(len(table)), offset)
        gram = fitted.kernel(table)
        fitted.coef = np.linalg.solve(gram + params["ridge"] * np.eye(len(table)), label - offset)
        return fitted

    def load(self, folder: Path, meta: dict[str, Any]) -> _Fitted:
        return joblib.load(folder / MODEL_FILE)
