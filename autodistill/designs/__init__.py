"""Predictor designs: how AutoDistiller's performance predictor learns, keyed by the name users type.

``--design NAME`` picks one; each is one file here plus one registry entry. All learn
from the same table (:func:`autodistill.predictor.model_inputs`: config columns, model
sizes, dataset features) and score candidates so that a higher score means a better
expected distillation ratio *within a data set*; they differ in what can depend on the
data set:

* ``autogluon`` — AutoGluon-Tabular (its linear model by default), the paper's tool and
  the project's first predictor. Additive: a configuration's effect is the same on every
  data set except through five hand-written interaction terms.
* ``lgbm`` — gradient-boosted trees (LightGBM) on the within-data-set rank: a split on
  a dataset feature below a split on a component is a configuration x data set
  interaction the trees find themselves.
* ``lambdarank`` — the same trees trained to order the runs of each data set
  (LambdaRank, one query per data set), so only within-data-set order is learned.
* ``kernel`` — kernel ridge regression with a product kernel, (configuration kernel) x
  (1 + RBF kernel over dataset features): a configuration's effect varies smoothly with
  how similar the new data set is to each training data set.

Each design carries a small grid of hyper-parameters that nested leave-one-dataset-out
evaluation chooses from (:mod:`autodistill.evaluate`); ``defaults`` is what a plain fit uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd

from engine import Registry

#: Columns that describe the run's configuration (the four components and their knobs);
#: every other model input describes the data set, the teacher or the student.
CONFIG_PREFIXES = ("inter_", "alpha", "mapping", "pred_loss", "mixup", "n_text_aug", "aug_p", "repeated_aug", "pos_")
#: The model inputs that are categories; every other one is a number (possibly missing).
CATEGORICAL_COLUMNS = ("inter_loss", "inter_level", "mapping", "pred_loss", "task_kind")
#: The dataset embeddings (100 columns): with 7-8 training data sets they can act as data set ids.
EMBEDDING_PREFIXES = ("ctx_", "task_")


class Fitted(Protocol):
    """A trained design: scores rows of model inputs and saves itself into a folder."""

    def predict(self, inputs: pd.DataFrame) -> np.ndarray: ...

    def contributions(self, inputs: pd.DataFrame) -> pd.DataFrame | None:
        """Per-column additive contributions to each row's score, or None where the design has none."""
        ...

    def save(self, folder: Path) -> None: ...


class Design(Protocol):
    """How a predictor is trained; ``grid`` lists the hyper-parameter choices nested evaluation tries."""

    defaults: ClassVar[dict[str, Any]]
    grid: ClassVar[tuple[dict[str, Any], ...]]

    def fit(self, table: pd.DataFrame, settings: Any, params: dict[str, Any], folder: Path) -> Fitted:
        """Train on rows of model inputs (with ``dataset`` and ``ratio``); ``folder`` is the scratch
        folder the predictor is saved into (a design that writes while fitting uses it)."""
        ...

    def load(self, folder: Path, meta: dict[str, Any]) -> Fitted: ...


DESIGNS: Registry[type[Design]] = Registry("predictor design")


def feature_columns(table: pd.DataFrame, embeddings: bool = True) -> list[str]:
    """The columns a design learns from: all but the data set's name and the run's outcome."""
    columns = [c for c in table.columns if c not in ("dataset", "ratio")]
    return columns if embeddings else [c for c in columns if not c.startswith(EMBEDDING_PREFIXES)]


def numbers_and_categories(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers as floats (a feature missing for every row, e.g. an unknown baseline score, arrives
    as objects) and categories as strings; the learners see nothing else."""
    return frame.apply(lambda c: c.astype(str) if c.name in CATEGORICAL_COLUMNS else pd.to_numeric(c).astype(float))


def is_config_column(column: str) -> bool:
    return column.startswith(CONFIG_PREFIXES)


def within_rank(table: pd.DataFrame) -> pd.Series:
    """Each run's percentile rank of ratio within its data set: only the order within a data set
    matters for a recommendation, and data sets differ wildly in ratio level and spread."""
    return table.groupby("dataset")["ratio"].rank(pct=True)


from autodistill.designs import autogluon, kernel, trees  # noqa: E402,F401  (each registers itself)
