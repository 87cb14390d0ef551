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
    """The task types, each with its prose name (cards, messages) and its headline metric, as the
    Distiller paper reports them. What a task type does lives in its module of :mod:`engine.tasks`."""

    CLASSIFICATION = "classification", "classification", "accuracy"
    REGRESSION = "regression", "regression", "spearman"
    SPAN = "span", "span extraction", "f1"
    TOKEN = "token", "token classification", "accuracy"  # share of words tagged right, as POS taggers report

    human_name: str
    default_metric: str

    def __new__(cls, value: str, human_name: str, default_metric: str) -> TaskType:
        member = str.__new__(cls, value)
        member._value_ = value
        member.human_name = human_name
        member.default_metric = default_metric
        return member


#: Headline metric per task type.
DEFAULT_METRIC = {task_type: task_type.default_metric for task_type in TaskType}


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
        """Output width of the head: one per class or tag (1 for task types without label names)."""
        return len(self.label_names) or 1

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
