"""The one in-memory shape every data set takes, whatever its source.

A catalog builder, a local CSV/JSONL/Parquet file and a Hugging Face data set all
end up as a :class:`TaskData`: a :class:`TaskSpec` plus three pandas frames with
normalised columns, so that the engine never needs to know where data came from.

Normalised columns
------------------
``text``         str, always present (the sentence; the question for span tasks).
``text_pair``    str, present for sentence-pair and span tasks (the context for span).
``label``        int class id (classification) or float target (regression).
``answer_start`` int character offset of the answer inside ``text_pair`` (span).
``answer_text``  str, the answer span itself (span).
``tokens``       list of str, the sentence's words as the source split them (token).
``tags``         list of int, one tag id per word, ids into ``TaskSpec.label_names`` (token).

Token tasks also carry ``text``: their words joined by single spaces, so that what
reads a task's text (data set features, baselines, augmentation) works unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import pandas as pd

SPLITS = ("train", "dev", "test")


class TaskType(StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"
    SPAN = "span"
    TOKEN = "token"

    @property
    def human_name(self) -> str:
        """What the task type is called in prose (cards, messages): "token classification"."""
        return _HUMAN_NAMES[self]


_HUMAN_NAMES = {
    TaskType.CLASSIFICATION: "classification",
    TaskType.REGRESSION: "regression",
    TaskType.SPAN: "span extraction",
    TaskType.TOKEN: "token classification",
}

#: Headline metric per task type, as the Distiller paper reports them.
DEFAULT_METRIC = {
    TaskType.CLASSIFICATION: "accuracy",
    TaskType.REGRESSION: "spearman",
    TaskType.SPAN: "f1",
    TaskType.TOKEN: "accuracy",  # share of words tagged right, as POS taggers are reported
}


@dataclass(frozen=True)
class TaskSpec:
    """What a data set asks of a model: enough to build heads, losses and metrics."""

    name: str
    task_type: TaskType
    description: str
    label_names: tuple[str, ...] = ()
    paired: bool = False
    metric: str = ""
    #: Regression only: (mean, std) of the training targets. Models train on standardized
    #: targets (a raw target such as a year, ~2000, would leave a freshly initialised head
    #: thousands of units off and the loss in the millions) and predictions are mapped back.
    label_scale: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not self.metric:
            object.__setattr__(self, "metric", DEFAULT_METRIC[self.task_type])

    @property
    def num_labels(self) -> int:
        """Output width of the head: one per class or tag (1 for regression and spans)."""
        if self.task_type in (TaskType.CLASSIFICATION, TaskType.TOKEN):
            return len(self.label_names)
        return 1

    @property
    def kind(self) -> str:
        """The paper's four task kinds (single/pair classification, regression, span), and token."""
        if self.task_type is TaskType.CLASSIFICATION:
            return "pair-classification" if self.paired else "classification"
        return self.task_type.value


@dataclass
class TaskData:
    """A task with its seeded train/dev/test splits."""

    spec: TaskSpec
    train: pd.DataFrame
    dev: pd.DataFrame
    test: pd.DataFrame
    extra: dict[str, object] = field(default_factory=dict)

    def split(self, name: str) -> pd.DataFrame:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; choose one of: {', '.join(SPLITS)}")
        return getattr(self, name)
