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
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from engine.tasks.spec import TaskSpec

SPLITS = ("train", "dev", "test")


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
