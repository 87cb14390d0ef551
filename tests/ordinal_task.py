"""A task type that is not built in, in one module: ordinal grading.

Grades are classes with an order ("low" < "mid" < "high"), so a prediction one grade off is
half right. Everything else a classifier does (columns, encoding, the softmax head, the
losses) is inherited; what differs is declared here, and the registration below is all
the engine and the meta layer need to run, featurize and report it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from engine.tasks.classification import ClassificationHead
from engine.tasks.head import register

if TYPE_CHECKING:
    from engine.tasks.spec import TaskSpec


@register("ordinal")
class OrdinalHead(ClassificationHead):
    """Ordered grades: scored by the share of predictions at most one grade off, and exactly right."""

    human_name = "ordinal grading"
    default_metric = "within_one"
    metric_names = ("within_one", "accuracy")
    inference_rank = 4

    def recognises(self, frame, columns) -> bool:
        return False  # never guessed from the columns: a user asks for it by name

    def kind(self, spec: TaskSpec) -> str:
        return self.name

    def metrics(self, preds: Sequence, labels: Sequence, names: Sequence[str] = ()) -> dict[str, float]:
        off = np.abs(np.asarray(preds) - np.asarray(labels))
        return {"within_one": float(np.mean(off <= 1)), "accuracy": float(np.mean(off == 0))}

    def example_parts(self, preds: Sequence, labels: Sequence) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        off = np.abs(np.asarray(preds) - np.asarray(labels))
        ones = np.ones(len(off))
        return {"within_one": ((off <= 1).astype(float), ones), "accuracy": ((off == 0).astype(float), ones)}
