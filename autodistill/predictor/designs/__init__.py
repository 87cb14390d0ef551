"""Predictor designs: how AutoDistiller's performance predictor learns, keyed by the name users type.

``--design NAME`` picks one; each is one file here plus one registry entry. All learn
from the same table (:func:`autodistill.predictor.model.model_inputs`: config columns, model
sizes, dataset features) and score candidates so that a higher score means a better
expected distillation ratio *within a setting* (one data set, student and budget); they
differ in what can depend on the data set:

* ``autogluon`` — AutoGluon-Tabular (its linear model by default), the paper's tool and
  the project's first predictor. Additive: a configuration's effect is the same on every
  data set except through five hand-written interaction terms.
* ``lgbm`` — gradient-boosted trees (LightGBM) on the within-setting rank: a split on
  a dataset feature below a split on a component is a configuration x data set
  interaction the trees find themselves.
* ``lambdarank`` — the same trees trained to order the runs of each setting (LambdaRank,
  one query per data set, student and budget), so only the order within a setting is learned.
* ``global`` — the ``lgbm`` trees shown only the configuration and the budget, nothing about
  the data set: one ranking of configurations per budget, the "one good default" hypothesis
  (Sultan et al., 2024) as a design, so nested evaluation can tell whether data set dependence
  earns its keep.
* ``kernel`` — kernel ridge regression with a product kernel, (configuration kernel) x
  (1 + RBF kernel over dataset features): a configuration's effect varies smoothly with
  how similar the new data set is to each training data set.

Each design carries a small grid of hyper-parameters that nested leave-one-dataset-out
evaluation chooses from (:mod:`autodistill.evaluation.lodo`); ``defaults`` is what a plain fit uses.
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
    categories = [c for c in frame.columns if c in CATEGORICAL_COLUMNS]
    numbers = frame.drop(columns=categories)
    loose = [c for c in numbers.columns if not pd.api.types.is_numeric_dtype(numbers[c])]
    numbers[loose] = numbers[loose].apply(pd.to_numeric)
    # one block rather than column by column: tables carry a hundred embedding columns
    block = pd.DataFrame(numbers.to_numpy(dtype=float), index=frame.index, columns=numbers.columns)
    return pd.concat([block, frame[categories].astype(str)], axis=1)[list(frame.columns)]


def is_config_column(column: str) -> bool:
    return column.startswith(CONFIG_PREFIXES)


#: The budget a run trained under, as model columns (NaN where unknown: the authors' runs), so that
#: what the predictor learns at the cheap study budget is told apart from the realistic one.
BUDGET_INPUTS = ("log_train_examples", "epochs", "max_length")
#: What makes runs comparable: one data set, one teacher and student, one budget. A recommendation
#: orders configurations inside such a setting; across settings the ratio mostly measures the budget
#: (a 24-step run against a plateaued one) or the student, not the configuration.
SETTING_COLUMNS = (
    "dataset", "teacher_log_params", "student_log_params", "student_layers", "student_pretrained", *BUDGET_INPUTS,
)  # fmt: skip


def setting_key(table: pd.DataFrame) -> pd.Series:
    """One label per setting (:data:`SETTING_COLUMNS`; a column a table lacks or leaves empty counts as one value)."""
    present = [c for c in SETTING_COLUMNS if c in table]
    return table[present].astype(str).agg("|".join, axis=1)


def within_rank(table: pd.DataFrame) -> pd.Series:
    """Each run's mid-percentile rank of ratio within its setting (:func:`setting_key`), in (0, 1):
    only the order of configurations within a setting matters for a recommendation, and data sets,
    budgets and students differ wildly in ratio level. A run alone in its setting gets 0.5 (no order)."""
    grouped = table.groupby(setting_key(table))["ratio"]
    return (grouped.rank() - 0.5) / grouped.transform("size")


#: A setting needs this many runs for its Spearman to order anything (two runs give only +-1).
MIN_SETTING_RUNS = 3


def setting_spearman(inputs: pd.DataFrame, predicted: np.ndarray, actual: np.ndarray) -> float:
    """Spearman of predicted against actual within each setting of ``inputs`` (:func:`setting_key`),
    averaged with weights by runs; settings of fewer than :data:`MIN_SETTING_RUNS` runs are left
    out, and so are settings whose runs all scored the same. A predictor is asked to order
    configurations within one setting, so pooling a data set's budgets would also score how well
    it tells a 24-step run from a plateaued one. NaN when no setting qualifies."""
    from scipy import stats

    frame = pd.DataFrame({"key": setting_key(inputs).to_numpy(), "p": predicted, "a": actual})
    rhos, weights = [], []
    for _, group in frame.groupby("key"):
        if len(group) < MIN_SETTING_RUNS or group["a"].nunique() < 2:
            continue
        constant = group["p"].nunique() < 2  # a constant prediction orders nothing
        rhos.append(0.0 if constant else stats.spearmanr(group["p"], group["a"]).statistic)
        weights.append(len(group))
    return float(np.average(rhos, weights=weights)) if rhos else float("nan")


from autodistill.predictor.designs import autogluon, kernel, trees  # noqa: E402,F401  (each registers itself)
