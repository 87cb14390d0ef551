"""Regression: one real value per text (or text pair).

Models train on standardized targets (a raw target such as a year, ~2000, would leave a
freshly initialised head thousands of units off and the loss in the millions) and
predictions are mapped back; scored with Pearson and Spearman correlation, as GLUE's STS-B.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from engine.errors import AutodistillError
from engine.tasks.encoding import EncodedSplit, EncodeSettings, encode_texts
from engine.tasks.head import LABEL_NAMES, TaskHead, Where, architectures, reads_as_target, register, row_place

if TYPE_CHECKING:
    from torch import Tensor

    from engine.models.batch import Batch
    from engine.tasks.spec import TaskSpec


def quantile_bins(values: Sequence[float], n_bins: int = 10) -> np.ndarray:
    """Bin a numeric target by rank so that a regression split can be stratified like labels."""
    values = np.asarray(values, dtype=float)
    ranks = np.empty(len(values), dtype=int)
    ranks[np.argsort(values, kind="stable")] = np.arange(len(values))
    return ranks * n_bins // max(len(values), 1)


def regression_metrics(preds: Sequence[float], labels: Sequence[float]) -> dict[str, float]:
    from scipy import stats

    preds_a = np.asarray(preds, dtype=float)
    labels_a = np.asarray(labels, dtype=float)
    if np.std(preds_a) == 0 or np.std(labels_a) == 0:
        # Correlation is undefined for a constant prediction; a constant predictor has
        # no ranking skill, so score it 0 rather than NaN (NaN would poison averages).
        pearson = spearman = 0.0
    else:
        pearson = float(stats.pearsonr(preds_a, labels_a)[0])
        spearman = float(stats.spearmanr(preds_a, labels_a)[0])
    return {
        "pearson": pearson,
        "spearman": spearman,
        "mse": float(np.mean((preds_a - labels_a) ** 2)),
    }


def _targets(cells: pd.Series, column: str, where: Where) -> pd.Series:
    """Regression targets as float; a cell that is no number is an error naming it and its row."""
    numbers = pd.to_numeric(cells, errors="coerce")
    if numbers.isna().any():
        row = numbers.isna().idxmax()
        raise AutodistillError(f"regression target column {column!r} is not numeric: {cells[row]!r} ({where(row)})")
    return numbers.astype("float64")


@register("regression")
class RegressionHead(TaskHead):
    """One real value per text; trained on standardized targets, decoded back to their units."""

    human_name = "regression"
    default_metric = "spearman"
    natural_loss = "mse"
    real_valued = True
    class_probabilities = False
    usual_names: ClassVar[Mapping[str, tuple[str, ...]]] = {"label": LABEL_NAMES}
    metric_names = ("pearson", "spearman", "mse")
    inference_rank = 2

    def recognises(self, frame: pd.DataFrame, columns: Mapping[str, str]) -> bool:
        return "label" in columns and reads_as_target(frame[columns["label"]].dropna())

    def number_labels(
        self, frames: dict[str, pd.DataFrame], column: str, origin: str, hub_names: Sequence[str] | None
    ) -> tuple[dict[str, pd.DataFrame], tuple[str, ...], dict[str, int]]:
        """Targets as float; a non-number is an error naming it, a constant target one too."""
        for split, part in frames.items():
            frames[split] = part.assign(label=_targets(part["label"], column, partial(row_place, split, origin=origin)))
        if pd.concat([f["label"] for f in frames.values()]).nunique() < 2:
            raise AutodistillError(f"regression target column {column!r} of {origin} is constant")
        return frames, (), {}

    def label_ids(self, frame: pd.DataFrame, spec: TaskSpec) -> pd.DataFrame:
        return frame.assign(label=frame["label"].astype("float64"))

    def strata(self, frame: pd.DataFrame) -> np.ndarray:
        """The target's decile, so that every split spans the target's range."""
        return quantile_bins(frame["label"].to_numpy())

    def summary(self, splits: Mapping[str, pd.DataFrame], spec: TaskSpec) -> dict[str, dict]:
        return {
            "target": {
                name: {
                    "min": float(part["label"].min()),
                    "mean": round(float(part["label"].mean()), 2),
                    "max": float(part["label"].max()),
                }
                for name, part in splits.items()
            }
        }

    def classes_present(self, frame: pd.DataFrame) -> None:
        return None

    def metric_choices(self, spec: TaskSpec) -> tuple[str, ...]:
        """Not MSE: lower is better."""
        return tuple(metric for metric in self.metric_names if metric != "mse")

    def fit_spec(self, spec: TaskSpec, train: pd.DataFrame) -> TaskSpec:
        """The training targets' (mean, std), which the model's outputs are standardized by."""
        labels = train["label"].astype(float)
        std = float(labels.std(ddof=0))
        return dataclasses.replace(spec, label_scale=(float(labels.mean()), std if std > 0 else 1.0))

    def encode(self, frame: pd.DataFrame, spec: TaskSpec, how: EncodeSettings) -> EncodedSplit:
        return encode_texts(frame, how, paired=spec.paired, label_dtype=np.float32)

    def head_kwargs(self, spec: TaskSpec) -> dict[str, Any]:
        return {"num_labels": 1, "problem_type": "regression"}

    def label_space(self, spec: TaskSpec) -> str:
        return "regression"

    def fitted(self, config: Any, labels: tuple[str, ...]) -> str | None:
        if "SequenceClassification" not in architectures(config):
            return None
        regression = getattr(config, "problem_type", None) == "regression" or config.num_labels == 1
        return "regression" if regression else None

    def label_view(
        self, logits: list[Tensor], targets: Tensor, spec: TaskSpec, batch: Batch
    ) -> tuple[list[Tensor], list[Tensor], Tensor | None]:
        mean, std = spec.label_scale or (0.0, 1.0)
        return logits, [(targets.float().reshape(-1) - mean) / std], None

    def soft_targets(self, labels: Tensor, spec: TaskSpec, width: int) -> Tensor:
        return labels.float().reshape(-1)

    def empty_labels(self) -> Tensor:
        import torch

        return torch.zeros((0,), dtype=torch.float32)

    def decode(self, logits: list[Tensor], spec: TaskSpec, split: EncodedSplit, indices: list[int]) -> list:
        mean, std = spec.label_scale or (0.0, 1.0)
        return (logits[0][:, 0].float().cpu() * std + mean).tolist()

    def metrics(self, preds: Sequence, labels: Sequence, names: Sequence[str] = ()) -> dict[str, float]:
        return regression_metrics(preds, labels)

    def blank_labels(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(label=0.0)

    def named(self, preds: list, spec: TaskSpec) -> list:
        return preds

    def references(
        self, cells: pd.Series, inputs: pd.DataFrame, preds: list, spec: TaskSpec, where: Where
    ) -> tuple[list, set[str]]:
        return _targets(cells, str(cells.name), where).tolist(), set()
