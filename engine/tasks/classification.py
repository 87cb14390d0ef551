"""Classification: one label per text or text pair (softmax over C classes).

Class names are numbered in sorted order (or taken from a hub data set's own names);
scored with accuracy, macro-F1 and Matthews correlation, as GLUE reports them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from engine.errors import AutodistillError
from engine.tasks.encoding import EncodedSplit, EncodeSettings, encode_texts
from engine.tasks.head import LABEL_NAMES, TaskHead, architectures, is_continuous, register, written_value

if TYPE_CHECKING:
    from engine.tasks.spec import TaskSpec


def classification_metrics(preds: Sequence[int], labels: Sequence[int]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    preds_a, labels_a = np.asarray(preds), np.asarray(labels)
    return {
        "accuracy": float(accuracy_score(labels_a, preds_a)),
        "f1": float(f1_score(labels_a, preds_a, average="macro", zero_division=0)),
        "mcc": float(matthews_corrcoef(labels_a, preds_a)),
    }


def _class_ids(frames: dict[str, pd.DataFrame], names: Sequence[str] | None, origin: str, column: str) -> list[str]:
    """Encode labels in place as ids of the sorted class names (or the hub's own names)."""
    if names is not None:  # hub ClassLabel: already ids; -1 marks an unlabelled (hidden test) row
        for split, part in frames.items():
            frames[split] = part[part["label"] >= 0].reset_index(drop=True)
        return list(names)
    labels = pd.concat([part["label"] for part in frames.values()])
    if (listed := _label_list(labels)) is not None:
        raise AutodistillError(
            f"label column {column!r} of {origin} holds a list of labels per row (multi-label, e.g. {listed}); "
            "a classification task takes one label per row: keep one, or make a yes/no file per label"
        )
    if is_continuous(labels):
        example = labels[labels != labels.round()].iloc[0]
        raise AutodistillError(
            f"label column {column!r} of {origin} holds continuous values (e.g. {example}); use task_type='regression'"
        )
    numeric = pd.api.types.is_numeric_dtype(labels) and not pd.api.types.is_bool_dtype(labels)
    values = sorted(set(labels.astype("int64") if numeric else labels.astype(str)))
    ids = {value: i for i, value in enumerate(values)}
    for split, part in frames.items():
        key = part["label"].astype("int64") if numeric else part["label"].astype(str)
        frames[split] = part.assign(label=key.map(ids).astype("int64"))
    return [str(v) for v in values]


def _label_list(labels: pd.Series) -> object | None:
    """A label cell holding a list of labels (multi-label data: a list, or every cell a list written
    as text, ``["a", "b"]``), which would silently make each combination of labels a class; None
    where labels come one per row (a class named ``[POS]`` among them: it reads as no list)."""
    lists = labels[labels.map(lambda value: isinstance(value, list | tuple | np.ndarray))]
    if len(lists):
        return list(lists.iloc[0])
    written = len(labels) > 0 and all(isinstance(value, str) and _reads_as_list(value) for value in labels)
    return labels.iloc[0] if written else None


def _reads_as_list(text: str) -> bool:
    """Whether ``text`` is a list written out, as JSON or as Python writes one (:func:`written_value`)."""
    return text.lstrip().startswith("[") and isinstance(written_value(text), list)


#: A class needs this many examples to reach dev and test when a lone file is split (engine.data.splits).
_SPLITTABLE = 3
#: This many distinct labels or fewer are never refused as rare: a small file is told it is too small instead.
_MANY = 20


def _check_label_counts(labels: pd.Series, column: str, origin: str) -> None:
    """Refuse a label column whose rows mostly carry a label too rare to split or learn: an id, a
    free-text column or a list read as text, named (or found) as the label by mistake."""
    counts = labels.map(labels.value_counts())
    if labels.nunique() > _MANY and (counts < _SPLITTABLE).mean() > 0.5:
        raise AutodistillError(
            f"label column {column!r} of {origin} has {labels.nunique():,} distinct values among {len(labels):,} rows, "
            f"most of them on fewer than {_SPLITTABLE} rows: too rare to split or learn; is it the label? "
            "(--label-col names another; --task-type regression for a numeric target)"
        )


@register("classification")
class ClassificationHead(TaskHead):
    """One label per text or text pair (softmax over C classes)."""

    human_name = "classification"
    default_metric = "accuracy"
    usual_names: ClassVar[Mapping[str, tuple[str, ...]]] = {"label": LABEL_NAMES}
    metric_names = ("accuracy", "f1", "mcc")
    inference_rank = 3

    def kind(self, spec: TaskSpec) -> str:
        return "pair-classification" if spec.paired else "classification"

    def kinds(self) -> tuple[str, ...]:
        return ("classification", "pair-classification")

    def recognises(self, frame: pd.DataFrame, columns: Mapping[str, str]) -> bool:
        return "label" in columns

    def number_labels(
        self, frames: dict[str, pd.DataFrame], column: str, origin: str, hub_names: Sequence[str] | None
    ) -> tuple[dict[str, pd.DataFrame], tuple[str, ...], dict[str, int]]:
        """Class ids and names; splits left with no labelled row (hidden hub test sets) are removed."""
        labelled = sum(map(len, frames.values()))
        names = tuple(_class_ids(frames, hub_names, origin, column))
        dropped = {"unlabelled_dropped": labelled - sum(map(len, frames.values()))}
        frames = {split: part for split, part in frames.items() if len(part)}
        present = sorted(set(pd.concat([f["label"] for f in frames.values()]))) if frames else []
        if len(present) < 2:
            only = repr(names[present[0]]) if present else "none"
            raise AutodistillError(
                f"classification needs at least 2 distinct labels; label column {column!r} of {origin} "
                f"has {len(present)} ({only})"
            )
        _check_label_counts(pd.concat([f["label"] for f in frames.values()]), column, origin)
        return frames, names, dropped

    def encode(self, frame: pd.DataFrame, spec: TaskSpec, how: EncodeSettings) -> EncodedSplit:
        return encode_texts(frame, how, paired=spec.paired, label_dtype=np.int64)

    def fitted(self, config: Any, labels: tuple[str, ...]) -> tuple[str, ...] | None:
        if "SequenceClassification" not in architectures(config):
            return None
        regression = getattr(config, "problem_type", None) == "regression" or config.num_labels == 1
        return None if regression else labels

    def metrics(self, preds: Sequence, labels: Sequence, names: Sequence[str] = ()) -> dict[str, float]:
        return classification_metrics(preds, labels)

    def example_parts(self, preds: Sequence, labels: Sequence) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        right = (np.asarray(preds) == np.asarray(labels)).astype(float)
        return {"accuracy": (right, np.ones_like(right))}
